/**
 * The `x-berth` extension, top-level and per service: validated with an ajv schema (snake_case
 * YAML keys) and turned into the typed ProjectBerthConfig / ServiceBerthConfig. Unknown keys are
 * warnings (with file:line), wrong types and bad durations are BerthErrors (with file:line).
 */
import { isAbsolute, resolve } from 'node:path';
import { createRequire } from 'node:module';
import type { ErrorObject, ValidateFunction } from 'ajv/dist/2019.js';
import { parseDuration } from '../lib/duration.js';
import { BerthError, quoted } from '../lib/errors.js';
import { formatLocation, formatPath } from './source.js';
import type { BackupDestinationConfig, BackupTargetConfig, DrainConfig, HookConfig, ModelPath, MonitorConfig, NotifierConfig, ProjectBerthConfig, ServiceBerthConfig, SourceLocation } from './types.js';

type Json = Record<string, unknown>;

const duration = { type: ['string', 'number'] };
const command = { oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }] };
const str = { type: 'string' };
const bool = { type: 'boolean' };
const posInt = { type: 'integer', minimum: 0 };

function object(properties: Record<string, unknown>, required: string[] = []): Json {
  return { type: 'object', properties, required, additionalProperties: false };
}

function tagged(tag: string, variants: Record<string, Json>): Json {
  return {
    type: 'object',
    required: [tag],
    discriminator: { propertyName: tag },
    oneOf: Object.entries(variants).map(([value, schema]) => ({
      ...schema,
      properties: { [tag]: { const: value }, ...(schema.properties as Json) },
    })),
  };
}

const hook = object({ command, timeout: duration }, ['command']);

export const serviceBerthSchema: Json = object({
  rollout: object({
    timeout: duration,
    batch: { type: 'integer', minimum: 1 },
    monitor: duration,
    stateful: bool,
    stop_first: bool,
    traffic_networks: { type: 'array', items: str, minItems: 1, uniqueItems: true },
    drain: tagged('strategy', {
      wait: object({ duration }),
      readiness: object({ path: str, port: { type: 'integer', minimum: 1, maximum: 65535 }, duration }, ['path', 'port']),
      file: object({ path: str, duration }, ['path']),
      hook: object({ command, timeout: duration }, ['command']),
    }),
  }),
  backup: tagged('type', {
    postgres: object({ database: str, user: str, password_file: str, schedule: str, destination: str }),
    mysql: object({ database: str, user: str, password_file: str, schedule: str, destination: str }),
    volume: object({ volumes: { type: 'array', items: str, minItems: 1 }, stop_containers: bool, schedule: str, destination: str }, ['volumes']),
  }),
  shutdown_deadline: duration,
  monitor: object({ url: str, interval: duration, timeout: duration }),
});

export const projectBerthSchema: Json = object({
  deploy: object({
    migrate: object({ service: str, command, timeout: duration }, ['service']),
    pre_hooks: { type: 'array', items: hook },
    post_hooks: { type: 'array', items: hook },
    lock_wait: duration,
    log_scan: object({ mode: { enum: ['blocking', 'advisory', 'off'] }, patterns: { type: 'array', items: str }, ignore: { type: 'array', items: str }, lines: { type: 'integer', minimum: 1 } }),
  }),
  backup: object({
    destinations: {
      type: 'object',
      additionalProperties: tagged('type', {
        local: object({ path: str }, ['path']),
        sftp: object({ host: str, port: { type: 'integer', minimum: 1, maximum: 65535 }, user: str, path: str, identity_file: str, password_file: str }, ['host', 'user', 'path']),
        restic: object({ repository: str, password_file: str }, ['repository', 'password_file']),
      }),
    },
    default_destination: str,
    retention: object({ keep_last: posInt, daily: posInt, weekly: posInt, monthly: posInt, safety_days: posInt }),
    encryption: object({ age_recipients: { type: 'array', items: str }, age_identity_file: str }),
  }),
  check: object({
    rules: { type: 'object', additionalProperties: { enum: ['off', 'info', 'warning', 'error'] } },
  }),
  monitor: object({
    notify: {
      type: 'array',
      items: tagged('type', {
        webhook: object({ name: str, url: str, headers: { type: 'object', additionalProperties: str } }, ['url']),
        ntfy: object({ name: str, url: str, token_file: str, priority: { type: 'integer', minimum: 1, maximum: 5 } }, ['url']),
        email: object({ name: str, smtp: str, from: str, to: { oneOf: [str, { type: 'array', items: str, minItems: 1 }] }, user: str, password_file: str }, ['smtp', 'from', 'to']),
      }),
    },
    heartbeat: object({ url: str, every: duration }, ['url']),
    group_wait: duration,
    repeat_interval: duration,
    status: object({ public: bool, token_file: str, title: str }),
  }),
  maintain: object({ schedule: str, keep: { type: 'integer', minimum: 1 } }),
});

