/**
 * Merging compose files as Compose does (compose-spec merge.md, compose-go override):
 * - mappings merge deeply, the later file wins for scalars;
 * - `command`, `entrypoint` and `healthcheck.test` are replaced, not appended;
 * - list-or-mapping fields (environment, labels, annotations, sysctls, build.args, …) are turned
 *   into mappings first (`KEY=VAL` → KEY: VAL), so list and map forms merge key by key;
 * - service `networks` and `depends_on` in list form become mappings, merged by name;
 * - unique resources: `ports` by {host_ip, target, published, protocol}, `volumes` by target,
 *   `secrets`/`configs` by target (else source); an entry with the same key replaces the earlier;
 * - other sequences are appended, without duplicates;
 * - `!reset` drops the inherited value, `!override` replaces it.
 */
import type { LMap, LNode, LScalar, LSeq } from './source.js';

type Path = (string | number)[];

const SERVICE_LIST_OR_DICT = ['environment', 'labels', 'annotations', 'sysctls', 'extra_hosts'];
const NESTED_LIST_OR_DICT: Record<string, string[]> = { build: ['args', 'labels', 'extra_hosts'], deploy: ['labels'] };
const TOP_WITH_LABELS = ['networks', 'volumes', 'secrets', 'configs'];
const REPLACED = new Set(['command', 'entrypoint']);

function scalar(value: LScalar['value'], loc: LScalar['loc']): LScalar {
  return { kind: 'scalar', value, loc };
}

/**
 * Turns the list form of a list-or-mapping field into a mapping, in place. `separator` splits
 * KEY=VAL; a bare KEY gets `bare` (null for environment: taken from the shell; '' for labels).
 */
function listToMap(node: LNode, bare: null | string, separators = ['=']): LNode {
  if (node.kind !== 'seq') return node;
  const entries = new Map<string, LNode>();
  for (const item of node.items) {
    if (item.kind !== 'scalar' || item.value === null) return node; // leave it for the schema to report
    const text = String(item.value);
    let at = -1;
    for (const sep of separators) {
      const i = text.indexOf(sep);
      if (i > 0 && (at < 0 || i < at)) at = i;
    }
    if (at < 0) entries.set(text, scalar(bare, item.loc));
    else entries.set(text.slice(0, at), { ...scalar(text.slice(at + 1), item.loc), interpolated: item.interpolated });
  }
  const out: LMap = { kind: 'map', entries, loc: node.loc };
  if (node.tag) out.tag = node.tag;
  return out;
}

function namesToMap(node: LNode): LNode {
  if (node.kind !== 'seq') return node;
  const entries = new Map<string, LNode>();
  for (const item of node.items) {
    if (item.kind !== 'scalar' || item.value === null) return node;
    entries.set(String(item.value), scalar(null, item.loc));
  }
  const out: LMap = { kind: 'map', entries, loc: node.loc };
  if (node.tag) out.tag = node.tag;
  return out;
}

/** Brings one file's tree into the canonical shape that merges key by key (in place). */
export function normalizeForMerge(root: LMap): void {
  const services = root.entries.get('services');
  if (services?.kind === 'map') {
    for (const service of services.entries.values()) {
      if (service.kind !== 'map') continue;
      for (const key of SERVICE_LIST_OR_DICT) {
        const node = service.entries.get(key);
        if (!node) continue;
        const normalized = key === 'environment' ? listToMap(node, null) : key === 'extra_hosts' ? node : listToMap(node, '');
        service.entries.set(key, normalized);
      }
      for (const [parent, keys] of Object.entries(NESTED_LIST_OR_DICT)) {
        const nested = service.entries.get(parent);
        if (nested?.kind !== 'map') continue;
        for (const key of keys) {
          const node = nested.entries.get(key);
          if (node && key !== 'extra_hosts') nested.entries.set(key, listToMap(node, key === 'args' ? null : ''));
        }
      }
      for (const key of ['networks', 'depends_on']) {
        const node = service.entries.get(key);
        if (node) service.entries.set(key, namesToMap(node));
      }
    }
  }
  for (const top of TOP_WITH_LABELS) {
    const section = root.entries.get(top);
    if (section?.kind !== 'map') continue;
    for (const item of section.entries.values()) {
      if (item.kind !== 'map') continue;
      const labels = item.entries.get('labels');
      if (labels) item.entries.set('labels', listToMap(labels, ''));
    }
  }
}

/** After merging: `depends_on: [db]` means condition service_started (as Compose writes it). */
export function finalizeMerged(root: LMap): void {
  const services = root.entries.get('services');
  if (services?.kind !== 'map') return;
  for (const service of services.entries.values()) {
    if (service.kind !== 'map') continue;
    const deps = service.entries.get('depends_on');
    if (deps?.kind !== 'map') continue;
    for (const [name, dep] of deps.entries) {
      if (dep.kind === 'scalar' && dep.value === null) {
        deps.entries.set(name, { kind: 'map', entries: new Map([['condition', scalar('service_started', dep.loc)]]), loc: dep.loc });
      }
    }
  }
}

