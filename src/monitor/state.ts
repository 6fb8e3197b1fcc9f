/**
 * What the agent knows about the server's containers, kept from engine events and inspections:
 * containers by project and service, their health, exits, OOM kills, stops that needed SIGKILL,
 * and the desired replicas from the compose model. Pure (no engine, no prom-client): the watcher
 * feeds it, the /metrics exposition reads it, and so can any other reader (built-in alerting, a
 * status page) through `containers()`, `services()` and `onChange()`.
 */
import type { EngineEvent } from '../engine/client.js';

export type HealthStatus = 'none' | 'starting' | 'healthy' | 'unhealthy';
export const HEALTH_STATUSES: readonly HealthStatus[] = ['none', 'starting', 'healthy', 'unhealthy'];
export type ContainerStatus = 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead';
export const CONTAINER_STATUSES: readonly ContainerStatus[] = ['created', 'running', 'paused', 'restarting', 'removing', 'exited', 'dead'];

/** One resource sample (GET /containers/{id}/stats one-shot), as cumulative counters and gauges. */
export interface ResourceSample {
  /** When it was read (ms since the epoch). */
  at: number;
  cpuSeconds: number;
  memoryUsageBytes: number;
  memoryWorkingSetBytes: number;
  cfsPeriods: number;
  cfsThrottledPeriods: number;
  network: Record<string, { rxBytes: number; txBytes: number }>;
  fsReadBytes: number;
  fsWriteBytes: number;
}

export interface ContainerRecord {
  id: string;
  name: string;
  image: string;
  project: string | undefined;
  service: string | undefined;
  /** `docker compose run` containers (com.docker.compose.oneoff=True): jobs, not services. */
  oneOff: boolean;
  labels: Record<string, string>;
  status: ContainerStatus;
  health: HealthStatus;
  hasHealthcheck: boolean;
  oomKilled: boolean;
  exitCode: number | null;
  /** Seconds since the epoch; null when never started / never finished. */
  startedAt: number | null;
  finishedAt: number | null;
  restartCount: number;
  /** HostConfig.Memory: 0 when unlimited (as cAdvisor's container_spec_memory_limit_bytes). */
  memoryLimitBytes: number;
  /** Last time the engine told us about it (ms since the epoch). */
  lastSeen: number;
  resources: ResourceSample | undefined;
  /** The sample before `resources`: the agent's own deltas (resourceRates) need two. */
  previousResources: ResourceSample | undefined;
  /** Bumped on every change of the record: readers may cache what they derive from it. */
  version: number;
}

export interface ServiceKey {
  project: string;
  service: string;
}

/** Counters of one compose service: they survive recreation (new container ids). */
export interface ServiceCounters {
  /** `${exitCode}|${requested}`: requested = a stop or kill asked for it (deploys, `docker stop`). */
  exits: Map<string, number>;
  oomEvents: number;
  stopsForced: number;
  healthTransitions: Map<HealthStatus, number>;
}

/** What changed, for listeners (histograms, alert evaluation, live pages). */
export type StateChange =
  | { type: 'added'; container: ContainerRecord }
  | { type: 'removed'; container: ContainerRecord }
  | { type: 'status'; container: ContainerRecord; from: ContainerStatus; to: ContainerStatus }
  | { type: 'health'; container: ContainerRecord; from: HealthStatus; to: HealthStatus }
  | { type: 'exit'; container: ContainerRecord; exitCode: number; requested: boolean; inferred: boolean }
  | { type: 'oom'; container: ContainerRecord }
  | { type: 'stop'; container: ContainerRecord; durationSeconds: number; forced: boolean };

/** The fields of GET /containers/{id}/json the state reads. */
export interface InspectInfo {
  Id: string;
  Name?: string;
  Created?: string;
  Config?: { Image?: string; Labels?: Record<string, string> | null; Healthcheck?: { Test?: string[] | null } | null };
  HostConfig?: { Memory?: number };
  RestartCount?: number;
  State?: {
    Status?: string;
    OOMKilled?: boolean;
    ExitCode?: number;
    StartedAt?: string;
    FinishedAt?: string;
    Health?: { Status?: string } | null;
  };
}

/** The fields of GET /containers/json the state reads. */
export interface ListedContainer {
  Id: string;
  Names?: string[];
  Image?: string;
  Labels?: Record<string, string> | null;
  State?: string;
  Status?: string;
}

const PROJECT_LABEL = 'com.docker.compose.project';
const SERVICE_LABEL = 'com.docker.compose.service';
const ONEOFF_LABEL = 'com.docker.compose.oneoff';

interface PendingStop {
  /** Seconds since the epoch of the first signal. */
  since: number;
  firstSignal: string;
  escalated: boolean;
}