let validators: { service: ValidateFunction; project: ValidateFunction } | undefined;

const require = createRequire(import.meta.url);

/** Options shared by the run-time compile and the ahead-of-time one (scripts/build-schema.mjs). */
export const XBERTH_AJV_OPTIONS = { allErrors: true, strict: false, discriminator: true, allowUnionTypes: true, validateSchema: false, meta: false } as const;

/**
 * The validators: compiled ahead of time by the build when it could (a cold start saves the
 * compile and ajv itself), else compiled here.
 */
function compiled() {
  if (!validators) {
    try {
      validators = require('./xberth-validators.cjs') as { service: ValidateFunction; project: ValidateFunction };
    } catch {
      const { Ajv2019 } = require('ajv/dist/2019.js') as typeof import('ajv/dist/2019.js');
      const ajv = new Ajv2019({ ...XBERTH_AJV_OPTIONS, code: { optimize: false } });
      validators = { service: ajv.compile(serviceBerthSchema), project: ajv.compile(projectBerthSchema) };
    }
  }
  return validators;
}

export interface XBerthContext {
  /** Where a model path was written. */
  locate: (path: ModelPath) => SourceLocation | undefined;
  /** Relative host paths resolve from here. */
  workingDir: string;
  warnings: string[];
  /**
   * Where every problem goes (wrong types, bad durations, unknown networks), so that the loader can
   * report all of them at once; without it the first problem is thrown.
   */
  problems?: XBerthProblem[];
  /** Locations (file:line:col) the schema check reported already. */
  reported?: Set<string>;
}

export interface XBerthProblem {
  message: string;
  hint?: string;
}

/** Records a problem (or throws it when the caller collects none). */
function problem(ctx: XBerthContext, message: string, hint?: string): void {
  if (!ctx.problems) throw new BerthError(message, { hint });
  if (ctx.reported?.has(LOCATION.exec(message)?.[0] ?? '')) return;
  ctx.problems.push({ message, hint });
}

/**
 * A section that fails the schema is still read, for the problems only the reading finds (bad
 * durations, unknown networks); what the reading trips over there was reported by the schema.
 */
function readChecked<T>(valid: boolean, read: () => T, fallback: T): T {
  if (valid) return read();
  try {
    read();
  } catch {
    // reported by the schema check
  }
  return fallback;
}

/** All problems at once: one line for one, a list under a heading for several. */
export function xberthProblemsError(problems: XBerthProblem[]): BerthError {
  if (problems.length === 1) return new BerthError(problems[0]!.message, { hint: problems[0]!.hint });
  return new BerthError(`${problems.length} x-berth problems:\n${problems.map((p) => `  ${p.message}`).join('\n')}`);
}

function locateNearest(ctx: XBerthContext, path: ModelPath): SourceLocation | undefined {
  for (let n = path.length; n >= 0; n--) {
    const loc = ctx.locate(path.slice(0, n));
    if (loc) return loc;
  }
  return undefined;
}

function at(ctx: XBerthContext, path: ModelPath): string {
  const loc = locateNearest(ctx, path);
  return loc ? `${formatLocation(loc)}: ` : '';
}

function toPath(instancePath: string): (string | number)[] {
  if (instancePath === '') return [];
  return instancePath.slice(1).split('/').map((p) => (/^\d+$/.test(p) ? Number(p) : p.replaceAll('~1', '/').replaceAll('~0', '~')));
}

