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
import { lintProject, readTextFile, relativeTo, type LintResult, type ReadText } from './run.js';
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

export async function checkCompose(project: ComposeProject, options: ComposeCheckOptions): Promise<ComposeCheckResult> {
  const read = options.read ?? readTextFile;
  const cwd = options.cwd ?? process.cwd();
  const config: CheckConfig = loadCheckConfig(project.workingDir, project.berth.check.rules, options.configFile);
  const started = performance.now();
  let result = lintProject(project, { config, read, only: options.only, swarm: options.swarm });
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
        result = lintProject(fixed, { config, read: (p) => overlay.get(p) ?? read(p), only: options.only, swarm: options.swarm });
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
