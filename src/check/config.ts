/**
 * Rule levels and ignores: `.berth-check.yaml` (or .yml) in the project directory, merged over
 * `x-berth: {check: {rules: ...}}`; and inline comments in compose files and Dockerfiles:
 *   # berth-disable-next-line RULE[, RULE]    the next line only
 *   # berth-disable RULE[, RULE]              the whole file (no rules: every rule)
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { BerthError } from '../lib/errors.js';
import type { Level } from './types.js';

export interface IgnoreEntry { rule: string; services?: string[]; files?: string[] }

export interface CheckConfig {
  rules: Record<string, Level>;
  ignore: IgnoreEntry[];
  /** Where the config came from, for messages. */
  source?: string;
}

const LEVELS = new Set(['off', 'info', 'warning', 'error']);

export function parseCheckConfig(text: string, source: string): CheckConfig {
  let raw: unknown;
  try {
    raw = parse(text) ?? {};
  } catch (error) {
    throw new BerthError(`${source}: invalid YAML: ${(error as Error).message.split('\n')[0]}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new BerthError(`${source}: expected a mapping with "rules" and "ignore"`);
  const o = raw as Record<string, unknown>;
  const rules: Record<string, Level> = {};
  for (const [id, level] of Object.entries((o.rules ?? {}) as Record<string, unknown>)) {
    const l = level === false ? 'off' : String(level);
    if (!LEVELS.has(l)) throw new BerthError(`${source}: rule "${id}": level must be off, info, warning or error (got "${String(level)}")`);
    rules[id] = l as Level;
  }
  const ignore: IgnoreEntry[] = [];
  for (const entry of (o.ignore ?? []) as unknown[]) {
    if (typeof entry === 'string') { const [rule, service] = entry.split('@'); ignore.push({ rule: rule!, services: service ? [service] : undefined }); continue; }
    const e = entry as Record<string, unknown>;
    if (!e || typeof e.rule !== 'string') throw new BerthError(`${source}: each ignore entry needs a "rule" (or is "rule@service")`);
    ignore.push({ rule: e.rule, services: toList(e.services ?? e.service), files: toList(e.files ?? e.file) });
  }
  return { rules, ignore, source };
}

const toList = (v: unknown) => (v === undefined ? undefined : Array.isArray(v) ? v.map(String) : [String(v)]);

/** Reads the config file next to the compose files, if any, and merges it over x-berth check.rules. */
export function loadCheckConfig(dir: string, xBerthRules: Record<string, Level> = {}, explicit?: string): CheckConfig {
  const candidates = explicit ? [explicit] : ['.berth-check.yaml', '.berth-check.yml'].map((n) => join(dir, n));
  for (const file of candidates) {
    if (!existsSync(file)) {
      if (explicit) throw new BerthError(`check config ${file} does not exist`);
      continue;
    }
    const config = parseCheckConfig(readFileSync(file, 'utf8'), file);
    return { ...config, rules: { ...xBerthRules, ...config.rules } };
  }
  return { rules: { ...xBerthRules }, ignore: [] };
}

/** A glob with `*` and `**` against a path (matched at the end, so relative globs work). */
export function globMatch(glob: string, path: string): boolean {
  const re = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*\*/g, '\u0000').replace(/\*/g, '[^/]*').replace(/\u0000/g, '.*').replace(/\?/g, '[^/]');
  return new RegExp(`(^|/)${re}$`).test(path);
}

export function isIgnored(config: CheckConfig, finding: { rule: string; service?: string; location?: { file: string } }): boolean {
  return config.ignore.some((e) => (e.rule === '*' || e.rule === finding.rule)
    && (!e.services || (finding.service !== undefined && e.services.includes(finding.service)))
    && (!e.files || (finding.location !== undefined && e.files.some((g) => globMatch(g, finding.location!.file)))));
}

export interface InlineDirectives {
  /** Rules disabled for the whole file; '*' for all. */
  file: Set<string>;
  /** Line (1-based) → rules disabled on it. */
  lines: Map<number, Set<string>>;
}

export function parseInlineDirectives(text: string): InlineDirectives {
  const file = new Set<string>();
  const lines = new Map<number, Set<string>>();
  text.split('\n').forEach((line, index) => {
    const m = /(?:^|\s)#\s*berth-disable(-next-line)?(?:\s+([A-Za-z0-9_,\s-]+?))?\s*(?:--.*)?$/.exec(line);
    if (!m) return;
    const rules = (m[2] ?? '').split(/[\s,]+/).filter(Boolean);
    const set = rules.length ? rules : ['*'];
    if (m[1]) {
      // Next non-comment line: that is where the finding points.
      const all = text.split('\n');
      let next = index + 1;
      while (next < all.length && /^\s*(#.*)?$/.test(all[next]!)) next++;
      const target = lines.get(next + 1) ?? new Set<string>();
      for (const r of set) target.add(r);
      lines.set(next + 1, target);
    } else for (const r of set) file.add(r);
  });
  return { file, lines };
}

export function isDisabledInline(d: InlineDirectives, rule: string, line: number | undefined): boolean {
  if (d.file.has('*') || d.file.has(rule)) return true;
  if (line === undefined) return false;
  const set = d.lines.get(line);
  return set !== undefined && (set.has('*') || set.has(rule));
}
