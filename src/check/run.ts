/**
 * Runs the rules: finds and parses the services' Dockerfiles, applies every rule, resolves model
 * paths to file:line:column, then applies levels, ignores and inline directives.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import type { ComposeProject, ModelPath, SourceLocation } from '../compose/types.js';
import { isDisabledInline, isIgnored, parseInlineDirectives, type CheckConfig, type InlineDirectives } from './config.js';
import { parseDockerfile } from './dockerfile.js';
import { baseImageOf, factsOfImage, type ImageConfigs } from './image-facts.js';
import { imageRefsOf } from './image-inspect.js';
import { isOneOff } from './rules/util.js';
import { collectProxyConfigs } from './proxy-config.js';
import { composeRules } from './rules/compose.js';
import { dockerfileRules } from './rules/dockerfile.js';
import { swarmRules } from './rules/swarm.js';
import type { CheckContext, Finding, Rule, RuleHit, ServiceDockerfile, Severity } from './types.js';

export const allRules: Rule[] = [...composeRules, ...dockerfileRules, ...swarmRules];

export function ruleById(id: string): Rule | undefined {
  return allRules.find((r) => r.id === id);
}

/** Reads a file's text; undefined when it cannot be read. Injected so rules stay testable. */
export type ReadText = (path: string) => string | undefined;

export const readTextFile: ReadText = (path) => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
};

