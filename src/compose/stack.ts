/**
 * The compose model rendered for Docker Swarm (`docker stack deploy -c`), pure.
 *
 * `docker stack deploy` drops what Swarm does not support with a one-line "Ignoring unsupported
 * options" (or not at all). Here each such field is handled or refused at its file:line:
 * - `depends_on`: dropped from the file; `order` gives the services in dependency layers, and the
 *   deploy brings them up layer by layer, waiting for each to converge.
 * - `restart`: mapped to `deploy.restart_policy` (unless the file sets one).
 * - `build`: refused, unless the caller built the image and gave it to every node (`built`).
 * - `container_name`, `network_mode`, `links`, `privileged`, `devices`, ... and a port bound to one
 *   host address (Swarm publishes on every address): refused.
 * - secrets and configs from files (or the environment) get a name with their content's hash, so a
 *   changed secret becomes a new Swarm object and rolls out instead of failing the deploy
 *   (Swarm's secrets and configs are immutable).
 * - update and rollback: `order: start-first`, `failure_action: rollback` and a monitor window are
 *   filled in for services with a healthcheck (Swarm's own health gate) unless the file says
 *   otherwise; stop-first for stateful services.
 * Paths (bind mounts, secret and config files) become absolute: the file is read from stdin.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { BerthError, ExitCode } from '../lib/errors.js';
import { formatLocation } from './source.js';
import type { ComposeProject, ModelPath, ServiceModel } from './types.js';

type Json = Record<string, unknown>;

export interface StackFinding {
  level: 'error' | 'warning';
  /** Rule-like id, e.g. `swarm-container-name`. */
  id: string;
  service?: string;
  message: string;
  /** file:line:col, when known. */
  where: string;
  /** The model path it is about (for berth check). */
  path: ModelPath;
}

export interface StackObject {
  /** The key in the compose file. */
  key: string;
  /** The Swarm object's name: <project>_<key>_<hash 12>. */
  name: string;
  hash: string;
  /** For an environment or content source: the content, which the deploy writes to a file (format 3.8 reads files only). */
  content?: string;
}

export interface RenderedStack {
  /** The stack's name (the project's). */
  name: string;
  /** The compose file for `docker stack deploy -c -` (format 3.8). */
  file: Json;
  /** Services in dependency layers: each layer depends only on earlier ones. */
  order: string[][];
  secrets: StackObject[];
  configs: StackObject[];
  /** What berth changed or filled in, said to the user. */
  notes: string[];
  findings: StackFinding[];
}

export interface StackRenderOptions {
  /** Services whose `build:` the caller has handled (image built and on every node). */
  built?: ReadonlySet<string>;
  /** Reads a secret or config file (tests inject); default readFileSync. */
  readFile?: (path: string) => Buffer;
  /** The environment, for secrets/configs with `environment:`. */
  env?: Record<string, string | undefined>;
}

/** Service fields `docker stack deploy` honours (compose file format 3.8, Engine API 1.41). */
const SUPPORTED = new Set([
  'image', 'command', 'entrypoint', 'environment', 'labels', 'deploy', 'healthcheck', 'networks', 'ports', 'secrets', 'configs',
  'volumes', 'stop_grace_period', 'stop_signal', 'user', 'working_dir', 'hostname', 'init', 'cap_add', 'cap_drop', 'dns', 'dns_search',
  'extra_hosts', 'logging', 'read_only', 'stdin_open', 'tty', 'sysctls', 'tmpfs', 'ulimits', 'expose', 'isolation', 'credential_spec',
]);
/** Handled here: mapped or dropped with their meaning kept. */
const HANDLED = new Set(['depends_on', 'restart', 'build', 'env_file', 'label_file', 'scale', 'profiles', 'pull_policy']);
/** What Swarm ignores or cannot do, with the hint that replaces it. */
const REFUSED: Record<string, string> = {
  container_name: 'Swarm names task containers itself (<stack>_<service>.<slot>.<task id>); other services reach it by its service name',
  network_mode: 'Swarm tasks join overlay networks; use networks: (host mode ports for the host)',
  links: 'services reach each other by service name on a shared network',
  external_links: 'services reach each other by service name on a shared network',
  privileged: 'Swarm services cannot run privileged',
  devices: 'Swarm services cannot map devices',
  cgroup_parent: 'Swarm ignores cgroup_parent',
  security_opt: 'Swarm ignores security_opt',
  userns_mode: 'Swarm ignores userns_mode',
  ipc: 'Swarm ignores ipc',
  pid: 'Swarm ignores pid',
  mac_address: 'Swarm ignores mac_address',
  shm_size: 'Swarm ignores shm_size: mount a tmpfs at /dev/shm instead',
  volumes_from: 'Swarm has no volumes_from: mount the same named volume',
  mem_limit: 'use deploy.resources.limits.memory',
  memswap_limit: 'use deploy.resources.limits.memory',
  cpus: 'use deploy.resources.limits.cpus',
  cpu_shares: 'use deploy.resources.limits.cpus',
  mem_reservation: 'use deploy.resources.reservations.memory',
  oom_score_adj: 'Swarm ignores oom_score_adj',
  group_add: 'Swarm ignores group_add',
  platform: 'use deploy.placement.constraints (node.platform.arch)',
};

