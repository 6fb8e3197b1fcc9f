/**
 * `berth check` as a capability: lint (and optionally fix) a project, render, choose the exit code.
 * The CLI only parses flags and prints what this returns.
 */
import { writeFileSync } from 'node:fs';
import type { ComposeProject } from '../compose/types.js';
import type { Painter } from '../cli/output.js';
import { BerthError, ExitCode } from '../lib/errors.js';
import { loadCheckConfig, type CheckConfig } from './config.js';
import { editRanges, fixedFiles, planFixes, unifiedDiff, type FixPlan } from './fix.js';
import { render, type Format, type RenderedFix } from './format.js';
import { allRules, collectDockerfiles, lintProject, readTextFile, relativeTo, type LintResult, type ReadText } from './run.js';
import type { ImageConfigs } from './image-facts.js';
import { imageRefsOf, readImageConfigs } from './image-inspect.js';
import type { Engine } from '../engine/client.js';
import { suggestion } from '../lib/suggest.js';
import { SEVERITY_RANK, type Finding, type Severity } from './types.js';

export interface ComposeCheckOptions {
  format: Format;
  /** Exit 1 when a finding is at or above this severity. */
  severity: Severity;
  configFile?: string;
  only?: string[];
  /** berth check --swarm: the swarm rules run too. */
  swarm?: boolean;
  fix?: boolean;
  dryRun?: boolean;
  cwd?: string;
  read?: ReadText;
  write?: (file: string, text: string) => void;
  /** Loads the project again after --fix wrote files (validates them). */
  reload?: () => Promise<ComposeProject>;
  paint?: Painter;
  /** Local image configs (projectImages); undefined: the engine was not asked. */
  images?: ImageConfigs;
}

export interface ComposeCheckResult {
  output: string;
  exitCode: number;
  result: LintResult;
  plan?: FixPlan;
  /** Notes for stderr (refused fixes, files written). */
  notes: string[];
}

export function exitCodeFor(findings: Finding[], threshold: Severity): number {
  return findings.some((f) => SEVERITY_RANK[f.severity] >= SEVERITY_RANK[threshold]) ? ExitCode.degraded : ExitCode.ok;
}

/**
 * Rule ids in .berth-check.yaml and x-berth.check.rules must exist, as for --rule: a typo would
 * silently leave the rule at its default level. Every unknown id at once, each with its place.
 */
export function checkRuleIds(project: ComposeProject, config: CheckConfig): void {
  const known = allRules.map((r) => r.id);
  const problems: string[] = [];
  const where = (id: string) => {
    if (config.source && config.rules[id] !== project.berth.check.rules[id]) return relativeTo(process.cwd(), config.source);
    const loc = project.locate?.(['x-berth', 'check', 'rules', id]);
    return loc ? `${relativeTo(process.cwd(), loc.file)}:${loc.line}:${loc.column}` : 'x-berth.check.rules';
  };
  for (const id of Object.keys(config.rules)) if (!known.includes(id)) problems.push(`${where(id)}: unknown rule "${id}"${suggestion(id, known)}`);
  for (const entry of config.ignore) {
    if (entry.rule !== '*' && !known.includes(entry.rule)) problems.push(`${config.source ? relativeTo(process.cwd(), config.source) : 'ignore'}: ignore names unknown rule "${entry.rule}"${suggestion(entry.rule, known)}`);
  }
  if (problems.length === 1) throw new BerthError(problems[0]!, { exitCode: ExitCode.usage, hint: 'berth check rules lists them' });
  if (problems.length) throw new BerthError(`${problems.length} unknown rules:\n${problems.map((p) => `  ${p}`).join('\n')}`, { exitCode: ExitCode.usage, hint: 'berth check rules lists them' });
}

