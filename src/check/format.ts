/** Renders findings: stylish text, json, SARIF 2.1.0 (with fixes), GitHub annotations, JUnit XML. */
import { relative } from 'node:path';
import type { Painter } from '../cli/output.js';
import { allRules } from './run.js';
import type { Finding, Rule, Severity } from './types.js';

export type Format = 'stylish' | 'json' | 'sarif' | 'github' | 'junit';
export const FORMATS: Format[] = ['stylish', 'json', 'sarif', 'github', 'junit'];

/** Rule docs live in the repository; URIs are relative to its root. */
export const DOCS_BASE = 'docs/rules/README.md';
export const ruleDocUrl = (id: string) => `${DOCS_BASE}#${id}`;
/** SARIF wants absolute URIs: the rules reference installed with berth (package.json files: docs). */
export const DOCS_URL = new URL('../../docs/rules/README.md', import.meta.url).href;

/** A text edit for a fix, as SARIF and JSON carry it (computed by the fix planner). */
export interface RenderedFix { file: string; edits: Array<{ start: { line: number; column: number }; end: { line: number; column: number }; text: string }> }

export interface RenderInput {
  findings: Finding[];
  /** Base directory for relative paths. */
  cwd: string;
  /** Fixes per finding index, when --fix could plan them. */
  fixes?: Map<number, RenderedFix>;
  rulesRun?: number;
  durationMs?: number;
  /** What could not be checked or fixed (unreadable Dockerfiles, refused fixes). */
  notes?: string[];
}

const rel = (cwd: string, file: string) => {
  const r = relative(cwd, file);
  return r.startsWith('..') ? file : r;
};

export function render(format: Format, input: RenderInput, paint?: Painter): string {
  switch (format) {
    case 'stylish': return stylish(input, paint);
    case 'json': return JSON.stringify(jsonReport(input), null, 2);
    case 'sarif': return JSON.stringify(sarif(input), null, 2);
    case 'github': return github(input);
    case 'junit': return junit(input);
  }
}

const plain: Painter = { green: (s) => s, red: (s) => s, yellow: (s) => s, dim: (s) => s, bold: (s) => s };

/** The terminal width stylish output fits. */
export const STYLISH_WIDTH = 100;

