/**
 * Compose files as located trees: every node keeps where it was written, so interpolation,
 * schema and x-berth errors can say file:line:column, and `locate()` can answer for any model path
 * after merging (the merged tree keeps the location of the node that won).
 */
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import { BerthError, clip } from '../lib/errors.js';
import type { ModelPath, SourceLocation } from './types.js';

/** `!reset` drops the inherited value, `!override` replaces it instead of merging (Compose ≥ 2.24). */
export type MergeTag = 'reset' | 'override';

interface NodeBase {
  /** Where the node was written: a map entry's key, a sequence item, or the document start. */
  loc: SourceLocation;
  tag?: MergeTag;
}
export interface LMap extends NodeBase { kind: 'map'; entries: Map<string, LNode> }
export interface LSeq extends NodeBase { kind: 'seq'; items: LNode[] }
export interface LScalar extends NodeBase {
  kind: 'scalar';
  value: string | number | boolean | null;
  /** Set when interpolation produced the value from a template (Compose then coerces types). */
  interpolated?: boolean;
}
export type LNode = LMap | LSeq | LScalar;

/** How locations are keyed: JSON of the path (map keys as strings, sequence indexes as numbers). */
export function pathKey(path: ModelPath): string {
  return JSON.stringify(path);
}

/** Formats a model path as people read it: services.app.ports[0]. */
export function formatPath(path: ModelPath): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? part : `.${part}`;
  }
  return out;
}

export function formatLocation(loc: SourceLocation | undefined, display?: (file: string) => string): string {
  if (!loc) return '';
  const file = display ? display(loc.file) : basename(loc.file);
  return `${file}:${loc.line}:${loc.column}`;
}

export interface SourceFile {
  /** Absolute path. */
  file: string;
  root: LMap;
}

/** Reads and parses one compose file. Missing file, malformed YAML: one-line BerthError with file:line:col. */
export async function readComposeFile(file: string): Promise<SourceFile> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : code === 'EACCES' ? 'permission denied' : code ?? clip(String((error as Error).message));
    throw new BerthError(`cannot read compose file ${clip(file)}: ${why}`, { cause: error });
  }
  return parseComposeText(text, file);
}

export function parseComposeText(text: string, file: string): SourceFile {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, keepSourceTokens: true, merge: true, prettyErrors: false });
  const at = (offset: number | undefined): SourceLocation => {
    const { line, col } = lineCounter.linePos(offset ?? 0);
    return { file, line, column: col };
  };
  const firstError = doc.errors[0];
  if (firstError) {
    const loc = at(firstError.pos[0]);
    let message = firstError.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?\s*$/, '');
    if (firstError.code === 'MULTIPLE_DOCS') message = 'more than one YAML document (---); berth reads one document per compose file';
    if (/Maximum call stack size exceeded/.test(message)) message = 'the YAML nests too deeply to read';
    throw new BerthError(`${formatLocation(loc)}: invalid YAML: ${message}`, { hint: `in ${file}` });
  }
  const contents = doc.contents as Node | null;
  if (contents === null || (isScalar(contents) && contents.value === null)) {
    // An empty file is an empty model (Compose accepts empty override files).
    return { file, root: { kind: 'map', entries: new Map(), loc: at(0) } };
  }
  const root = convert(contents, doc, at, at(contents.range?.[0]), 0);
  if (root.kind !== 'map') throw new BerthError(`${formatLocation(root.loc)}: a compose file must be a mapping at the top level`);
  return { file, root };
}

function tagOf(node: Node): MergeTag | undefined {
  const tag = (node as { tag?: string }).tag;
  if (tag === '!reset') return 'reset';
  if (tag === '!override') return 'override';
  return undefined;
}

/** Aliases are expanded; this bounds what a file of nested aliases ("billion laughs") can expand to. */
const MAX_NODES = 1_000_000;
let converted = 0;

