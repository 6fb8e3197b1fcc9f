/**
 * Reads the config of the images a project runs (or builds FROM) from the local engine: one list
 * of local images, then one `image inspect` per image not yet in the state store's cache. The
 * cache is keyed by image id, so a re-pulled or rebuilt tag (a new id) is read again.
 */
import type { ComposeProject } from '../compose/types.js';
import type { Engine } from '../engine/client.js';
import type { StateStore } from '../state/store.js';
import { baseImageOf, type ImageConfig, type ImageConfigs } from './image-facts.js';
import type { ServiceDockerfile } from './types.js';

export interface ImageLookup {
  configs: ImageConfigs;
  /** Images inspected now (engine calls), and read from the cache. */
  inspected: number;
  cached: number;
}

/** The image references whose facts the rules want: service images, and the base images of the stages compose builds. */
export function imageRefsOf(project: ComposeProject, dockerfiles: Map<string, ServiceDockerfile>): string[] {
  const refs = new Set<string>();
  for (const s of Object.values(project.services)) {
    const df = dockerfiles.get(s.name);
    if (df) { const base = baseImageOf(df.dockerfile, df.stageIndex); if (base) refs.add(base); } else if (s.image && !s.hasBuild) refs.add(s.image);
  }
  return [...refs];
}

/** How the engine names a reference in RepoTags / RepoDigests: docker.io/library/ dropped, :latest added. */
export function normalizeRef(ref: string): string {
  let r = ref.trim();
  r = r.replace(/^(docker\.io|index\.docker\.io|registry-1\.docker\.io)\//, '');
  if (!r.includes('/')) r = `library/${r}`;
  r = r.replace(/^library\//, '');
  if (r.includes('@')) return r;
  const slash = r.lastIndexOf('/');
  return r.lastIndexOf(':') > slash ? r : `${r}:latest`;
}

const CACHE_PREFIX = 'image-config:';

/** Reads the configs of `refs` (null: not present locally). Engine failures propagate (the caller reports them). */
export async function readImageConfigs(refs: string[], engine: Engine, store?: StateStore): Promise<ImageLookup> {
  const configs: ImageConfigs = new Map();
  if (refs.length === 0) return { configs, inspected: 0, cached: 0 };
  const byName = new Map<string, string>();
  for (const image of await engine.listImages()) {
    for (const tag of image.RepoTags ?? []) byName.set(tag, image.Id);
    for (const digest of image.RepoDigests ?? []) byName.set(digest, image.Id);
  }
  let inspected = 0;
  let cached = 0;
  for (const ref of refs) {
    const normalized = normalizeRef(ref);
    // name:tag@digest: the engine lists the digest without the tag.
    const id = byName.get(normalized) ?? byName.get(normalized.replace(/:[^/@]+@/, '@'));
    if (!id) { configs.set(ref, null); continue; }
    const hit = readCache(store, id);
    if (hit) { configs.set(ref, hit); cached++; continue; }
    const info = await engine.inspectImage(id);
    if (!info) { configs.set(ref, null); continue; }
    inspected++;
    const config = toImageConfig(info.Id, info.Config as unknown as Record<string, unknown> | undefined);
    configs.set(ref, config);
    try { store?.remember(CACHE_PREFIX + id, JSON.stringify(config)); } catch { /* a read-only state store only costs the next run a call */ }
  }
  return { configs, inspected, cached };
}

function readCache(store: StateStore | undefined, id: string): ImageConfig | undefined {
  try {
    const text = store?.fact(CACHE_PREFIX + id);
    return text ? (JSON.parse(text) as ImageConfig) : undefined;
  } catch {
    return undefined;
  }
}

const strings = (v: unknown): string[] | undefined => (Array.isArray(v) ? v.map(String) : undefined);

export function toImageConfig(id: string, config: Record<string, unknown> | undefined): ImageConfig {
  const c = config ?? {};
  const hc = (c.Healthcheck as { Test?: unknown } | undefined)?.Test;
  return {
    id,
    ...(typeof c.StopSignal === 'string' && c.StopSignal ? { stopSignal: c.StopSignal } : {}),
    ...(strings(hc) ? { healthcheck: strings(hc) } : {}),
    ...(typeof c.User === 'string' && c.User ? { user: c.User } : {}),
    ...(strings(c.Entrypoint) ? { entrypoint: strings(c.Entrypoint) } : {}),
    ...(strings(c.Cmd) ? { cmd: strings(c.Cmd) } : {}),
    exposedPorts: Object.keys((c.ExposedPorts ?? {}) as object),
    env: strings(c.Env) ?? [],
    volumes: Object.keys((c.Volumes ?? {}) as object),
  };
}