/** Unknown keys become warnings; the other problems are recorded. False when there was one. */
function check(validate: ValidateFunction, value: unknown, base: ModelPath, ctx: XBerthContext): boolean {
  if (validate(value)) return true;
  const errors: ErrorObject[] = validate.errors ?? [];
  const problems: string[] = [];
  for (const error of errors) {
    const path = [...base, ...toPath(error.instancePath)];
    if (error.keyword === 'additionalProperties') {
      const key = String((error.params as { additionalProperty: string }).additionalProperty);
      ctx.warnings.push(`${at(ctx, [...path, key])}unknown x-berth key ${formatPath([...path, key])}`);
      continue;
    }
    if (error.keyword === 'oneOf' && errors.some((e) => e !== error && e.instancePath.startsWith(error.instancePath))) continue;
    let message: string;
    if (error.keyword === 'discriminator') {
      const params = error.params as { tag: string; tagValue?: unknown; error?: string };
      const tag = params.tag;
      message = params.error === 'mapping' ? `${formatPath([...path, tag])}: unknown ${tag} ${JSON.stringify(params.tagValue)}` : `${formatPath([...path, tag])} must be a string`;
      problems.push(`${at(ctx, [...path, tag])}${message}`);
      continue;
    }
    if (error.keyword === 'required') message = `${formatPath(path)}: missing ${(error.params as { missingProperty: string }).missingProperty}`;
    else if (error.keyword === 'type') message = `${formatPath(path)} must be ${String((error.params as { type: string }).type).replace(',', ' or ')}`;
    else if (error.keyword === 'enum') message = `${formatPath(path)} must be one of ${((error.params as { allowedValues: unknown[] }).allowedValues).join(', ')}`;
    else message = `${formatPath(path)} ${error.message ?? 'is invalid'}`;
    problems.push(`${at(ctx, path)}${message}`);
  }
  if (problems.length > 0 && !ctx.problems) throw xberthProblemsError(problems.map((message) => ({ message })));
  ctx.problems?.push(...problems.map((message) => ({ message })));
  return problems.length === 0;
}

function ms(value: unknown, path: ModelPath, ctx: XBerthContext): number | undefined;
function ms(value: unknown, path: ModelPath, ctx: XBerthContext, fallback: number): number;
function ms(value: unknown, path: ModelPath, ctx: XBerthContext, fallback?: number): number | undefined {
  if (value === undefined || value === null) return fallback;
  try {
    return parseDuration(value as string | number, formatPath(path));
  } catch (error) {
    problem(ctx, `${at(ctx, path)}${(error as Error).message}`);
    return fallback;
  }
}

function hostPath(path: string, ctx: XBerthContext): string {
  return isAbsolute(path) ? path : resolve(ctx.workingDir, path);
}

function commandOf(value: unknown): string[] | string {
  return Array.isArray(value) ? value.map(String) : String(value);
}

/** A service's x-berth (undefined, null or {} gives the defaults). */
export function parseServiceBerth(value: unknown, serviceName: string, ctx: XBerthContext, serviceNetworks: string[] = []): ServiceBerthConfig {
  const base = ['services', serviceName, 'x-berth'];
  if (value === undefined || value === null) return { rollout: {} };
  const valid = check(compiled().service, value, base, ctx);
  return readChecked(valid, () => readServiceBerth(value as Json, serviceName, base, valid ? ctx : unreported(ctx), serviceNetworks), { rollout: {} });
}

const LOCATION = /^[^:]+:\d+:\d+: /;

/** After a failed schema check: only problems at places the schema did not already report. */
function unreported(ctx: XBerthContext): XBerthContext {
  return { ...ctx, reported: new Set((ctx.problems ?? []).map((p) => LOCATION.exec(p.message)?.[0] ?? '')) };
}