function isServiceField(path: Path, field: string): boolean {
  return path.length === 3 && path[0] === 'services' && path[2] === field;
}

/** `null` in a later file's service network/dependency entry adds nothing to an earlier definition. */
function nullKeepsBase(path: Path): boolean {
  return path.length === 4 && path[0] === 'services' && (path[2] === 'networks' || path[2] === 'depends_on');
}

export function mergeNodes(base: LNode | undefined, over: LNode, path: Path = []): LNode {
  if (base === undefined || over.tag === 'reset' || over.tag === 'override') return over;
  if (over.kind === 'scalar' && over.value === null && nullKeepsBase(path)) return base;
  if (base.kind === 'map' && over.kind === 'map') {
    const entries = new Map(base.entries);
    for (const [key, value] of over.entries) entries.set(key, mergeNodes(base.entries.get(key), value, [...path, key]));
    return { kind: 'map', entries, loc: over.loc };
  }
  const last = path[path.length - 1];
  if (path[0] === 'services' && ((path.length === 3 && REPLACED.has(String(last))) || (path.length === 4 && path[2] === 'healthcheck' && last === 'test'))) return over;
  // string-or-list fields (dns, env_file, tmpfs, …) written as a string in one file and a list in another.
  const baseSeq = base.kind === 'seq' ? base : base.kind === 'scalar' && typeof base.value === 'string' && over.kind === 'seq' ? { kind: 'seq' as const, items: [base], loc: base.loc } : undefined;
  const overSeq = over.kind === 'seq' ? over : over.kind === 'scalar' && typeof over.value === 'string' && base.kind === 'seq' ? { kind: 'seq' as const, items: [over], loc: over.loc } : undefined;
  if (baseSeq && overSeq) {
    if (isServiceField(path, 'ports')) return mergeKeyed(baseSeq, overSeq, portKey);
    if (isServiceField(path, 'volumes')) return mergeKeyed(baseSeq, overSeq, volumeKey);
    if (isServiceField(path, 'secrets') || isServiceField(path, 'configs')) return mergeKeyed(baseSeq, overSeq, fileRefKey);
    return mergeKeyed(baseSeq, overSeq, (node) => JSON.stringify(plainOf(node)));
  }
  return over;
}

function mergeKeyed(base: LSeq, over: LSeq, keyOf: (node: LNode) => string): LSeq {
  const items = [...base.items];
  const index = new Map<string, number>();
  items.forEach((item, i) => index.set(keyOf(item), i));
  for (const item of over.items) {
    const key = keyOf(item);
    const at = index.get(key);
    if (at === undefined) {
      index.set(key, items.length);
      items.push(item);
    } else items[at] = item;
  }
  return { kind: 'seq', items, loc: over.loc };
}

function plainOf(node: LNode): unknown {
  if (node.kind === 'scalar') return node.value;
  if (node.kind === 'seq') return node.items.map(plainOf);
  return Object.fromEntries([...node.entries].map(([k, v]) => [k, plainOf(v)]));
}

function field(node: LNode, key: string): unknown {
  return node.kind === 'map' ? plainOf(node.entries.get(key) ?? scalar(null, node.loc)) : undefined;
}

/** {host_ip, target, published, protocol} of a short or long port definition. */
function portKey(node: LNode): string {
  if (node.kind === 'scalar') {
    const text = String(node.value);
    const [spec, protocol = 'tcp'] = text.split('/');
    const parts = splitPortSpec(spec!);
    const target = parts.pop() ?? '';
    const published = parts.pop() ?? '';
    const hostIp = parts.join(':').replace(/^\[|\]$/g, '');
    return JSON.stringify([hostIp, target, published, protocol]);
  }
  return JSON.stringify([field(node, 'host_ip') ?? '', String(field(node, 'target') ?? ''), String(field(node, 'published') ?? ''), field(node, 'protocol') ?? 'tcp']);
}

/** Splits "ip:published:target", keeping IPv6 host addresses in brackets whole. */
export function splitPortSpec(spec: string): string[] {
  const bracket = /^\[([^\]]*)\]:(.*)$/.exec(spec);
  if (bracket) return [bracket[1]!, ...bracket[2]!.split(':')];
  const parts = spec.split(':');
  // An unbracketed IPv6 address: everything but the last two parts is the IP.
  if (parts.length > 3) return [parts.slice(0, -2).join(':'), parts[parts.length - 2]!, parts[parts.length - 1]!];
  return parts;
}

function volumeKey(node: LNode): string {
  if (node.kind === 'scalar') {
    const parts = String(node.value).split(':');
    // SOURCE:TARGET[:MODE]; a Windows drive letter is not expected on a Linux server.
    return parts.length === 1 ? parts[0]! : parts[1]!;
  }
  return String(field(node, 'target') ?? JSON.stringify(plainOf(node)));
}

function fileRefKey(node: LNode): string {
  if (node.kind === 'scalar') return String(node.value);
  return String(field(node, 'target') ?? field(node, 'source') ?? JSON.stringify(plainOf(node)));
}
