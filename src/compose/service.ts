/**
 * From a merged, interpolated service definition (spec shape) to the typed ServiceModel:
 * ports, networks, depends_on, healthcheck with Docker's defaults, labels and environment as maps
 * (env_file and label_file read underneath, as Compose does), replicas, stop grace period.
 */
import { readFile } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { parseDuration } from '../lib/duration.js';
import { BerthError, clip, quoted } from '../lib/errors.js';
import { parseDotenv } from './dotenv.js';
import type { Lookup } from './interpolate.js';
import { splitPortSpec } from './merge.js';
import { formatLocation, formatPath } from './source.js';
import type { Healthcheck, ModelPath, PortMapping, ServiceDependency, ServiceModel, ServiceNetwork, SourceLocation } from './types.js';
import { parseServiceBerth, type XBerthProblem } from './xberth.js';

type Json = Record<string, unknown>;

/** Docker's healthcheck defaults. */
export const HEALTHCHECK_DEFAULTS = { intervalMs: 30_000, timeoutMs: 30_000, retries: 3, startPeriodMs: 0, startIntervalMs: 5_000 } as const;
export const DEFAULT_STOP_GRACE_PERIOD_MS = 10_000;

export interface ServiceContext {
  workingDir: string;
  lookup: Lookup;
  locate: (path: ModelPath) => SourceLocation | undefined;
  warnings: string[];
  /** x-berth problems, collected so that all of them are reported at once. */
  xberthProblems?: XBerthProblem[];
}

function where(ctx: Pick<ServiceContext, 'locate'>, path: ModelPath): string {
  for (let n = path.length; n >= 0; n--) {
    const loc = ctx.locate(path.slice(0, n));
    if (loc) return `${formatLocation(loc)}: `;
  }
  return '';
}

function duration(value: unknown, fallback: number, path: ModelPath, ctx: Pick<ServiceContext, 'locate'>): number {
  if (value === undefined || value === null) return fallback;
  try {
    return parseDuration(value as string | number, formatPath(path));
  } catch (error) {
    throw new BerthError(`${where(ctx, path)}${(error as Error).message}`);
  }
}

const PROTOCOLS = new Set(['tcp', 'udp', 'sctp']);

function parseRange(text: string): [number, number] | undefined {
  const m = /^(\d+)(?:-(\d+))?$/.exec(text);
  if (!m) return undefined;
  const start = Number(m[1]);
  const end = m[2] === undefined ? start : Number(m[2]);
  if (start < 0 || end > 65535 || end < start) return undefined;
  return [start, end];
}

/**
 * Parses one `ports` entry: short syntax ("80", "8080:80", "127.0.0.1:8080:80/udp",
 * "127.0.0.1::80", "8080-8081:80-81", "[::1]:8080:80") or long syntax. A target range expands into
 * one mapping per port, as Compose does.
 */