function readServiceBerth(x: Json, serviceName: string, base: ModelPath, ctx: XBerthContext, serviceNetworks: string[]): ServiceBerthConfig {
  const r = (x.rollout ?? {}) as Json;
  const rp = [...base, 'rollout'];
  const rollout: ServiceBerthConfig['rollout'] = {};
  if (r.timeout !== undefined) rollout.timeoutMs = ms(r.timeout, [...rp, 'timeout'], ctx);
  if (r.batch !== undefined) rollout.batch = r.batch as number;
  if (r.monitor !== undefined) rollout.monitorMs = ms(r.monitor, [...rp, 'monitor'], ctx);
  if (r.stateful !== undefined) rollout.stateful = r.stateful as boolean;
  if (r.stop_first !== undefined) rollout.stopFirst = r.stop_first as boolean;
  if (r.drain) rollout.drain = drainOf(r.drain as Json, [...rp, 'drain'], ctx);
  if (r.traffic_networks !== undefined) rollout.trafficNetworks = trafficNetworksOf(r.traffic_networks as string[], serviceName, serviceNetworks, [...rp, 'traffic_networks'], ctx);
  const config: ServiceBerthConfig = { rollout };
  if (x.backup) config.backup = backupTargetOf(x.backup as Json);
  if (x.shutdown_deadline !== undefined) config.shutdownDeadlineMs = ms(x.shutdown_deadline, [...base, 'shutdown_deadline'], ctx);
  if (x.monitor) config.monitor = monitorOf(x.monitor as Json, [...base, 'monitor'], ctx);
  return config;
}

/** Per-service monitoring: an HTTP(S) URL the agent probes (blackbox_exporter's probe_* names). */
function monitorOf(m: Json, path: ModelPath, ctx: XBerthContext): NonNullable<ServiceBerthConfig['monitor']> {
  const out: NonNullable<ServiceBerthConfig['monitor']> = {};
  if (m.url !== undefined) {
    const url = String(m.url);
    if (!/^https?:\/\/[^/]/.test(url)) throw new BerthError(`${at(ctx, [...path, 'url'])}${formatPath([...path, 'url'])} must be an http:// or https:// URL, got "${url}"`);
    out.url = url;
  }
  if (m.interval !== undefined) out.intervalMs = ms(m.interval, [...path, 'interval'], ctx);
  if (m.timeout !== undefined) out.timeoutMs = ms(m.timeout, [...path, 'timeout'], ctx);
  return out;
}

/** Traffic networks must be the service's own, and leave it one network to start on. */
function trafficNetworksOf(names: string[], serviceName: string, serviceNetworks: string[], path: ModelPath, ctx: XBerthContext): string[] {
  const unknown = names.find((n) => !serviceNetworks.includes(n));
  if (unknown !== undefined) {
    problem(ctx, `${at(ctx, path)}${formatPath(path)}: ${quoted(unknown)} is not a network of service ${serviceName} (its networks: ${serviceNetworks.join(', ') || 'none'})`);
  } else if (serviceNetworks.every((n) => names.includes(n))) {
    problem(ctx, `${at(ctx, path)}${formatPath(path)} names every network of service ${serviceName}: a new replica needs one other network to start on (its database, say)`,
      'leave rollout.traffic_networks out to have new replicas join DNS on all networks once healthy');
  }
  return names;
}

function drainOf(d: Json, path: ModelPath, ctx: XBerthContext): DrainConfig {
  const p = (key: string) => [...path, key];
  switch (d.strategy) {
    case 'readiness':
      return { strategy: 'readiness', path: String(d.path), port: d.port as number, durationMs: ms(d.duration, p('duration'), ctx, 3000) };
    case 'file':
      return { strategy: 'file', path: String(d.path), durationMs: ms(d.duration, p('duration'), ctx, 3000) };
    case 'hook':
      return { strategy: 'hook', command: Array.isArray(d.command) ? d.command.map(String) : ['sh', '-c', String(d.command)], timeoutMs: ms(d.timeout, p('timeout'), ctx, 10_000) };
    default:
      return { strategy: 'wait', durationMs: ms(d.duration, p('duration'), ctx, 5000) };
  }
}

function backupTargetOf(b: Json): BackupTargetConfig {
  const common = {
    ...(b.schedule !== undefined ? { schedule: String(b.schedule) } : {}),
    ...(b.destination !== undefined ? { destination: String(b.destination) } : {}),
  };
  if (b.type === 'volume') return { type: 'volume', volumes: (b.volumes as unknown[]).map(String), stopContainers: b.stop_containers === true, ...common };
  const db = {
    ...(b.database !== undefined ? { database: String(b.database) } : {}),
    ...(b.user !== undefined ? { user: String(b.user) } : {}),
    ...(b.password_file !== undefined ? { passwordFile: String(b.password_file) } : {}),
    ...common,
  };
  return b.type === 'mysql' ? { type: 'mysql', ...db } : { type: 'postgres', ...db };
}

