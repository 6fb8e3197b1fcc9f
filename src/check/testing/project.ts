/**
 * Test helper: a ComposeProject built straight from YAML text with the yaml package, so rules can
 * be unit-tested without the real loader. Normalizes only what the check rules read; `locate`
 * answers from the YAML source like the real model does.
 */
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import type { ComposeProject, Healthcheck, ModelPath, PortMapping, ServiceModel, SourceLocation } from '../../compose/types.js';
import { parseDuration } from '../../lib/duration.js';
import { parseServiceBerth } from '../../compose/xberth.js';

export interface SourceFile { path: string; text: string }

export function projectFromYaml(text: string, file = '/project/compose.yaml', options: { env?: Record<string, string> } = {}): ComposeProject {
  return projectFromFiles([{ path: file, text }], options);
}

export function projectFromFiles(files: SourceFile[], options: { env?: Record<string, string> } = {}): ComposeProject {
  const docs = files.map((f) => {
    const lineCounter = new LineCounter();
    const doc = parseDocument(f.text, { lineCounter, keepSourceTokens: true, merge: true });
    return { file: f.path, doc, lineCounter };
  });
  const model: Record<string, unknown> = {};
  for (const { doc } of docs) mergeInto(model, interpolate(doc.toJS({ maxAliasCount: -1 }) ?? {}, options.env ?? {}) as Record<string, unknown>);
  const services: Record<string, ServiceModel> = {};
  for (const [name, raw] of Object.entries((model.services ?? {}) as Record<string, Record<string, unknown>>)) services[name] = normalizeService(name, raw ?? {});
  // What the real loader (lenient) reports that the rules read: container_name with replicas.
  const refusals = Object.values(services).filter((s) => s.containerName !== undefined && s.replicas > 1).map((s) => ({ message: `service "${s.name}": container_name cannot be set with ${s.replicas} replicas, container names must be unique`, path: ['services', s.name, 'container_name'] }));
  const xb = (model['x-berth'] ?? {}) as Record<string, unknown>;
  const checkRules = ((xb.check as Record<string, unknown> | undefined)?.rules ?? {}) as Record<string, 'off' | 'info' | 'warning' | 'error'>;
  const workingDir = files[0]!.path.replace(/\/[^/]*$/, '') || '/';
  return {
    name: 'test',
    workingDir,
    files: files.map((f) => f.path),
    envFiles: [],
    profiles: [],
    model,
    services,
    inactiveServices: [],
    berth: { deploy: { preHooks: [], postHooks: [] }, backup: { destinations: {}, retention: {} }, check: { rules: checkRules } },
    warnings: [],
    refusals,
    locate: (path) => {
      for (const { file, doc, lineCounter } of [...docs].reverse()) {
        const loc = locateIn(doc, path, lineCounter);
        if (loc) return { file, ...loc };
      }
      return undefined;
    },
  };
}

export function locateIn(doc: Document, path: ModelPath, lineCounter: LineCounter): Omit<SourceLocation, 'file'> | undefined {
  let node: unknown = doc.contents;
  let offset: number | undefined;
  for (const key of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isPair(p) && (isScalar(p.key) ? p.key.value : p.key) == key);
      if (!pair) return undefined;
      offset = (pair.key as Node | undefined)?.range?.[0];
      node = pair.value;
    } else if (isSeq(node) && typeof key === 'number') {
      const item = node.items[key] as Node | undefined;
      if (!item) return undefined;
      offset = item.range?.[0];
      node = item;
    } else return undefined;
  }
  if (path.length === 0) offset = (node as Node | undefined)?.range?.[0];
  if (offset === undefined) return undefined;
  const { line, col } = lineCounter.linePos(offset);
  return { line, column: col };
}

function mergeInto(target: Record<string, unknown>, source: Record<string, unknown>): void {
  for (const [key, value] of Object.entries(source)) {
    const current = target[key];
    if (current && value && typeof current === 'object' && typeof value === 'object' && !Array.isArray(current) && !Array.isArray(value)) mergeInto(current as Record<string, unknown>, value as Record<string, unknown>);
    else target[key] = value;
  }
}

function interpolate(value: unknown, env: Record<string, string>): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}/g, (whole, name: string | undefined, def: string | undefined) => (whole === '$$' ? '$' : env[name!] ?? def ?? ''));
  }
  if (Array.isArray(value)) return value.map((v) => interpolate(v, env));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolate(v, env)]));
  return value;
}

const ms = (v: unknown, fallback: number) => (v === undefined || v === null ? fallback : parseDuration(v as string));