function where(project: ComposeProject, path: ModelPath): string {
  for (let n = path.length; n >= 0; n--) {
    const loc = project.locate(path.slice(0, n));
    if (loc) return formatLocation(loc);
  }
  return project.files[0] ? formatLocation({ file: project.files[0], line: 1, column: 1 }) : '';
}

function absolute(project: ComposeProject, path: string): string {
  return isAbsolute(path) ? path : resolve(project.workingDir, path);
}

/** `restart:` as Swarm's restart policy. */
export function restartPolicy(restart: string): Json | undefined {
  if (restart === 'no') return { condition: 'none' };
  if (restart === 'always' || restart === 'unless-stopped') return { condition: 'any' };
  const m = /^on-failure(?::(\d+))?$/.exec(restart);
  if (m) return m[1] ? { condition: 'on-failure', max_attempts: Number(m[1]) } : { condition: 'on-failure' };
  return undefined;
}

/** Services in dependency layers (depends_on), each layer in file order; a cycle is an error. */
export function dependencyLayers(services: Record<string, ServiceModel>): string[][] {
  const names = Object.keys(services);
  const placed = new Set<string>();
  const layers: string[][] = [];
  while (placed.size < names.length) {
    const layer = names.filter((n) => !placed.has(n) && Object.keys(services[n]!.dependsOn).every((d) => placed.has(d) || !services[d]));
    if (layer.length === 0) throw new BerthError(`depends_on has a cycle among ${names.filter((n) => !placed.has(n)).join(', ')}`);
    layer.forEach((n) => placed.add(n));
    layers.push(layer);
  }
  return layers;
}

/** A database or a service declared stateful: never two tasks on one volume at once. */
export function isStatefulService(service: ServiceModel): boolean {
  if (service.berth.rollout.stateful) return true;
  if (service.berth.backup && service.berth.backup.type !== 'volume') return true;
  return /(^|\/)(postgres|mysql|mariadb|mongo|redis)(:|$)/.test(service.image ?? '');
}

function hash(content: Buffer | string): string {
  return createHash('sha256').update(content).digest('hex').slice(0, 12);
}

/** Short volume syntax with a relative host path → absolute. */
function absoluteVolume(project: ComposeProject, volume: unknown): unknown {
  if (typeof volume === 'string') {
    const [source, ...rest] = volume.split(':');
    if (rest.length && source && (source.startsWith('.') || source.startsWith('~'))) return [absolute(project, source), ...rest].join(':');
    return volume;
  }
  if (volume && typeof volume === 'object') {
    const v = volume as Json;
    if (v.type === 'bind' && typeof v.source === 'string') return { ...v, source: absolute(project, v.source) };
  }
  return volume;
}