export function defaultProjectBerth(): ProjectBerthConfig {
  return { deploy: { preHooks: [], postHooks: [] }, backup: { destinations: {}, retention: {} }, check: { rules: {} } };
}

/** The top-level x-berth. */
export function parseProjectBerth(value: unknown, ctx: XBerthContext): ProjectBerthConfig {
  const config = defaultProjectBerth();
  if (value === undefined || value === null) return config;
  const base = ['x-berth'];
  const valid = check(compiled().project, value, base, ctx);
  return readChecked(valid, () => readProjectBerth(value as Json, config, base, valid ? ctx : unreported(ctx)), defaultProjectBerth());
}

function readProjectBerth(x: Json, config: ProjectBerthConfig, base: ModelPath, ctx: XBerthContext): ProjectBerthConfig {
  const d = (x.deploy ?? {}) as Json;
  const dp = [...base, 'deploy'];
  if (d.migrate) {
    const m = d.migrate as Json;
    config.deploy.migrate = { service: String(m.service), timeoutMs: ms(m.timeout, [...dp, 'migrate', 'timeout'], ctx, 300_000) };
    if (m.command !== undefined) config.deploy.migrate.command = commandOf(m.command);
  }
  const hooks = (key: 'pre_hooks' | 'post_hooks'): HookConfig[] =>
    ((d[key] ?? []) as Json[]).map((h, i) => ({ command: commandOf(h.command), timeoutMs: ms(h.timeout, [...dp, key, i, 'timeout'], ctx, 60_000) }));
  config.deploy.preHooks = hooks('pre_hooks');
  config.deploy.postHooks = hooks('post_hooks');
  if (d.lock_wait !== undefined) config.deploy.lockWaitMs = ms(d.lock_wait, [...dp, 'lock_wait'], ctx);
  if (d.log_scan) config.deploy.logScan = logScanOf(d.log_scan as Json, [...dp, 'log_scan'], ctx);

  const b = (x.backup ?? {}) as Json;
  for (const [name, dest] of Object.entries((b.destinations ?? {}) as Record<string, Json>)) {
    config.backup.destinations[name] = destinationOf(dest, ctx);
  }
  if (b.default_destination !== undefined) {
    config.backup.defaultDestination = String(b.default_destination);
    if (!(config.backup.defaultDestination in config.backup.destinations) && config.backup.defaultDestination !== 'local') {
      ctx.warnings.push(`${at(ctx, [...base, 'backup', 'default_destination'])}x-berth.backup.default_destination ${quoted(config.backup.defaultDestination)} is not among x-berth.backup.destinations`);
    }
  }
  const r = (b.retention ?? {}) as Json;
  for (const [key, prop] of [['keep_last', 'keepLast'], ['daily', 'daily'], ['weekly', 'weekly'], ['monthly', 'monthly'], ['safety_days', 'safetyDays']] as const) {
    if (r[key] !== undefined) config.backup.retention[prop] = r[key] as number;
  }
  if (b.encryption) {
    const e = b.encryption as Json;
    config.backup.encryption = {};
    if (e.age_recipients) config.backup.encryption.ageRecipients = (e.age_recipients as unknown[]).map(String);
    if (e.age_identity_file) config.backup.encryption.ageIdentityFile = hostPath(String(e.age_identity_file), ctx);
  }
  const c = (x.check ?? {}) as Json;
  config.check.rules = { ...((c.rules ?? {}) as ProjectBerthConfig['check']['rules']) };
  if (x.monitor) config.monitor = projectMonitorOf(x.monitor as Json, [...base, 'monitor'], ctx);
  if (x.maintain) {
    const m = x.maintain as Json;
    config.maintain = { schedule: m.schedule === undefined ? undefined : String(m.schedule), keep: m.keep as number | undefined };
  }
  return config;
}

function logScanOf(l: Json, path: ModelPath, ctx: XBerthContext): ProjectBerthConfig['deploy']['logScan'] {
  const regexes = (key: 'patterns' | 'ignore') => ((l[key] ?? []) as string[]).filter((p, i) => {
    try {
      new RegExp(p, 'i');
      return true;
    } catch (error) {
      problem(ctx, `${at(ctx, [...path, key, i])}${formatPath([...path, key, i])}: not a regular expression: ${(error as Error).message}`);
      return false;
    }
  });
  return {
    ...(l.mode !== undefined ? { mode: l.mode as 'blocking' | 'advisory' | 'off' } : {}),
    ...(l.patterns !== undefined ? { patterns: regexes('patterns') } : {}),
    ...(l.ignore !== undefined ? { ignore: regexes('ignore') } : {}),
    ...(l.lines !== undefined ? { lines: l.lines as number } : {}),
  };
}