export class WatchState {
  private readonly records = new Map<string, ContainerRecord>();
  private readonly counters = new Map<string, ServiceCounters>();
  private readonly desired = new Map<string, number>();
  private readonly pendingStops = new Map<string, PendingStop>();
  private readonly listeners = new Set<(change: StateChange) => void>();

  /** The compose model's desired replicas of one project (replaces what was set for it). */
  setDesired(project: string, replicas: Record<string, number>): void {
    for (const key of [...this.desired.keys()]) if (splitKey(key).project === project) this.desired.delete(key);
    for (const [service, count] of Object.entries(replicas)) this.desired.set(serviceKey({ project, service }), count);
  }

  onChange(listener: (change: StateChange) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  containers(): ContainerRecord[] {
    return [...this.records.values()];
  }

  container(id: string): ContainerRecord | undefined {
    return this.records.get(id);
  }

  /**
   * Every service known from the compose model or from a container's labels, with its desired
   * replicas (undefined when no model names it), its containers (one-off ones left out) and its
   * counters.
   */
  services(): Array<ServiceKey & { desired: number | undefined; containers: ContainerRecord[]; counters: ServiceCounters }> {
    const keys = new Set<string>([...this.desired.keys(), ...this.counters.keys()]);
    for (const c of this.records.values()) if (c.project && c.service && !c.oneOff) keys.add(serviceKey({ project: c.project, service: c.service }));
    return [...keys].sort().map((key) => {
      const { project, service } = splitKey(key);
      return {
        project,
        service,
        desired: this.desired.get(key),
        containers: [...this.records.values()].filter((c) => c.project === project && c.service === service && !c.oneOff),
        counters: this.countersOf(key),
      };
    });
  }

  /** Applies one engine event (type container). Returns the ids whose inspection would tell more. */
  applyEvent(event: EngineEvent, now = Date.now()): string[] {
    const id = event.Actor?.ID ?? event.id;
    const action = event.Action ?? event.status ?? '';
    if (!id || (event.Type !== undefined && event.Type !== 'container')) return [];
    const attributes = event.Actor?.Attributes ?? {};
    const at = event.timeNano !== undefined ? event.timeNano / 1e9 : (event.time ?? now / 1000);
    if (action === 'destroy') {
      this.remove(id);
      this.pendingStops.delete(id);
      return [];
    }
    const record = this.records.get(id) ?? this.add(recordFromAttributes(id, attributes, now));
    record.lastSeen = now;
    record.version++;
    if (attributes.name) record.name = attributes.name;
    const inspect: string[] = [];
    if (action.startsWith('health_status')) {
      const to = parseHealth(action.slice(action.indexOf(':') + 1).trim());
      record.hasHealthcheck = true;
      this.setHealth(record, to);
      return inspect;
    }
    switch (action) {
      case 'create':
        inspect.push(id);
        break;
      case 'start':
        this.pendingStops.delete(id);
        this.setStatus(record, 'running');
        record.startedAt = at;
        record.oomKilled = false;
        record.exitCode = null;
        if (record.hasHealthcheck) this.setHealth(record, 'starting');
        inspect.push(id);
        break;
      case 'kill': {
        const signal = normalizeSignal(attributes.signal);
        const pending = this.pendingStops.get(id);
        if (!pending) this.pendingStops.set(id, { since: at, firstSignal: signal, escalated: false });
        else if (signal === '9' && pending.firstSignal !== '9') pending.escalated = true;
        break;
      }
      case 'oom':
        record.oomKilled = true;
        const counters = this.serviceCounters(record);
        if (counters) counters.oomEvents++;
        this.emit({ type: 'oom', container: record });
        break;
      case 'die': {
        const exitCode = Number(attributes.exitCode ?? 0);
        const requested = this.pendingStops.has(id);
        record.exitCode = exitCode;
        record.finishedAt = at;
        this.setStatus(record, 'exited');
        this.countExit(record, exitCode, requested, false);
        inspect.push(id);
        break;
      }
      case 'stop': {
        const pending = this.pendingStops.get(id);
        this.pendingStops.delete(id);
        if (pending) {
          const durationSeconds = Math.max(0, at - pending.since);
          const counters = this.serviceCounters(record);
          if (pending.escalated && counters) counters.stopsForced++;
          this.emit({ type: 'stop', container: record, durationSeconds, forced: pending.escalated });
        }
        break;
      }
      case 'pause':
        this.setStatus(record, 'paused');
        break;
      case 'unpause':
        this.setStatus(record, 'running');
        break;
      case 'rename':
        break;
      default:
        break;
    }
    return inspect;
  }

  /**
   * Applies an inspection. With `resync`, an exit the events did not tell (the stream was down
   * longer than the daemon's replay) is inferred from a newer FinishedAt and counted once.
   */
  applyInspect(info: InspectInfo, now = Date.now(), options: { resync?: boolean } = {}): void {
    const labels = info.Config?.Labels ?? {};
    const existing = this.records.get(info.Id);
    const record = existing ?? this.add(recordFromAttributes(info.Id, { ...labels, name: (info.Name ?? '').replace(/^\//, ''), image: info.Config?.Image ?? '' }, now));
    record.labels = { ...labels };
    record.project = labels[PROJECT_LABEL];
    record.service = labels[SERVICE_LABEL];
    record.oneOff = /^true$/i.test(labels[ONEOFF_LABEL] ?? '');
    if (info.Name) record.name = info.Name.replace(/^\//, '');
    if (info.Config?.Image) record.image = info.Config.Image;
    record.lastSeen = now;
    record.version++;
    record.hasHealthcheck = Boolean(info.Config?.Healthcheck?.Test?.length && info.Config.Healthcheck.Test[0] !== 'NONE') || Boolean(info.State?.Health);
    record.restartCount = info.RestartCount ?? record.restartCount;
    record.memoryLimitBytes = info.HostConfig?.Memory ?? 0;
    const state = info.State ?? {};
    const startedAt = parseTime(state.StartedAt);
    const finishedAt = parseTime(state.FinishedAt);
    if (options.resync && existing && finishedAt !== null && (existing.finishedAt === null || finishedAt > existing.finishedAt + 0.5) && state.Status !== 'running') {
      // The events stream missed this exit (the daemon replays only its last 256 events).
      this.countExit(record, state.ExitCode ?? 0, false, true);
    }
    record.startedAt = startedAt;
    record.finishedAt = finishedAt;
    record.oomKilled = state.OOMKilled ?? false;
    record.exitCode = state.Status === 'running' ? null : (state.ExitCode ?? null);
    this.setStatus(record, parseStatus(state.Status));
    this.setHealth(record, state.Health?.Status ? parseHealth(state.Health.Status) : 'none');
  }

  /**
   * Applies a full list (after a reconnect, and periodically): containers not listed are gone.
   * Returns the ids to inspect: new ones, and those whose state differs from what is known.
   */
  applyList(listed: ListedContainer[], now = Date.now()): string[] {
    const seen = new Set(listed.map((c) => c.Id));
    for (const id of [...this.records.keys()]) if (!seen.has(id)) this.remove(id);
    const inspect: string[] = [];
    for (const c of listed) {
      const record = this.records.get(c.Id);
      if (!record) {
        inspect.push(c.Id);
        continue;
      }
      record.lastSeen = now;
      record.version++;
      const status = parseStatus(c.State);
      const health = healthFromStatusText(c.Status);
      if (status !== record.status || (health !== undefined && health !== record.health)) inspect.push(c.Id);
    }
    return inspect;
  }

  /** An inspection answered 404: the container went away between the list and the inspect. */
  forget(id: string): void {
    this.remove(id);
    this.pendingStops.delete(id);
  }

  setResources(id: string, sample: ResourceSample): void {
    const record = this.records.get(id);
    if (record) {
      record.previousResources = record.resources;
      record.resources = sample;
      record.lastSeen = Math.max(record.lastSeen, sample.at);
      record.version++;
    }
  }

  private add(record: ContainerRecord): ContainerRecord {
    this.records.set(record.id, record);
    this.emit({ type: 'added', container: record });
    return record;
  }

  private remove(id: string): void {
    const record = this.records.get(id);
    if (!record) return;
    this.records.delete(id);
    this.emit({ type: 'removed', container: record });
  }

  private setStatus(record: ContainerRecord, to: ContainerStatus): void {
    const from = record.status;
    if (from === to) return;
    record.status = to;
    this.emit({ type: 'status', container: record, from, to });
  }

  private setHealth(record: ContainerRecord, to: HealthStatus): void {
    const from = record.health;
    if (from === to) return;
    record.health = to;
    const counters = this.serviceCounters(record);
    if (to !== 'none' && counters) counters.healthTransitions.set(to, (counters.healthTransitions.get(to) ?? 0) + 1);
    this.emit({ type: 'health', container: record, from, to });
  }

  private countExit(record: ContainerRecord, exitCode: number, requested: boolean, inferred: boolean): void {
    if (record.oneOff) return;
    const counters = this.serviceCounters(record);
    const key = `${exitCode}|${requested}`;
    if (counters) counters.exits.set(key, (counters.exits.get(key) ?? 0) + 1);
    this.emit({ type: 'exit', container: record, exitCode, requested, inferred });
  }

  /** A compose service's counters; undefined for containers outside compose and one-off ones. */
  private serviceCounters(record: ContainerRecord): ServiceCounters | undefined {
    if (!record.project || !record.service || record.oneOff) return undefined;
    return this.countersOf(serviceKey({ project: record.project, service: record.service }));
  }

  private countersOf(key: string): ServiceCounters {
    let counters = this.counters.get(key);
    if (!counters) {
      counters = { exits: new Map(), oomEvents: 0, stopsForced: 0, healthTransitions: new Map() };
      this.counters.set(key, counters);
    }
    return counters;
  }

  private emit(change: StateChange): void {
    for (const listener of this.listeners) {
      try {
        listener(change);
      } catch {
        // A listener's failure must not corrupt the state or stop the others.
      }
    }
  }
}

/**
 * Rates between a container's last two samples, computed by the agent itself (for evaluation
 * without Prometheus): CPU in cores, the share of CFS periods throttled, bytes per second.
 * Undefined until two samples exist, or when the counters went back (a restart).
 */
export function resourceRates(record: ContainerRecord): { seconds: number; cpuCores: number; throttledRatio: number; rxBytesPerSecond: number; txBytesPerSecond: number } | undefined {
  const now = record.resources;
  const before = record.previousResources;
  if (!now || !before) return undefined;
  const seconds = (now.at - before.at) / 1000;
  const sum = (s: ResourceSample, field: 'rxBytes' | 'txBytes') => Object.values(s.network).reduce((n, i) => n + i[field], 0);
  const cpu = now.cpuSeconds - before.cpuSeconds;
  const periods = now.cfsPeriods - before.cfsPeriods;
  const throttled = now.cfsThrottledPeriods - before.cfsThrottledPeriods;
  if (seconds <= 0 || cpu < 0 || periods < 0 || throttled < 0) return undefined;
  return {
    seconds,
    cpuCores: cpu / seconds,
    throttledRatio: periods > 0 ? throttled / periods : 0,
    rxBytesPerSecond: Math.max(0, sum(now, 'rxBytes') - sum(before, 'rxBytes')) / seconds,
    txBytesPerSecond: Math.max(0, sum(now, 'txBytes') - sum(before, 'txBytes')) / seconds,
  };
}

function serviceKey(key: ServiceKey): string {
  return `${key.project}\u0000${key.service}`;
}

function splitKey(key: string): ServiceKey {
  const [project = '', service = ''] = key.split('\u0000');
  return { project, service };
}

function recordFromAttributes(id: string, attributes: Record<string, string>, now: number): ContainerRecord {
  return {
    id,
    name: attributes.name ?? id.slice(0, 12),
    image: attributes.image ?? '',
    project: attributes[PROJECT_LABEL],
    service: attributes[SERVICE_LABEL],
    oneOff: /^true$/i.test(attributes[ONEOFF_LABEL] ?? ''),
    // Event attributes carry the container's labels next to name and image.
    labels: Object.fromEntries(Object.entries(attributes).filter(([k]) => k !== 'name' && k !== 'image' && k !== 'exitCode' && k !== 'signal')),
    status: 'created',
    health: 'none',
    hasHealthcheck: false,
    oomKilled: false,
    exitCode: null,
    startedAt: null,
    finishedAt: null,
    restartCount: 0,
    memoryLimitBytes: 0,
    lastSeen: now,
    resources: undefined,
    previousResources: undefined,
    version: 0,
  };
}

function parseStatus(value: string | undefined): ContainerStatus {
  return (CONTAINER_STATUSES as readonly string[]).includes(value ?? '') ? (value as ContainerStatus) : 'created';
}

function parseHealth(value: string): HealthStatus {
  return (HEALTH_STATUSES as readonly string[]).includes(value) ? (value as HealthStatus) : 'none';
}

/** The list's Status text carries the health: "Up 5 minutes (unhealthy)", "(health: starting)". */
export function healthFromStatusText(status: string | undefined): HealthStatus | undefined {
  if (!status) return undefined;
  if (/\(health: starting\)/.test(status)) return 'starting';
  if (/\(unhealthy\)/.test(status)) return 'unhealthy';
  if (/\(healthy\)/.test(status)) return 'healthy';
  return undefined;
}

/** Kill events name the signal by number ("15") or, from some clients, by name. */
function normalizeSignal(signal: string | undefined): string {
  if (!signal) return '';
  const names: Record<string, string> = { SIGKILL: '9', KILL: '9', SIGTERM: '15', TERM: '15', SIGINT: '2', INT: '2', SIGQUIT: '3', QUIT: '3' };
  return names[signal.toUpperCase()] ?? signal;
}

function parseTime(value: string | undefined): number | null {
  if (!value || value.startsWith('0001-01-01')) return null;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : ms / 1000;
}
