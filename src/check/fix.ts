/**
 * --fix: a planner turns findings' fix intents into minimal text edits (data), an executor applies
 * them. Edits are computed from the yaml CST ranges of the original text, so comments, quoting and
 * formatting elsewhere stay byte-for-byte. Refused: anchors, aliases, merge keys, flow maps and
 * `${VAR}` regions.
 */
import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, stringify, type Node, type Pair, type YAMLMap } from 'yaml';
import type { ComposeProject } from '../compose/types.js';
import { locatePath, type ReadText } from './run.js';
import type { Finding, FixIntent } from './types.js';

export interface TextEdit {
  file: string;
  /** Offsets into the original text; start === end inserts. */
  start: number;
  end: number;
  text: string;
  rule: string;
}

export interface FixPlan {
  edits: TextEdit[];
  /** Finding index → its edit(s). */
  byFinding: Map<number, TextEdit[]>;
  refused: Array<{ finding: Finding; reason: string }>;
}

class Refusal extends Error {}

/** Plans edits for every finding that carries a fix intent. Pure given `read`. */
export function planFixes(project: ComposeProject, findings: Finding[], read: ReadText): FixPlan {
  const plan: FixPlan = { edits: [], byFinding: new Map(), refused: [] };
  const docs = new Map<string, ReturnType<typeof parseDocument> | undefined>();
  findings.forEach((finding, index) => {
    if (!finding.fix?.length) return;
    const edits: TextEdit[] = [];
    try {
      for (const intent of finding.fix) {
        // The file that defines the node we change (for add-key: the map itself).
        const anchorPath = intent.kind === 'append-item' ? intent.path.slice(0, -1) : intent.path;
        const file = locatePath(project, anchorPath)?.file;
        const text = file ? read(file) : undefined;
        if (!file || text === undefined) throw new Refusal('cannot find the file that defines it');
        if (!docs.has(file)) docs.set(file, parseDocument(text, { keepSourceTokens: true }));
        const doc = docs.get(file)!;
        if (doc.errors.length) throw new Refusal(`${file} does not parse`);
        edits.push({ ...editFor(doc.contents as Node, text, intent), file, rule: finding.rule });
      }
    } catch (error) {
      if (!(error instanceof Refusal)) throw error;
      plan.refused.push({ finding, reason: error.message });
      return;
    }
    plan.edits.push(...edits);
    plan.byFinding.set(index, edits);
  });
  return plan;
}

/** Walks `path` from `root`, refusing aliases, anchors and merge keys on the way. */
function walk(root: Node, path: ReadonlyArray<string | number>): Node | undefined {
  let node: Node | undefined = root;
  for (const key of path) {
    if (!node) return undefined;
    if (isAlias(node)) throw new Refusal('uses an alias (*ref); edit it by hand');
    if (node.anchor) throw new Refusal(`is anchored (&${node.anchor}); a change would also apply where it is aliased`);
    if (isMap(node)) {
      if (node.items.some((p) => isScalar(p.key) && p.key.value === '<<')) throw new Refusal('uses a merge key (<<); edit it by hand');
      const pair: Pair | undefined = node.items.find((p) => isPair(p) && (isScalar(p.key) ? p.key.value : p.key) == key);
      node = pair?.value as Node | undefined;
    } else if (isSeq(node) && typeof key === 'number') node = node.items[key] as Node | undefined;
    else return undefined;
  }
  if (node && isAlias(node)) throw new Refusal('uses an alias (*ref); edit it by hand');
  if (node?.anchor) throw new Refusal(`is anchored (&${node.anchor}); a change would also apply where it is aliased`);
  if (node && isMap(node) && node.items.some((p) => isScalar(p.key) && p.key.value === '<<')) throw new Refusal('uses a merge key (<<); edit it by hand');
  return node;
}

const lineStart = (text: string, offset: number) => text.lastIndexOf('\n', offset - 1) + 1;