export function parsePort(entry: unknown): PortMapping[] {
  if (entry && typeof entry === 'object') {
    const e = entry as Record<string, unknown>;
    return [{ hostIp: String(e.host_ip ?? ''), published: e.published === undefined ? undefined : String(e.published), target: Number(e.target), protocol: (e.protocol as PortMapping['protocol']) ?? 'tcp', mode: (e.mode as PortMapping['mode']) ?? 'ingress' }];
  }
  let text = String(entry);
  let protocol: PortMapping['protocol'] = 'tcp';
  const slash = text.lastIndexOf('/');
  if (slash >= 0) { protocol = text.slice(slash + 1) as PortMapping['protocol']; text = text.slice(0, slash); }
  let hostIp = '';
  const bracket = /^\[([^\]]+)\]:(.*)$/.exec(text);
  if (bracket) { hostIp = bracket[1]!; text = bracket[2]!; }
  const parts = text.split(':');
  if (!bracket && parts.length === 3) hostIp = parts.shift()!;
  const target = parts.pop()!;
  const published = parts.pop();
  return [{ hostIp, published: published === '' ? undefined : published, target: Number(target.split('-')[0]), protocol, mode: 'ingress' }];
}

function normalizeService(name: string, raw: Record<string, unknown>): ServiceModel {
  const hc = raw.healthcheck as Record<string, unknown> | undefined;
  const healthcheck: Healthcheck | undefined = hc
    ? { test: hc.test as Healthcheck['test'], intervalMs: ms(hc.interval, 30_000), timeoutMs: ms(hc.timeout, 30_000), retries: Number(hc.retries ?? 3), startPeriodMs: ms(hc.start_period, 0), startIntervalMs: ms(hc.start_interval, 5_000), disabled: hc.disable === true || (Array.isArray(hc.test) && hc.test[0] === 'NONE') }
    : undefined;
  const networks: ServiceModel['networks'] = {};
  if (Array.isArray(raw.networks)) for (const n of raw.networks) networks[String(n)] = { aliases: [] };
  else if (raw.networks && typeof raw.networks === 'object') for (const [n, v] of Object.entries(raw.networks)) networks[n] = { aliases: ((v as { aliases?: string[] } | null)?.aliases) ?? [] };
  else if (!raw.network_mode) networks.default = { aliases: [] };
  const dependsOn: ServiceModel['dependsOn'] = {};
  if (Array.isArray(raw.depends_on)) for (const d of raw.depends_on) dependsOn[String(d)] = { condition: 'service_started', restart: false, required: true };
  else if (raw.depends_on && typeof raw.depends_on === 'object') for (const [d, v] of Object.entries(raw.depends_on)) dependsOn[d] = { condition: ((v as { condition?: ServiceModel['dependsOn'][string]['condition'] })?.condition) ?? 'service_started', restart: false, required: true };
  const environment: Record<string, string | null> = {};
  if (Array.isArray(raw.environment)) for (const e of raw.environment) { const s = String(e); const i = s.indexOf('='); if (i < 0) environment[s] = null; else environment[s.slice(0, i)] = s.slice(i + 1); }
  else if (raw.environment && typeof raw.environment === 'object') for (const [k, v] of Object.entries(raw.environment)) environment[k] = v === null || v === undefined ? null : String(v);
  const labels: Record<string, string> = {};
  if (Array.isArray(raw.labels)) for (const l of raw.labels) { const s = String(l); const i = s.indexOf('='); labels[i < 0 ? s : s.slice(0, i)] = i < 0 ? '' : s.slice(i + 1); }
  else if (raw.labels && typeof raw.labels === 'object') for (const [k, v] of Object.entries(raw.labels)) labels[k] = String(v);
  return {
    name,
    raw,
    image: raw.image as string | undefined,
    hasBuild: raw.build !== undefined,
    replicas: Number((raw.deploy as { replicas?: number } | undefined)?.replicas ?? raw.scale ?? 1),
    containerName: raw.container_name as string | undefined,
    networkMode: raw.network_mode as string | undefined,
    networks,
    ports: Array.isArray(raw.ports) ? raw.ports.flatMap(parsePort) : [],
    dependsOn,
    healthcheck,
    labels,
    environment,
    profiles: (raw.profiles as string[] | undefined) ?? [],
    init: raw.init as boolean | undefined,
    stopSignal: raw.stop_signal as string | undefined,
    stopGracePeriodMs: ms(raw.stop_grace_period, 10_000),
    restart: raw.restart as string | undefined,
    // x-berth through the real parser (pure): rules read the same typed config as with the loader.
    berth: parseServiceBerth(raw['x-berth'], name, { locate: () => undefined, workingDir: '/project', warnings: [] }, Object.keys(networks)),
  };
}