export function renderStack(project: ComposeProject, options: StackRenderOptions = {}): RenderedStack {
  const findings: StackFinding[] = [];
  const notes: string[] = [];
  const refuse = (id: string, path: ModelPath, message: string, service?: string) => findings.push({ level: 'error', id, service, message, where: where(project, path), path });
  const warn = (id: string, path: ModelPath, message: string, service?: string) => findings.push({ level: 'warning', id, service, message, where: where(project, path), path });
  const read = options.readFile ?? ((p: string) => readFileSync(p));
  const env = options.env ?? process.env;
  const model = project.model;

  // Secrets and configs: content-hashed names.
  const objects = (kind: 'secrets' | 'configs'): { rendered: Json; list: StackObject[] } => {
    const rendered: Json = {};
    const list: StackObject[] = [];
    for (const [key, value] of Object.entries((model[kind] as Json | undefined) ?? {})) {
      const def = { ...((value as Json | null) ?? {}) };
      for (const k of Object.keys(def)) if (k.startsWith('x-')) delete def[k];
      if (def.external) { rendered[key] = def; continue; }
      let content: Buffer | undefined;
      // Format 3.8 has only file sources: the deploy writes an environment or content source to a private file.
      let inline: string | undefined;
      if (typeof def.file === 'string') {
        const file = absolute(project, def.file);
        try { content = read(file); } catch (error) {
          refuse(`swarm-${kind}-file`, [kind, key, 'file'], `${kind.slice(0, -1)} ${key}: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
          continue;
        }
        def.file = file;
      } else if (typeof def.environment === 'string') {
        const value = env[def.environment];
        if (value === undefined) { refuse(`swarm-${kind}-environment`, [kind, key, 'environment'], `${kind.slice(0, -1)} ${key}: environment variable ${def.environment} is not set`); continue; }
        content = Buffer.from(value);
        inline = value;
        delete def.environment;
      } else if (typeof def.content === 'string') {
        content = Buffer.from(def.content);
        inline = def.content;
        delete def.content;
      } else {
        refuse(`swarm-${kind}-source`, [kind, key], `${kind.slice(0, -1)} ${key} has no file, environment or content: Swarm needs its content`);
        continue;
      }
      const h = hash(content);
      const name = `${project.name}_${key}_${h}`;
      if (def.name !== undefined) warn(`swarm-${kind}-name`, [kind, key, 'name'], `${kind.slice(0, -1)} ${key}: name ${String(def.name)} is replaced by ${name} (content-hashed, so a change rolls out)`);
      def.name = name;
      def.labels = { ...((def.labels as Json | undefined) ?? {}), 'berth.stack': project.name, 'berth.content-hash': h };
      rendered[key] = def;
      list.push({ key, name, hash: h, ...(inline === undefined ? {} : { content: inline }) });
    }
    return { rendered, list };
  };
  const secrets = objects('secrets');
  const configs = objects('configs');

  const services: Json = {};
  for (const [name, service] of Object.entries(project.services)) {
    const raw = service.raw;
    const out: Json = {};
    const at = (...rest: Array<string | number>) => ['services', name, ...rest];
    for (const [key, value] of Object.entries(raw)) {
      if (key.startsWith('x-')) continue;
      if (REFUSED[key] !== undefined) { refuse(`swarm-${key.replace(/_/g, '-')}`, at(key), `${name}: ${key} is not supported on Swarm (docker stack deploy would ignore it): ${REFUSED[key]}`, name); continue; }
      if (HANDLED.has(key)) continue;
      if (!SUPPORTED.has(key)) { refuse('swarm-unsupported', at(key), `${name}: ${key} is not supported by docker stack deploy`, name); continue; }
      out[key] = value;
    }
    if (service.hasBuild && !options.built?.has(name)) {
      refuse('swarm-build', at('build'), `${name}: build is not done by docker stack deploy: ${service.image ? `let berth build ${service.image} and load it on every node (berth deploy --swarm, with a docker context per node), or build and push it to a registry every node reaches` : 'give the service an image: name, so that every node can find what is built'}`, name);
    }
    if (!service.image) refuse('swarm-image', at(), `${name}: a Swarm service needs image:`, name);
    // Environment from the typed model: env_file read underneath, variables without value left out.
    const environment = Object.fromEntries(Object.entries(service.environment).filter((e): e is [string, string] => e[1] !== null));
    if (Object.keys(environment).length) out.environment = environment;
    else delete out.environment;
    if (Object.keys(service.labels).length) out.labels = service.labels;
    if (Array.isArray(raw.volumes)) out.volumes = raw.volumes.map((v) => absoluteVolume(project, v));
    // Ports: Swarm publishes on every address, so a port bound to one address is refused.
    service.ports.forEach((p, i) => {
      if (p.hostIp && p.hostIp !== '0.0.0.0' && p.hostIp !== '::') refuse('swarm-port-host-ip', at('ports', i), `${name}: port ${p.target} is bound to ${p.hostIp}: Swarm publishes on every address of the node; publish without an address behind a firewall, or leave the port unpublished and reach it through a proxy`, name);
    });
    if (service.ports.length) {
      out.ports = service.ports.map((p) => ({ target: p.target, ...(p.published ? { published: Number(p.published) } : {}), protocol: p.protocol, mode: p.mode }));
    }
    if (service.healthcheck && raw.healthcheck && typeof raw.healthcheck === 'object') {
      const hc = { ...(raw.healthcheck as Json) };
      if ('start_interval' in hc) { delete hc.start_interval; notes.push(`${name}: healthcheck start_interval left out (not in the stack file format; Engine 20.10 ignores it)`); }
      out.healthcheck = hc;
    }
    const deploy: Json = { ...((raw.deploy as Json | undefined) ?? {}) };
    if (deploy.replicas === undefined && service.replicas !== 1) deploy.replicas = service.replicas;
    if (service.restart && deploy.restart_policy === undefined) {
      const policy = restartPolicy(service.restart);
      if (policy) { deploy.restart_policy = policy; notes.push(`${name}: restart: ${service.restart} → deploy.restart_policy.condition: ${String(policy.condition)}`); }
    }
    const stateful = isStatefulService(service);
    const gated = Boolean(service.healthcheck && !service.healthcheck.disabled);
    const monitorMs = service.berth.rollout.monitorMs ?? (gated ? Math.max(5_000, service.healthcheck!.intervalMs * service.healthcheck!.retries) : 5_000);
    const filled: string[] = [];
    const fill = (key: 'update_config' | 'rollback_config', defaults: Json) => {
      const current = { ...((deploy[key] as Json | undefined) ?? {}) };
      for (const [k, v] of Object.entries(defaults)) if (current[k] === undefined) { current[k] = v; filled.push(`${key}.${k}: ${String(v)}`); }
      deploy[key] = current;
    };
    const order = stateful || service.berth.rollout.stopFirst ? 'stop-first' : gated ? 'start-first' : 'stop-first';
    fill('update_config', { order, failure_action: 'rollback', monitor: `${Math.ceil(monitorMs / 1000)}s`, parallelism: 1 });
    fill('rollback_config', { order, parallelism: 0 });
    if (filled.length) notes.push(`${name}: ${filled.join(', ')}${stateful ? ' (stateful)' : ''}`);
    out.deploy = deploy;
    if (!out.image && service.image) out.image = service.image;
    services[name] = out;
  }

  const section = (key: 'networks' | 'volumes'): Json | undefined => {
    const value = model[key] as Json | undefined;
    if (!value) return undefined;
    const rendered: Json = {};
    for (const [k, v] of Object.entries(value)) {
      const def = { ...((v as Json | null) ?? {}) };
      for (const f of Object.keys(def)) if (f.startsWith('x-')) delete def[f];
      rendered[k] = def;
    }
    return rendered;
  };

  const file: Json = { version: '3.8', services };
  const networks = section('networks');
  const volumes = section('volumes');
  if (networks) file.networks = networks;
  if (volumes) file.volumes = volumes;
  if (Object.keys(secrets.rendered).length) file.secrets = secrets.rendered;
  if (Object.keys(configs.rendered).length) file.configs = configs.rendered;

  let order: string[][] = [];
  try { order = dependencyLayers(project.services); } catch (error) { refuse('swarm-depends-on-cycle', ['services'], (error as Error).message); }
  return { name: project.name, file, order, secrets: secrets.list, configs: configs.list, notes, findings };
}

/** Refuses a stack with errors: every finding with its file:line, in one error. */
export function assertDeployable(stack: RenderedStack): void {
  const errors = stack.findings.filter((f) => f.level === 'error');
  if (!errors.length) return;
  const lines = errors.map((f) => `${f.where ? `${f.where}: ` : ''}${f.message}`);
  throw new BerthError(lines.length === 1 ? lines[0]! : `${lines.length} problems for Swarm:\n  ${lines.join('\n  ')}`, { exitCode: ExitCode.usage });
}