/** Column (0-based) of the first key of a block map: the indentation new keys get. */
function mapIndent(map: YAMLMap, text: string): number {
  const first = map.items[0]?.key as Node | undefined;
  const offset = first?.range?.[0] ?? map.range![0];
  return offset - lineStart(text, offset);
}

/** Offset just after the last line of a block collection (where a new entry goes). */
function afterLastLine(node: Node, text: string): { offset: number; needsNewline: boolean } {
  const end = node.range![1];
  if (text[end - 1] === '\n') return { offset: end, needsNewline: false };
  const nl = text.indexOf('\n', end);
  return nl < 0 ? { offset: text.length, needsNewline: true } : { offset: nl + 1, needsNewline: false };
}

/** The indentation unit of the file (2 if unknown): the indent of the first nested key. */
function indentUnit(text: string): number {
  const m = /^[^\s#][^\n]*:\s*\n( +)\S/m.exec(text);
  return m ? m[1]!.length : 2;
}

function yamlValue(value: unknown, indent: number, unit: number): string {
  if (value !== null && typeof value === 'object') {
    const body = stringify(value, { indent: unit, lineWidth: 0 }).trimEnd().split('\n').map((l) => ' '.repeat(indent + unit) + l).join('\n');
    return `\n${body}`;
  }
  return ` ${stringify(value, { lineWidth: 0 }).trimEnd()}`;
}

function editFor(root: Node, text: string, intent: FixIntent): { start: number; end: number; text: string } {
  switch (intent.kind) {
    case 'replace-scalar': {
      const node = walk(root, intent.path);
      if (!node || !isScalar(node) || !node.range) throw new Refusal('the value is not a plain scalar');
      const source = text.slice(node.range[0], node.range[1]);
      if (source.includes('$')) throw new Refusal('the value uses ${VAR} interpolation; edit it by hand');
      const replacement = stringify(intent.value, { lineWidth: 0 }).trimEnd();
      const quoted = /^["']/.test(source) && typeof intent.value === 'string' ? `${source[0]}${intent.value}${source[0]}` : replacement;
      return { start: node.range[0], end: node.range[1], text: quoted };
    }
    case 'add-key': {
      const map = walk(root, intent.path);
      if (!map || !isMap(map) || !map.range) throw new Refusal('the parent is not a mapping');
      if (map.flow) throw new Refusal('the mapping is in flow style ({...}); edit it by hand');
      if (map.items.some((p) => isScalar(p.key) && p.key.value === intent.key)) throw new Refusal(`${intent.key} is already set`);
      const indent = mapIndent(map, text);
      const at = afterLastLine(map, text);
      return { start: at.offset, end: at.offset, text: `${at.needsNewline ? '\n' : ''}${' '.repeat(indent)}${intent.key}:${yamlValue(intent.value, indent, indentUnit(text))}\n` };
    }
    case 'append-item': {
      const parentPath = intent.path.slice(0, -1);
      const key = String(intent.path[intent.path.length - 1]);
      const seq = walk(root, intent.path);
      const item = stringify(intent.value, { lineWidth: 0 }).trimEnd();
      if (seq === undefined || (isScalar(seq) && seq.value === null)) return editFor(root, text, { kind: 'add-key', path: parentPath, key, value: [intent.value] });
      if (!isSeq(seq) || !seq.range) throw new Refusal(`${key} is not a list`);
      if (seq.flow) {
        const last = seq.items[seq.items.length - 1] as Node | undefined;
        if (last?.range) return { start: last.range[1], end: last.range[1], text: `, ${item}` };
        const open = text.indexOf('[', seq.range[0]);
        return { start: open + 1, end: open + 1, text: item };
      }
      const first = seq.items[0] as Node | undefined;
      const dash = lineStart(text, first!.range![0]);
      const indent = text.slice(dash).search(/\S/);
      const at = afterLastLine(seq, text);
      return { start: at.offset, end: at.offset, text: `${at.needsNewline ? '\n' : ''}${' '.repeat(indent)}- ${item}\n` };
    }
  }
}

/** Applies edits to one file's text (descending offsets; inserts at the same offset keep their order). */
export function applyEdits(text: string, edits: TextEdit[]): string {
  const sorted = edits.map((e, i) => ({ e, i })).sort((a, b) => b.e.start - a.e.start || b.i - a.i);
  let out = text;
  let lastStart = Infinity;
  for (const { e } of sorted) {
    if (e.end > lastStart) continue; // overlapping edit: keep the first planned
    out = out.slice(0, e.start) + e.text + out.slice(e.end);
    lastStart = e.start;
  }
  return out;
}

/** The new text of every file that has edits. */
export function fixedFiles(plan: FixPlan, read: ReadText): Map<string, { before: string; after: string }> {
  const out = new Map<string, { before: string; after: string }>();
  const files = [...new Set(plan.edits.map((e) => e.file))];
  for (const file of files) {
    const before = read(file) ?? '';
    out.set(file, { before, after: applyEdits(before, plan.edits.filter((e) => e.file === file)) });
  }
  return out;
}

/** Line/column (1-based) ranges of edits, for SARIF fixes and JSON. */
export function editRanges(edit: TextEdit, text: string) {
  const lc = new LineCounter();
  let offset = 0;
  for (const line of text.split('\n')) { lc.addNewLine(offset); offset += line.length + 1; }
  const pos = (o: number) => { const p = lc.linePos(o); return { line: p.line, column: p.col }; };
  return { start: pos(edit.start), end: pos(edit.end), text: edit.text };
}

/** A unified diff (for --dry-run), computed line by line with an LCS over the changed window. */
export function unifiedDiff(file: string, before: string, after: string, context = 3): string {
  const a = before.split('\n');
  const b = after.split('\n');
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (tail < a.length - head && tail < b.length - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail++;
  const am = a.slice(head, a.length - tail);
  const bm = b.slice(head, b.length - tail);
  // LCS table over the middle window (small: only the changed region).
  const dp = Array.from({ length: am.length + 1 }, () => new Array<number>(bm.length + 1).fill(0));
  for (let i = am.length - 1; i >= 0; i--) for (let j = bm.length - 1; j >= 0; j--) dp[i]![j] = am[i] === bm[j] ? dp[i + 1]![j + 1]! + 1 : Math.max(dp[i + 1]![j]!, dp[i]![j + 1]!);
  const ops: Array<{ op: ' ' | '-' | '+'; line: string }> = a.slice(0, head).map((line) => ({ op: ' ' as const, line }));
  let i = 0, j = 0;
  while (i < am.length || j < bm.length) {
    if (i < am.length && j < bm.length && am[i] === bm[j]) { ops.push({ op: ' ', line: am[i]! }); i++; j++; }
    else if (j < bm.length && (i >= am.length || dp[i]![j + 1]! >= dp[i + 1]![j]!)) ops.push({ op: '+', line: bm[j++]! });
    else ops.push({ op: '-', line: am[i++]! });
  }
  for (const line of a.slice(a.length - tail)) ops.push({ op: ' ', line });
  // Hunks.
  const out = [`--- a/${file}`, `+++ b/${file}`];
  let k = 0;
  while (k < ops.length) {
    if (ops[k]!.op === ' ') { k++; continue; }
    let start = Math.max(0, k - context);
    let end = k;
    while (end < ops.length) {
      if (ops[end]!.op !== ' ') { end++; continue; }
      let run = 0;
      while (end + run < ops.length && ops[end + run]!.op === ' ') run++;
      if (end + run >= ops.length || run > context * 2) { end = Math.min(ops.length, end + context); break; }
      end += run;
    }
    const hunk = ops.slice(start, end);
    const aStart = ops.slice(0, start).filter((o) => o.op !== '+').length + 1;
    const bStart = ops.slice(0, start).filter((o) => o.op !== '-').length + 1;
    out.push(`@@ -${aStart},${hunk.filter((o) => o.op !== '+').length} +${bStart},${hunk.filter((o) => o.op !== '-').length} @@`);
    for (const o of hunk) out.push(`${o.op}${o.line}`);
    k = end;
    start = end;
  }
  return out.join('\n');
}