/** x-berth monitor: notification channels (each gets a unique name), heartbeat, status page. */
function projectMonitorOf(m: Json, path: ModelPath, ctx: XBerthContext): MonitorConfig {
  const url = (value: unknown, p: ModelPath, schemes: RegExp, expected: string): string => {
    const text = String(value);
    if (!schemes.test(text)) throw new BerthError(`${at(ctx, p)}${formatPath(p)} must be ${expected}, got "${text}"`);
    return text;
  };
  const http = /^https?:\/\/[^/\s]/;
  const names = new Set<string>();
  const notify = ((m.notify ?? []) as Json[]).map((n, i): NotifierConfig => {
    const p = [...path, 'notify', i];
    const name = String(n.name ?? (names.has(String(n.type)) ? `${n.type}-${i + 1}` : n.type));
    if (names.has(name)) throw new BerthError(`${at(ctx, [...p, 'name'])}${formatPath([...p, 'name'])}: "${name}" names two channels`);
    names.add(name);
    if (n.type === 'email') {
      const smtp = url(n.smtp, [...p, 'smtp'], /^smtps?:\/\/[^/\s]/, 'an smtp:// or smtps:// URL');
      const out: NotifierConfig = { type: 'email', name, smtp, from: String(n.from), to: (Array.isArray(n.to) ? n.to : [n.to]).map(String) };
      if (n.user !== undefined) out.user = String(n.user);
      if (n.password_file !== undefined) out.passwordFile = hostPath(String(n.password_file), ctx);
      return out;
    }
    if (n.type === 'ntfy') {
      const out: NotifierConfig = { type: 'ntfy', name, url: url(n.url, [...p, 'url'], http, 'an http:// or https:// URL (the ntfy topic)') };
      if (n.token_file !== undefined) out.tokenFile = hostPath(String(n.token_file), ctx);
      if (n.priority !== undefined) out.priority = n.priority as number;
      return out;
    }
    return { type: 'webhook', name, url: url(n.url, [...p, 'url'], http, 'an http:// or https:// URL'), headers: { ...((n.headers ?? {}) as Record<string, string>) } };
  });
  const out: MonitorConfig = { notify };
  if (m.heartbeat) {
    const h = m.heartbeat as Json;
    out.heartbeat = { url: url(h.url, [...path, 'heartbeat', 'url'], http, 'an http:// or https:// URL'), everyMs: ms(h.every, [...path, 'heartbeat', 'every'], ctx, 300_000) };
  }
  if (m.group_wait !== undefined) out.groupWaitMs = ms(m.group_wait, [...path, 'group_wait'], ctx);
  if (m.repeat_interval !== undefined) out.repeatIntervalMs = ms(m.repeat_interval, [...path, 'repeat_interval'], ctx);
  if (m.status) {
    const st = m.status as Json;
    out.status = {};
    if (st.public !== undefined) out.status.public = st.public as boolean;
    if (st.token_file !== undefined) out.status.tokenFile = hostPath(String(st.token_file), ctx);
    if (st.title !== undefined) out.status.title = String(st.title);
  }
  return out;
}

function destinationOf(d: Json, ctx: XBerthContext): BackupDestinationConfig {
  if (d.type === 'sftp') {
    const out: BackupDestinationConfig = { type: 'sftp', host: String(d.host), port: (d.port as number | undefined) ?? 22, user: String(d.user), path: String(d.path) };
    if (d.identity_file !== undefined) out.identityFile = hostPath(String(d.identity_file), ctx);
    if (d.password_file !== undefined) out.passwordFile = hostPath(String(d.password_file), ctx);
    return out;
  }
  if (d.type === 'restic') return { type: 'restic', repository: String(d.repository), passwordFile: hostPath(String(d.password_file), ctx) };
  return { type: 'local', path: hostPath(String(d.path), ctx) };
}
