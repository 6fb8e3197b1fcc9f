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
import type { BackupDestinationConfig, BackupTargetConfig, DrainConfig, HookConfig, ModelPath, ProjectBerthConfig, ServiceBerthConfig, SourceLocation } from './types.js';

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
});

export const projectBerthSchema: Json = object({
  deploy: object({
    migrate: object({ service: str, command, timeout: duration }, ['service']),
    pre_hooks: { type: 'array', items: hook },
    post_hooks: { type: 'array', items: hook },
    lock_wait: duration,
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
    retention: object({ keep_last: posInt, daily: posInt, weekly: posInt, monthly: posInt }),
    encryption: object({ age_recipients: { type: 'array', items: str }, age_identity_file: str }),
  }),
  check: object({
    rules: { type: 'object', additionalProperties: { enum: ['off', 'info', 'warning', 'error'] } },
  }),
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

/** Unknown keys become warnings; the first other problem is thrown. */
function check(validate: ValidateFunction, value: unknown, base: ModelPath, ctx: XBerthContext): void {
  if (validate(value)) return;
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
  if (problems.length > 0) throw new BerthError(problems[0]!, { hint: problems.length > 1 ? `and ${problems.length - 1} more x-berth problem(s)` : undefined });
}

function ms(value: unknown, path: ModelPath, ctx: XBerthContext): number | undefined;
function ms(value: unknown, path: ModelPath, ctx: XBerthContext, fallback: number): number;
function ms(value: unknown, path: ModelPath, ctx: XBerthContext, fallback?: number): number | undefined {
  if (value === undefined || value === null) return fallback;
  try {
    return parseDuration(value as string | number, formatPath(path));
  } catch (error) {
    throw new BerthError(`${at(ctx, path)}${(error as Error).message}`);
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
  check(compiled().service, value, base, ctx);
  const x = value as Json;
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
  return config;
}

/** Traffic networks must be the service's own, and leave it one network to start on. */
function trafficNetworksOf(names: string[], serviceName: string, serviceNetworks: string[], path: ModelPath, ctx: XBerthContext): string[] {
  const unknown = names.find((n) => !serviceNetworks.includes(n));
  if (unknown !== undefined) {
    throw new BerthError(`${at(ctx, path)}${formatPath(path)}: ${quoted(unknown)} is not a network of service ${serviceName} (its networks: ${serviceNetworks.join(', ') || 'none'})`);
  }
  if (serviceNetworks.every((n) => names.includes(n))) {
    throw new BerthError(`${at(ctx, path)}${formatPath(path)} names every network of service ${serviceName}: a new replica needs one other network to start on (its database, say)`, {
      hint: 'leave rollout.traffic_networks out to have new replicas join DNS on all networks once healthy',
    });
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
  check(compiled().project, value, base, ctx);
  const x = value as Json;
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
  for (const [key, prop] of [['keep_last', 'keepLast'], ['daily', 'daily'], ['weekly', 'weekly'], ['monthly', 'monthly']] as const) {
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
  return config;
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