export function parsePort(entry: unknown): PortMapping[] {
  if (typeof entry === 'number') return parsePort(String(entry));
  if (entry && typeof entry === 'object') {
    const p = entry as Json;
    const target = Number(p.target);
    if (!Number.isInteger(target) || target < 1 || target > 65535) throw new Error(`target must be a port number, not ${JSON.stringify(p.target)}`);
    const protocol = String(p.protocol ?? 'tcp').toLowerCase();
    if (!PROTOCOLS.has(protocol)) throw new Error(`unknown protocol ${quoted(protocol)}`);
    const mode = String(p.mode ?? 'ingress');
    if (mode !== 'ingress' && mode !== 'host') throw new Error(`mode must be ingress or host, not ${quoted(mode)}`);
    const published = p.published === undefined || p.published === null || p.published === '' ? undefined : String(p.published);
    if (published !== undefined && !parseRange(published)) throw new Error(`published must be a port or range, not ${quoted(published)}`);
    return [{ hostIp: p.host_ip ? String(p.host_ip) : '', published, target, protocol: protocol as PortMapping['protocol'], mode }];
  }
  if (typeof entry !== 'string') throw new Error(`a port must be a string, number or mapping`);
  const [spec, protocolText = 'tcp', ...extra] = entry.trim().split('/');
  const protocol = protocolText.toLowerCase();
  if (extra.length > 0 || !PROTOCOLS.has(protocol)) throw new Error(`invalid protocol in ${quoted(entry)}`);
  const parts = splitPortSpec(spec!);
  if (parts.length > 3) throw new Error(`invalid port ${quoted(entry)}`);
  const targetText = parts.pop()!;
  const publishedText = parts.pop() ?? '';
  const hostIp = parts.pop() ?? '';
  const target = parseRange(targetText);
  if (!target || target[0] === 0) throw new Error(`invalid container port ${quoted(targetText)} in ${quoted(entry)}`);
  const published = publishedText === '' ? undefined : parseRange(publishedText);
  if (publishedText !== '' && !published) throw new Error(`invalid host port ${quoted(publishedText)} in ${quoted(entry)}`);
  const targetCount = target[1] - target[0] + 1;
  const publishedCount = published ? published[1] - published[0] + 1 : 0;
  if (published && targetCount > 1 && publishedCount !== targetCount) throw new Error(`port ranges of different sizes in ${quoted(entry)}`);
  const out: PortMapping[] = [];
  for (let i = 0; i < targetCount; i++) {
    let pub: string | undefined;
    if (published) pub = targetCount > 1 ? String(published[0] + i) : publishedCount > 1 ? `${published[0]}-${published[1]}` : String(published[0]);
    out.push({ hostIp, published: pub, target: target[0] + i, protocol: protocol as PortMapping['protocol'], mode: 'ingress' });
  }
  return out;
}

function mapOfStrings(value: unknown): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  if (Array.isArray(value)) {
    for (const item of value) {
      const text = String(item);
      const i = text.indexOf('=');
      if (i < 0) out[text] = null;
      else out[text.slice(0, i)] = text.slice(i + 1);
    }
  } else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) out[k] = v === null || v === undefined ? null : String(v);
  }
  return out;
}

function stringList(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? value.map(String) : [String(value)];
}

interface FileRef { path: string; required: boolean; format?: string }

function fileRefs(value: unknown): FileRef[] {
  if (value === undefined || value === null) return [];
  const items = Array.isArray(value) ? value : [value];
  return items.map((item) => {
    if (item && typeof item === 'object') {
      const o = item as Json;
      return { path: String(o.path), required: o.required !== false && o.required !== 'false', ...(o.format ? { format: String(o.format) } : {}) };
    }
    return { path: String(item), required: true };
  });
}