/** Parses the Dockerfile of every service with a local build context that we can read. */
export function collectDockerfiles(project: ComposeProject, read: ReadText = readTextFile, unread: string[] = []): Map<string, ServiceDockerfile> {
  const out = new Map<string, ServiceDockerfile>();
  for (const s of Object.values(project.services)) {
    const build = s.raw.build;
    if (build === undefined) continue;
    const b = (typeof build === 'string' ? { context: build } : build) as Record<string, unknown>;
    const context = String(b.context ?? '.');
    if (/^[a-z]+:\/\//i.test(context) || context.startsWith('git@')) { unread.push(`service "${s.name}": remote build context ${context}, Dockerfile rules skipped`); continue; }
    const contextDir = isAbsolute(context) ? context : resolve(project.workingDir, context);
    let file: string;
    let text: string | undefined;
    if (typeof b.dockerfile_inline === 'string') {
      file = join(contextDir, 'Dockerfile (inline)');
      text = b.dockerfile_inline;
    } else {
      const name = String(b.dockerfile ?? 'Dockerfile');
      file = isAbsolute(name) ? name : join(contextDir, name);
      text = read(file);
    }
    if (text === undefined) { unread.push(`service "${s.name}": cannot read ${file}, Dockerfile rules skipped`); continue; }
    const dockerfile = parseDockerfile(text);
    const targetName = typeof b.target === "string" ? b.target.toLowerCase() : undefined;
    const target = targetName ? dockerfile.stages.findIndex((st) => st.name === targetName) : -1;
    out.set(s.name, {
      service: s.name,
      file,
      dockerfile,
      stageIndex: target >= 0 ? target : dockerfile.stages.length - 1,
      readContextFile: (p) => read(resolve(contextDir, p.replace(/^\//, ''))),
    });
  }
  return out;
}

/** The location of `path`, or of its nearest ancestor that the model can locate. */
export function locatePath(project: ComposeProject, path: ModelPath): SourceLocation | undefined {
  for (let n = path.length; n > 0; n--) {
    const loc = project.locate(path.slice(0, n));
    if (loc) return loc;
  }
  return undefined;
}

export interface LintOptions {
  config?: CheckConfig;
  read?: ReadText;
  /** Only these rules (ids); default all. */
  only?: string[];
  /** Local image configs (image-inspect.ts); undefined when the engine was not asked. */
  images?: ImageConfigs;
  /** The project is deployed as a Swarm stack: the swarm rules run too. */
  swarm?: boolean;
}

export interface LintResult {
  findings: Finding[];
  /** Findings dropped by ignores and inline directives (count per rule), for honesty in reports. */
  suppressed: number;
  rulesRun: number;
  files: string[];
  /** What could not be checked (unreadable Dockerfiles, remote build contexts). */
  notes: string[];
}

/** Lints a compose project: compose rules and the Dockerfiles of its services. */
export function lintProject(project: ComposeProject, options: LintOptions = {}): LintResult {
  const read = options.read ?? readTextFile;
  const notes: string[] = [];
  const dockerfiles = collectDockerfiles(project, read, notes);
  const proxyConfigs = collectProxyConfigs(project, read, notes);
  const ctx: CheckContext = { project, dockerfiles, proxyConfigs, images: options.images, read };
  const imageNote = imageFactsNote(imageRefsOf(project, dockerfiles), options.images);
  if (imageNote) notes.push(imageNote);
  const raw: Finding[] = [];
  const active = allRules.filter((r) => (options.only ? options.only.includes(r.id) : true) && levelOf(r, options.config) !== 'off' && (r.target !== 'swarm' || options.swarm || Boolean(options.only?.includes(r.id))));
  for (const rule of active) {
    if (rule.scope !== 'compose') continue;
    for (const hit of rule.check(ctx)) {
      const location = hit.path ? locatePath(project, hit.path) : hit.location;
      if (hit.unlessComment && location && commentExcuses(read, location, hit.unlessComment)) continue;
      raw.push(toFinding(rule, hit, options.config, location));
    }
  }
  // Each Dockerfile stage once, however many services build it (build.target selects the stage judged).
  const byTarget = new Map<string, ServiceDockerfile[]>();
  for (const df of dockerfiles.values()) byTarget.set(`${df.file}\0${df.stageIndex}`, [...(byTarget.get(`${df.file}\0${df.stageIndex}`) ?? []), df]);
  const seen = new Set<string>();
  for (const users of byTarget.values()) {
    const first = users[0]!;
    const services = users.map((u) => project.services[u.service]!);
    const base = baseImageOf(first.dockerfile, first.stageIndex);
    const target = { stageIndex: first.stageIndex, base: base ? factsOfImage(base, options.images) : undefined };
    for (const rule of active) {
      if (rule.scope !== 'dockerfile') continue;
      // Compose settings that cover a Dockerfile finding for every service using it.
      if (rule.id === 'df-healthcheck' && services.every((s) => s.healthcheck || isOneOff(s, project))) continue;
      if (rule.id === 'df-user' && services.every((s) => s.raw.user !== undefined)) continue;
      for (const hit of rule.check(first.file, first.dockerfile, first.readContextFile, target)) {
        // A CMD (ENTRYPOINT) that every service replaces with its own command (entrypoint) never runs.
        const keyword = first.dockerfile.instructions.find((i) => i.line === hit.location?.line)?.keyword;
        if ((keyword === 'CMD' && services.every((s) => s.raw.command !== undefined || s.raw.entrypoint !== undefined)) || (keyword === 'ENTRYPOINT' && services.every((s) => s.raw.entrypoint !== undefined))) continue;
        const key = `${rule.id}\0${first.file}\0${hit.location?.line}`;
        if (seen.has(key)) continue;
        seen.add(key);
        raw.push(toFinding(rule, { service: users.length === 1 ? first.service : undefined, ...hit }, options.config, hit.location));
      }
    }
  }
  const files = [...new Set([...dockerfiles.values()].map((d) => d.file))];
  return { ...filterFindings(raw, options.config, read), rulesRun: active.length, files: [...project.files, ...files, ...proxyConfigs.map((c) => c.file)], notes };
}

/** One line saying where the image facts came from, and which images were not checked. */
export function imageFactsNote(refs: string[], images: ImageConfigs | undefined): string | undefined {
  if (refs.length === 0) return undefined;
  const local = refs.filter((r) => images?.get(r));
  const table = refs.filter((r) => !images?.get(r) && factsOfImage(r, undefined).checked);
  const unknown = refs.filter((r) => !local.includes(r) && !table.includes(r));
  if (images === undefined && unknown.length === 0) return undefined;
  const parts = [];
  if (images !== undefined) parts.push(`${local.length} read from the local engine`);
  if (table.length) parts.push(`${table.length} from berth's table of popular images`);
  if (unknown.length) parts.push(`not checked: ${unknown.join(', ')} (${images === undefined ? 'engine not asked' : 'not present locally'}; pull or build ${unknown.length === 1 ? 'it' : 'them'} for a precise check)`);
  return `image facts: ${parts.join(', ')}`;
}

/** A comment on the finding's line or the line above that documents the exception (e.g. "container_name is required"). */
function commentExcuses(read: ReadText, location: SourceLocation, pattern: RegExp): boolean {
  const lines = (read(location.file) ?? '').split('\n');
  return [lines[location.line - 1], lines[location.line - 2]].some((l) => l !== undefined && pattern.test(/#(.*)$/.exec(l)?.[1] ?? ''));
}



/** Lints one Dockerfile on its own (berth check dockerfile). */
export function lintDockerfile(file: string, options: LintOptions = {}): LintResult {
  const read = options.read ?? readTextFile;
  const text = read(file);
  if (text === undefined) return { findings: [], suppressed: 0, rulesRun: 0, files: [], notes: [`cannot read ${file}`] };
  const dockerfile = parseDockerfile(text);
  const dir = dirname(file);
  const active = dockerfileRules.filter((r) => (options.only ? options.only.includes(r.id) : true) && levelOf(r, options.config) !== 'off');
  const raw = active.flatMap((rule) => rule.check(file, dockerfile, (p) => read(resolve(dir, p.replace(/^\//, '')))).map((hit) => toFinding(rule, hit, options.config, hit.location)));
  return { ...filterFindings(raw, options.config, read), rulesRun: active.length, files: [file], notes: [] };
}

function levelOf(rule: Rule, config?: CheckConfig) {
  return config?.rules[rule.id] ?? rule.severity;
}

function toFinding(rule: Rule, hit: RuleHit, config: CheckConfig | undefined, location: SourceLocation | undefined): Finding {
  const level = levelOf(rule, config);
  return {
    rule: rule.id,
    family: rule.family,
    severity: (level === 'off' ? rule.severity : level) as Severity,
    message: hit.message,
    ...(location ? { location } : {}),
    ...(hit.path ? { path: hit.path } : {}),
    ...(hit.service ? { service: hit.service } : {}),
    ...(hit.fix && rule.fixable ? { fix: Array.isArray(hit.fix) ? hit.fix : [hit.fix] } : {}),
  };
}

/**
 * One finding per rule and place: services that share a node (a YAML anchor, an env_file) would
 * otherwise repeat it once per service. The first keeps its message and names the others.
 */
export function mergeSamePlace(findings: Finding[]): Finding[] {
  const byPlace = new Map<string, { first: Finding; others: string[] }>();
  const out: Finding[] = [];
  for (const f of findings) {
    if (!f.location) { out.push(f); continue; }
    const key = `${f.rule}\0${f.location.file}\0${f.location.line}\0${f.location.column}`;
    const seen = byPlace.get(key);
    if (!seen) { const entry = { first: { ...f }, others: [] }; byPlace.set(key, entry); out.push(entry.first); continue; }
    if (f.service && f.service !== seen.first.service && !seen.others.includes(f.service)) seen.others.push(f.service);
  }
  for (const { first, others } of byPlace.values()) if (others.length) first.message += `; also for ${others.map((o) => `"${o}"`).join(', ')}`;
  return out;
}

function filterFindings(raw: Finding[], config: CheckConfig | undefined, read: ReadText): { findings: Finding[]; suppressed: number } {
  const directives = new Map<string, InlineDirectives>();
  const directivesOf = (file: string) => {
    let d = directives.get(file);
    if (!d) { d = parseInlineDirectives(read(file) ?? ''); directives.set(file, d); }
    return d;
  };
  const findings = raw.filter((f) => {
    if (config && isIgnored(config, f)) return false;
    if (f.location && isDisabledInline(directivesOf(f.location.file), f.rule, f.location.line)) return false;
    return true;
  });
  const merged = mergeSamePlace(findings);
  merged.sort((a, b) => (a.location?.file ?? '').localeCompare(b.location?.file ?? '') || (a.location?.line ?? 0) - (b.location?.line ?? 0) || (a.location?.column ?? 0) - (b.location?.column ?? 0) || a.rule.localeCompare(b.rule));
  return { findings: merged, suppressed: raw.length - findings.length };
}

export function relativeTo(base: string, file: string): string {
  const r = relative(base, file);
  return r.startsWith('..') ? file : r;
}