/** Splits text into lines of at most `width` characters, at spaces (a longer word stays whole). */
export function wrap(text: string, width: number): string[] {
  const out: string[] = [];
  let line = '';
  for (const word of text.split(' ')) {
    if (line && line.length + 1 + word.length > width) {
      out.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  out.push(line);
  return out;
}

export function stylish({ findings, cwd }: RenderInput, paint: Painter = plain): string {
  const lines: string[] = [];
  const byFile = new Map<string, Finding[]>();
  for (const f of findings) {
    const key = f.location ? rel(cwd, f.location.file) : '(project)';
    byFile.set(key, [...(byFile.get(key) ?? []), f]);
  }
  const color = (s: Severity, text: string) => (s === 'error' ? paint.red(text) : s === 'warning' ? paint.yellow(text) : paint.dim(text));
  for (const [file, list] of byFile) {
    lines.push(paint.bold(file));
    const rows = list.map((f) => [`  ${f.location?.line ?? 0}:${f.location?.column ?? 0}`, f.severity, f.message, `${f.rule}${f.fix ? ' (fixable)' : ''}`]);
    const w0 = Math.max(...rows.map((r) => r[0]!.length));
    const w1 = Math.max(...rows.map((r) => r[1]!.length));
    const w3 = Math.max(...rows.map((r) => r[3]!.length));
    // Lines fit STYLISH_WIDTH columns: a long message wraps under itself, the rule stays on its first line.
    const w2 = Math.min(Math.max(...rows.map((r) => r[2]!.length)), Math.max(30, STYLISH_WIDTH - (w0 + 2 + w1 + 2) - 2 - w3));
    list.forEach((f, i) => {
      const [pos, sev, msg, rule] = rows[i]!;
      const [first, ...rest] = wrap(msg!, w2);
      lines.push(`${paint.dim(pos!.padEnd(w0))}  ${color(f.severity, sev!.padEnd(w1))}  ${first!.padEnd(w2)}  ${paint.dim(rule!)}`);
      for (const more of rest) lines.push(`${' '.repeat(w0 + 2 + w1 + 2)}${more}`);
    });
    lines.push('');
  }
  const count = (s: Severity) => findings.filter((f) => f.severity === s).length;
  const summary = `${findings.length} finding${findings.length === 1 ? '' : 's'} (${count('error')} errors, ${count('warning')} warnings, ${count('info')} info)`;
  const fixable = findings.filter((f) => f.fix).length;
  lines.push(findings.length === 0 ? paint.green('✓ no findings') : `${count('error') ? paint.red('✗') : paint.yellow('!')} ${summary}${fixable ? paint.dim(`; ${fixable} fixable with --fix`) : ''}`);
  return lines.join('\n');
}

export function jsonReport({ findings, cwd, fixes, rulesRun, durationMs, notes = [] }: RenderInput) {
  return {
    findings: findings.map((f, i) => ({
      rule: f.rule, family: f.family, severity: f.severity, message: f.message,
      file: f.location ? rel(cwd, f.location.file) : undefined, line: f.location?.line, column: f.location?.column,
      service: f.service, path: f.path, docs: ruleDocUrl(f.rule), fixable: f.fix !== undefined, fix: fixes?.get(i),
    })),
    summary: { total: findings.length, error: findings.filter((f) => f.severity === 'error').length, warning: findings.filter((f) => f.severity === 'warning').length, info: findings.filter((f) => f.severity === 'info').length, rulesRun, durationMs },
    notes,
  };
}

const sarifLevel = (s: Severity) => (s === 'error' ? 'error' : s === 'warning' ? 'warning' : 'note');

export function sarif({ findings, cwd, fixes, notes = [] }: RenderInput) {
  const used = [...new Set(findings.map((f) => f.rule))];
  const rules = allRules.filter((r) => used.includes(r.id));
  const index = new Map(rules.map((r, i) => [r.id, i]));
  return {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0',
    runs: [{
      tool: { driver: { name: 'berth check', informationUri: DOCS_URL, rules: rules.map(sarifRule) } },
      originalUriBaseIds: { SRCROOT: { uri: `file://${cwd.endsWith('/') ? cwd : `${cwd}/`}` } },
      invocations: [{ executionSuccessful: true, toolExecutionNotifications: notes.map((text) => ({ level: 'note', message: { text } })) }],
      results: findings.map((f, i) => {
        const fix = fixes?.get(i);
        return {
          ruleId: f.rule,
          ruleIndex: index.get(f.rule),
          level: sarifLevel(f.severity),
          message: { text: f.message },
          locations: f.location ? [{ physicalLocation: { artifactLocation: { uri: rel(cwd, f.location.file), uriBaseId: 'SRCROOT' }, region: { startLine: f.location.line, startColumn: f.location.column } } }] : [],
          ...(fix ? { fixes: [{ description: { text: `berth check --fix: ${f.rule}` }, artifactChanges: [{ artifactLocation: { uri: rel(cwd, fix.file), uriBaseId: 'SRCROOT' }, replacements: fix.edits.map((e) => ({ deletedRegion: { startLine: e.start.line, startColumn: e.start.column, endLine: e.end.line, endColumn: e.end.column }, insertedContent: { text: e.text } })) }] }] } : {}),
        };
      }),
    }],
  };
}

function sarifRule(r: Rule) {
  return {
    id: r.id,
    name: r.title,
    shortDescription: { text: r.title },
    fullDescription: { text: r.rationale },
    help: { text: r.advice, markdown: `**Why:** ${r.rationale}\n\n**Fix:** ${r.advice}` },
    helpUri: `${DOCS_URL}#${r.id}`,
    defaultConfiguration: { level: sarifLevel(r.severity) },
    properties: { tags: [r.family] },
  };
}

/** GitHub Actions workflow commands: ::error file=F,line=L,col=C,title=T::message */
export function github({ findings, cwd }: RenderInput): string {
  const esc = (s: string) => s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
  const prop = (s: string) => esc(s).replace(/:/g, '%3A').replace(/,/g, '%2C');
  return findings.map((f) => {
    const kind = f.severity === 'error' ? 'error' : f.severity === 'warning' ? 'warning' : 'notice';
    const where = f.location ? `file=${prop(rel(cwd, f.location.file))},line=${f.location.line},col=${f.location.column},` : '';
    return `::${kind} ${where}title=${prop(`berth ${f.rule}`)}::${esc(f.message)}`;
  }).join('\n');
}

export function junit({ findings, cwd }: RenderInput): string {
  const x = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
  const byFile = new Map<string, Finding[]>();
  for (const f of findings) {
    const key = f.location ? rel(cwd, f.location.file) : '(project)';
    byFile.set(key, [...(byFile.get(key) ?? []), f]);
  }
  const failures = findings.filter((f) => f.severity !== 'info').length;
  const out = ['<?xml version="1.0" encoding="UTF-8"?>', `<testsuites name="berth check" tests="${Math.max(1, findings.length)}" failures="${failures}">`];
  if (findings.length === 0) out.push('  <testsuite name="berth check" tests="1" failures="0"><testcase name="no findings" classname="berth.check"/></testsuite>');
  for (const [file, list] of byFile) {
    out.push(`  <testsuite name="${x(file)}" tests="${list.length}" failures="${list.filter((f) => f.severity !== 'info').length}">`);
    for (const f of list) {
      const name = `${f.rule} ${file}:${f.location?.line ?? 0}:${f.location?.column ?? 0}`;
      out.push(`    <testcase name="${x(name)}" classname="berth.check.${x(f.family)}">`);
      if (f.severity === 'info') out.push(`      <skipped message="${x(f.message)}"/>`);
      else out.push(`      <failure type="${f.severity}" message="${x(f.message)}">${x(`${f.message}\n${file}:${f.location?.line ?? 0}:${f.location?.column ?? 0}\n${ruleDocUrl(f.rule)}`)}</failure>`);
      out.push('    </testcase>');
    }
    out.push('  </testsuite>');
  }
  out.push('</testsuites>');
  return out.join('\n');
}