export async function checkCompose(project: ComposeProject, options: ComposeCheckOptions): Promise<ComposeCheckResult> {
  const read = options.read ?? readTextFile;
  const cwd = options.cwd ?? process.cwd();
  const config: CheckConfig = loadCheckConfig(project.workingDir, project.berth.check.rules, options.configFile);
  checkRuleIds(project, config);
  const started = performance.now();
  let result = lintProject(project, { config, read, only: options.only, images: options.images, swarm: options.swarm });
  const notes: string[] = [...result.notes];
  let plan: FixPlan | undefined;
  if (options.fix || options.dryRun) {
    plan = planFixes(project, result.findings, read);
    for (const r of plan.refused) notes.push(`not fixed: ${r.finding.rule} at ${r.finding.location ? `${relativeTo(cwd, r.finding.location.file)}:${r.finding.location.line}` : '?'}: ${r.reason}`);
    const files = fixedFiles(plan, read);
    if (options.dryRun) {
      const diffs = [...files].map(([file, { before, after }]) => unifiedDiff(relativeTo(cwd, file), before, after));
      return { output: diffs.join('\n') || '(nothing to fix)', exitCode: ExitCode.ok, result, plan, notes };
    }
    const write = options.write ?? ((file: string, text: string) => writeFileSync(file, text));
    for (const [file, { after }] of files) write(file, after);
    if (files.size) {
      notes.push(`fixed ${plan.edits.length} finding${plan.edits.length === 1 ? '' : 's'} in ${[...files.keys()].map((f) => relativeTo(cwd, f)).join(', ')}`);
      if (options.reload) {
        let fixed: ComposeProject;
        try {
          fixed = await options.reload();
        } catch (error) {
          // The fix made the project invalid: put the files back as they were.
          for (const [file, { before }] of files) write(file, before);
          throw new BerthError(`--fix produced an invalid project, files restored: ${(error as Error).message}`, { cause: error });
        }
        const overlay = new Map([...files].map(([f, v]) => [f, v.after]));
        result = lintProject(fixed, { config, read: (p) => overlay.get(p) ?? read(p), only: options.only, images: options.images, swarm: options.swarm });
      }
    }
  }
  const fixes = new Map<number, RenderedFix>();
  if (plan && !options.fix) {
    for (const [index, edits] of plan.byFinding) {
      const file = edits[0]!.file;
      const text = read(file) ?? '';
      fixes.set(index, { file, edits: edits.map((e) => editRanges(e, text)) });
    }
  } else if (!options.fix && (options.format === 'sarif' || options.format === 'json')) {
    // SARIF and JSON carry the fixes --fix would make.
    const p = planFixes(project, result.findings, read);
    for (const [index, edits] of p.byFinding) {
      const file = edits[0]!.file;
      const text = read(file) ?? '';
      fixes.set(index, { file, edits: edits.map((e) => editRanges(e, text)) });
    }
  }
  const output = render(options.format, { findings: result.findings, cwd, fixes, rulesRun: result.rulesRun, durationMs: Math.round(performance.now() - started), notes }, options.paint);
  return { output, exitCode: exitCodeFor(result.findings, options.severity), result, plan, notes };
}

/**
 * Reads the configs of the project's images from the local engine (one inspect per image). Without an engine (CI, a laptop without Docker) the lint goes on: the table of
 * popular images answers where it can, and the note says what was not checked.
 */
export async function projectImages(project: ComposeProject, connect: () => Promise<Engine>, timeoutMs = 5000): Promise<{ images?: ImageConfigs; note?: string }> {
  const refs = imageRefsOf(project, collectDockerfiles(project));
  if (refs.length === 0) return {};
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs / 1000}s`)), timeoutMs); });
  try {
    const engine = await Promise.race([connect(), timeout]);
    const lookup = await Promise.race([readImageConfigs(refs, engine), timeout]);
    return { images: lookup.configs };
  } catch (error) {
    return { note: `image facts: the engine could not be asked (${(error as Error).message.split('\n')[0]}); images are judged from berth's table where it knows them` };
  } finally {
    clearTimeout(timer);
  }
}