async function readVarsFile(ref: FileRef, path: ModelPath, what: string, ctx: ServiceContext): Promise<Record<string, string>> {
  const file = isAbsolute(ref.path) ? ref.path : resolve(ctx.workingDir, ref.path);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if (!ref.required && (error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new BerthError(`${where(ctx, path)}${what} ${clip(file)} cannot be read: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as NodeJS.ErrnoException).code ?? clip((error as Error).message)}`);
  }
  if (ref.format === 'raw') {
    const out: Record<string, string> = {};
    for (const line of text.split(/\r?\n/)) {
      if (line.trim() === '' || line.trimStart().startsWith('#')) continue;
      const i = line.indexOf('=');
      if (i > 0) out[line.slice(0, i).trim()] = line.slice(i + 1);
    }
    return out;
  }
  return parseDotenv(text, file, ctx.lookup);
}

export function parseHealthcheck(raw: unknown, path: ModelPath, ctx: Pick<ServiceContext, 'locate'>): Healthcheck | undefined {
  if (raw === undefined || raw === null) return undefined;
  const h = raw as Json;
  const test = h.test === undefined || h.test === null ? undefined : Array.isArray(h.test) ? h.test.map(String) : String(h.test);
  const disabled = h.disable === true || (Array.isArray(test) && test[0] === 'NONE');
  return {
    test,
    intervalMs: duration(h.interval, HEALTHCHECK_DEFAULTS.intervalMs, [...path, 'interval'], ctx),
    timeoutMs: duration(h.timeout, HEALTHCHECK_DEFAULTS.timeoutMs, [...path, 'timeout'], ctx),
    retries: h.retries === undefined || h.retries === null ? HEALTHCHECK_DEFAULTS.retries : Number(h.retries),
    startPeriodMs: duration(h.start_period, HEALTHCHECK_DEFAULTS.startPeriodMs, [...path, 'start_period'], ctx),
    startIntervalMs: duration(h.start_interval, HEALTHCHECK_DEFAULTS.startIntervalMs, [...path, 'start_interval'], ctx),
    disabled,
  };
}

export async function buildService(name: string, raw: Json, ctx: ServiceContext): Promise<ServiceModel> {
  const base = ['services', name];

  const ports: PortMapping[] = [];
  ((raw.ports ?? []) as unknown[]).forEach((entry, i) => {
    try {
      ports.push(...parsePort(entry));
    } catch (error) {
      throw new BerthError(`${where(ctx, [...base, 'ports', i])}${formatPath([...base, 'ports', i])}: ${(error as Error).message}`);
    }
  });

  const networkMode = raw.network_mode === undefined ? undefined : String(raw.network_mode);
  const networks: Record<string, ServiceNetwork> = {};
  if (raw.networks && typeof raw.networks === 'object') {
    const entries = Array.isArray(raw.networks) ? raw.networks.map((n) => [String(n), null] as const) : Object.entries(raw.networks as Json);
    for (const [net, config] of entries) {
      const c = (config ?? {}) as Json;
      const network: ServiceNetwork = { aliases: stringList(c.aliases) };
      if (c.ipv4_address) network.ipv4Address = String(c.ipv4_address);
      if (c.ipv6_address) network.ipv6Address = String(c.ipv6_address);
      networks[net] = network;
    }
  } else if (networkMode === undefined) {
    networks.default = { aliases: [] };
  }

  const dependsOn: Record<string, ServiceDependency> = {};
  if (raw.depends_on && typeof raw.depends_on === 'object') {
    const entries = Array.isArray(raw.depends_on) ? raw.depends_on.map((n) => [String(n), null] as const) : Object.entries(raw.depends_on as Json);
    for (const [dep, config] of entries) {
      const c = (config ?? {}) as Json;
      dependsOn[dep] = {
        condition: (c.condition as ServiceDependency['condition'] | undefined) ?? 'service_started',
        restart: c.restart === true,
        required: c.required !== false,
      };
    }
  }

  const environment: Record<string, string | null> = {};
  for (const [i, ref] of fileRefs(raw.env_file).entries()) Object.assign(environment, await readVarsFile(ref, [...base, 'env_file', i], 'env_file', ctx));
  for (const [key, value] of Object.entries(mapOfStrings(raw.environment))) {
    // `KEY` without a value takes the value from the environment Compose runs in, when set.
    environment[key] = value ?? ctx.lookup(key) ?? null;
  }

  const labels: Record<string, string> = {};
  for (const [i, ref] of fileRefs(raw.label_file).entries()) Object.assign(labels, await readVarsFile(ref, [...base, 'label_file', i], 'label_file', ctx));
  for (const [key, value] of Object.entries(mapOfStrings(raw.labels))) labels[key] = value ?? '';

  const deploy = (raw.deploy ?? {}) as Json;
  const replicas = deploy.replicas ?? raw.scale ?? 1;

  return {
    name,
    raw,
    image: raw.image === undefined || raw.image === null ? undefined : String(raw.image),
    hasBuild: raw.build !== undefined && raw.build !== null,
    replicas: Number(replicas),
    containerName: raw.container_name === undefined ? undefined : String(raw.container_name),
    networkMode,
    networks,
    ports,
    dependsOn,
    healthcheck: parseHealthcheck(raw.healthcheck, [...base, 'healthcheck'], ctx),
    labels,
    environment,
    profiles: stringList(raw.profiles),
    init: typeof raw.init === 'boolean' ? raw.init : undefined,
    stopSignal: raw.stop_signal === undefined ? undefined : String(raw.stop_signal),
    stopGracePeriodMs: duration(raw.stop_grace_period, DEFAULT_STOP_GRACE_PERIOD_MS, [...base, 'stop_grace_period'], ctx),
    restart: raw.restart === undefined ? undefined : String(raw.restart),
    berth: parseServiceBerth(raw['x-berth'], name, { locate: ctx.locate, workingDir: ctx.workingDir, warnings: ctx.warnings, problems: ctx.xberthProblems }, Object.keys(networks)),
  };
}