function convert(node: unknown, doc: Document, at: (offset: number | undefined) => SourceLocation, loc: SourceLocation, depth: number): LNode {
  if (depth === 0) converted = 0;
  if (depth > 200) throw new BerthError(`${formatLocation(loc)}: the YAML nests too deeply (recursive alias?)`);
  if (++converted > MAX_NODES) throw new BerthError(`${formatLocation(loc)}: the YAML expands to more than ${MAX_NODES} nodes (nested aliases?)`);
  if (isAlias(node)) {
    const target = node.resolve(doc);
    if (!target) throw new BerthError(`${formatLocation(loc)}: unresolved alias *${node.source}`);
    return convert(target, doc, at, loc, depth + 1);
  }
  if (node === null || node === undefined) return { kind: 'scalar', value: null, loc };
  const tag = tagOf(node as Node);
  if (isMap(node)) {
    const entries = new Map<string, LNode>();
    const merged: LMap[] = [];
    for (const pair of node.items) {
      if (!isPair(pair)) continue;
      const keyNode = pair.key as Node | null;
      const keyValue = isScalar(keyNode) ? keyNode.value : keyNode;
      const keyLoc = at((keyNode as Node | null)?.range?.[0]);
      if (isScalar(keyNode) && (keyValue === '<<' || typeof keyValue === 'symbol' || keyNode.source === '<<') && (isAlias(pair.value) || isSeq(pair.value) || isMap(pair.value))) {
        // YAML merge key: explicit keys win over merged ones, earlier merge sources over later ones.
        const sources = isSeq(pair.value) ? pair.value.items : [pair.value];
        for (const source of sources) {
          const mergedSource = convert(source, doc, at, keyLoc, depth + 1);
          if (mergedSource.kind !== 'map') throw new BerthError(`${formatLocation(keyLoc)}: a YAML merge key (<<) needs mappings`);
          merged.push(mergedSource);
        }
        continue;
      }
      const key = keyValue === null || keyValue === undefined ? 'null' : typeof keyValue === 'symbol' ? '<<' : String(keyValue);
      entries.set(key, convert(pair.value, doc, at, keyLoc, depth + 1));
    }
    for (const source of merged) for (const [key, value] of source.entries) if (!entries.has(key)) entries.set(key, value);
    return withTag({ kind: 'map', entries, loc }, tag);
  }
  if (isSeq(node)) {
    const items = node.items.map((item) => convert(item, doc, at, at((item as Node | null)?.range?.[0] ?? node.range?.[0]), depth + 1));
    return withTag({ kind: 'seq', items, loc }, tag);
  }
  if (isScalar(node)) {
    let value = node.value as unknown;
    if (typeof value === 'bigint') value = Number(value);
    // Go's yaml (Compose) reads a leading 0 as octal, as in `mode: 0440`; YAML 1.2 would say 440.
    if (typeof value === 'number' && node.type === 'PLAIN' && /^[-+]?0[0-7]+$/.test(node.source ?? '')) value = parseInt(node.source!, 8);
    if (value instanceof Date) value = value.toISOString();
    if (value !== null && typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') value = String(value);
    // `!reset` on an empty scalar means "no value".
    if (tag && value === '') value = null;
    return withTag({ kind: 'scalar', value: value as LScalar['value'], loc }, tag);
  }
  return { kind: 'scalar', value: null, loc };
}

function withTag<T extends LNode>(node: T, tag: MergeTag | undefined): T {
  if (tag) node.tag = tag;
  return node;
}

/** Plain JSON-like data and the location of every path in it. */
export function toPlain(node: LNode, path: (string | number)[] = [], locations = new Map<string, SourceLocation>()): { value: unknown; locations: Map<string, SourceLocation> } {
  locations.set(pathKey(path), node.loc);
  if (node.kind === 'scalar') return { value: node.value, locations };
  if (node.kind === 'seq') {
    return { value: node.items.map((item, i) => toPlain(item, [...path, i], locations).value), locations };
  }
  const out: Record<string, unknown> = {};
  for (const [key, value] of node.entries) {
    if (value.tag === 'reset' && value.kind === 'scalar' && value.value === null) continue;
    out[key] = toPlain(value, [...path, key], locations).value;
  }
  return { value: out, locations };
}
