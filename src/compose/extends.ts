/**
 * `extends` as Compose resolves it, per file before files are merged: the service named by
 * `extends: NAME` or `extends: { service: NAME, file: PATH }` is the base, the extending service is
 * merged over it with the usual merge rules (its own values win), recursively, with cycle detection.
 */
import { dirname, isAbsolute, resolve } from 'node:path';
import { BerthError, clip } from '../lib/errors.js';
import { mergeNodes } from './merge.js';
import { formatLocation, type LMap, type LNode } from './source.js';

/** Reads, interpolates and normalizes another compose file (as the loader does for -f files). */
export type PrepareFile = (file: string) => Promise<LMap>;

interface Ref {
  service: string;
  file: string;
  loc: LNode['loc'];
}

function extendsRef(service: LMap, file: string): Ref | undefined {
  const node = service.entries.get('extends');
  if (!node) return undefined;
  if (node.kind === 'scalar' && typeof node.value === 'string') return { service: node.value, file, loc: node.loc };
  if (node.kind === 'map') {
    const name = node.entries.get('service');
    const other = node.entries.get('file');
    if (name?.kind === 'scalar' && typeof name.value === 'string') {
      const target = other?.kind === 'scalar' && typeof other.value === 'string' ? (isAbsolute(other.value) ? other.value : resolve(dirname(file), other.value)) : file;
      return { service: name.value, file: target, loc: node.loc };
    }
  }
  throw new BerthError(`${formatLocation(node.loc)}: extends must be a service name or { service, file }`);
}

/** Resolves every `extends` of the services of `root` (the tree of `file`), in place. */
export async function resolveExtends(root: LMap, file: string, prepare: PrepareFile): Promise<void> {
  const cache = new Map<string, LMap>([[file, root]]);
  const resolved = new Map<string, LMap>();
  const treeOf = async (path: string): Promise<LMap> => {
    let tree = cache.get(path);
    if (!tree) {
      tree = await prepare(path);
      cache.set(path, tree);
    }
    return tree;
  };
  const resolveService = async (path: string, name: string, chain: string[], loc: LNode['loc'] | undefined): Promise<LMap> => {
    const id = `${path}\u0000${name}`;
    const done = resolved.get(id);
    if (done) return done;
    if (chain.includes(id)) throw new BerthError(`${loc ? `${formatLocation(loc)}: ` : ''}extends cycle: ${[...chain, id].map((c) => c.split('\u0000')[1]).join(' → ')}`);
    const services = (await treeOf(path)).entries.get('services');
    const service = services?.kind === 'map' ? services.entries.get(name) : undefined;
    if (!service || service.kind !== 'map') {
      throw new BerthError(`${loc ? `${formatLocation(loc)}: ` : ''}cannot extend service ${clip(JSON.stringify(name), 100)}: no such service in ${clip(path)}`);
    }
    const ref = extendsRef(service, path);
    let result: LMap = service;
    if (ref) {
      const base = await resolveService(ref.file, ref.service, [...chain, id], ref.loc);
      const own: LMap = { ...service, entries: new Map([...service.entries].filter(([key]) => key !== 'extends')) };
      result = mergeNodes(base, own, ['services', name]) as LMap;
    }
    resolved.set(id, result);
    return result;
  };
  const services = root.entries.get('services');
  if (services?.kind !== 'map') return;
  for (const [name, service] of services.entries) {
    if (service.kind !== 'map' || !service.entries.has('extends')) continue;
    services.entries.set(name, await resolveService(file, name, [], undefined));
  }
}
