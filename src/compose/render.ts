import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { defaultStateDir } from '../state/dir.js';
import type { ComposeCli } from './cli.js';
import type { ComposeProject } from './types.js';

/**
 * Fields of the current Compose Specification that Compose v1 (1.29) rejects. Engine 20.10
 * ignores them anyway (start_interval needs API 1.44), so dropping them changes nothing there.
 */
const V1_UNSUPPORTED_TOP = ['name', 'include'];
const V1_UNSUPPORTED_SERVICE = ['use_api_socket', 'develop', 'attach', 'annotations', 'post_start', 'pre_stop', 'gpus', 'label_file', 'provider', 'models'];
const V1_UNSUPPORTED_HEALTHCHECK = ['start_interval'];

// The rendering is written as YAML 1.1, which v1 (PyYAML) reads: strings such as "no" stay quoted.

/** Escapes `$` so Compose does not interpolate a second time what berth already did. */
function escapeDollars(value: unknown): unknown {
  if (typeof value === 'string') return value.replaceAll('$', () => '$$'); // a function: '$$' as a replacement string means one '$'
  if (Array.isArray(value)) return value.map(escapeDollars);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, escapeDollars(v)]));
  return value;
}

/**
 * The model as Compose v1 accepts it (pure): the interpolated, merged model without the fields
 * v1 does not know. Returns the dropped fields so the caller can say so.
 */
export function downgradeForV1(model: Record<string, unknown>): { model: Record<string, unknown>; dropped: string[]; changed: boolean } {
  const dropped: string[] = [];
  let changed = false;
  const out: Record<string, unknown> = structuredClone(model);
  // `name` needs no mention: Compose gets the project name with -p.
  for (const key of V1_UNSUPPORTED_TOP) if (key in out) { delete out[key]; changed = true; if (key !== 'name') dropped.push(key); }
  const services = (out.services ?? {}) as Record<string, Record<string, unknown>>;
  for (const [name, service] of Object.entries(services)) {
    for (const key of V1_UNSUPPORTED_SERVICE) if (key in service) { delete service[key]; dropped.push(`services.${name}.${key}`); }
    // v1 knows the pids limit only as pids_limit.
    const limits = (service.deploy as { resources?: { limits?: Record<string, unknown> } } | undefined)?.resources?.limits;
    if (limits && 'pids' in limits) {
      service.pids_limit ??= limits.pids;
      delete limits.pids;
      changed = true;
    }
    const health = service.healthcheck as Record<string, unknown> | undefined;
    for (const key of V1_UNSUPPORTED_HEALTHCHECK) if (health && key in health) { delete health[key]; dropped.push(`services.${name}.healthcheck.${key}`); }
    const deps = service.depends_on;
    if (deps && typeof deps === 'object' && !Array.isArray(deps)) {
      for (const dep of Object.values(deps as Record<string, Record<string, unknown>>)) {
        if ('restart' in dep || 'required' in dep) changed = true;
        delete dep.restart;
        delete dep.required;
      }
    }
  }
  return { model: out, dropped, changed: changed || dropped.length > 0 };
}

/**
 * What to hand to Compose for this project. Compose v2 reads the user's files as they are.
 * Compose v1 gets a rendering of berth's model when the files use fields it rejects, so one
 * compose file serves both: `rendering` is its text (interpolated: it may hold secrets), written
 * by writeRendering for one Compose run and removed after it.
 */
export function composeFilesFor(cli: ComposeCli, project: ComposeProject): { files: string[]; dropped: string[]; rendering?: string } {
  if (cli.kind === 'v2') return { files: project.files, dropped: [] };
  const { model, dropped, changed } = downgradeForV1(project.model);
  if (!changed) return { files: project.files, dropped };
  const rendering = `# rendered by berth for Compose v1 from ${project.files.join(', ')}\n${stringify(escapeDollars(model), { aliasDuplicateObjects: false, version: '1.1' })}`;
  return { files: project.files, dropped, rendering };
}

/**
 * Where renderings live while Compose reads them: the user's runtime directory (XDG_RUNTIME_DIR,
 * a private tmpfs) or else berth's state directory, in a 0700 folder; never the shared /tmp.
 */
export function renderingDir(env: Record<string, string | undefined> = process.env): string {
  return env.XDG_RUNTIME_DIR ? join(env.XDG_RUNTIME_DIR, 'berth') : join(defaultStateDir(env), 'run');
}

/**
 * Writes a rendering for one Compose run (0600, a name of its own: concurrent berths never share
 * one) and returns it with its removal. Renderings of berths that died (SIGKILL) are swept here.
 */
export function writeRendering(project: string, text: string, dir = renderingDir()): { file: string; remove: () => void } {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  sweepRenderings(dir);
  const file = join(dir, `${project}.${process.pid}.${randomBytes(4).toString('hex')}.compose.yaml`);
  writeFileSync(file, text, { mode: 0o600, flag: 'wx' });
  return { file, remove: () => rmSync(file, { force: true }) };
}

/** Removes renderings whose berth process is gone. */
function sweepRenderings(dir: string): void {
  for (const name of readdirSync(dir)) {
    const pid = Number(/\.(\d+)\.[0-9a-f]{8}\.compose\.yaml$/.exec(name)?.[1]);
    if (!pid || pid === process.pid) continue;
    try {
      process.kill(pid, 0);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ESRCH') rmSync(join(dir, name), { force: true });
    }
  }
}
