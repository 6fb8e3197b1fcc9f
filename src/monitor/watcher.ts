/**
 * The executor of watching: keeps a WatchState current from the engine with one events
 * subscription (reconnected with `since=` the last event, de-duplicated, and followed by a full
 * resync from GET /containers/json, since the daemon replays only its last 256 events), a
 * periodic list as a safety net, and one-shot resource stats at an interval with bounded
 * concurrency. Only read-only GETs: it works through a socket proxy with CONTAINERS=1 EVENTS=1.
 * An API error never ends it: it is logged, counted, and retried with backoff.
 */
import type { ContainerStats, Engine, EngineEvent } from '../engine/client.js';
import { errorMessage } from '../lib/errors.js';
import type { ResourceSample, WatchState } from './state.js';

export interface WatcherOptions {
  engine: Engine;
  state: WatchState;
  /** Resource stats interval; 0 turns them off. Default 15 s. */
  statsIntervalMs?: number;
  /** The safety-net list interval. Default 60 s. */
  resyncIntervalMs?: number;
  /** At most this many inspections or stats reads in flight. Default 4. */
  concurrency?: number;
  /** First reconnect delay, doubled up to 30 s. Default 500 ms. */
  reconnectDelayMs?: number;
  log?: (line: Record<string, unknown>) => void;
  /** Every engine call the watcher makes, timed (for berth_docker_api_duration_seconds). */
  onApiCall?: (call: string, seconds: number, ok: boolean) => void;
}

export interface WatcherHealth {
  dockerUp: boolean;
  eventsStreamUp: boolean;
  reconnects: number;
  /** Seconds since the epoch of the newest event applied. */
  lastEventAt: number | null;
  /** Engine calls made, by kind (tests and the benchmark read it). */
  calls: Record<string, number>;
}

export interface Watcher {
  readonly health: WatcherHealth;
  /** Resolves once the first full list and its inspections are applied. */
  readonly ready: Promise<void>;
  /** A full list and inspection now (also what a reconnect does). */
  resync(): Promise<void>;
  /** One round of resource stats now. */
  sampleStats(): Promise<void>;
  stop(): Promise<void>;
}

export function startWatcher(options: WatcherOptions): Watcher {
  const { engine, state } = options;
  const log = options.log ?? (() => undefined);
  const concurrency = Math.max(1, options.concurrency ?? 4);
  const health: WatcherHealth = { dockerUp: false, eventsStreamUp: false, reconnects: 0, lastEventAt: null, calls: {} };
  let stopped = false;
  let subscription: { close(): void } | undefined;
  let reconnectTimer: NodeJS.Timeout | undefined;
  let delay = options.reconnectDelayMs ?? 500;
  let connectedOnce = false;
  // De-duplication across a reconnect: events older than the newest seen were applied; at the
  // newest timestamp itself, those applied are remembered by key.
  let lastNano = 0n;
  let keysAtLast = new Set<string>();
  // An inspection started before a later event would overwrite that event's news: each event
  // bumps the container's generation, and an inspection that sees a newer generation is redone.
  const generation = new Map<string, number>();
  const limiter = createLimiter(concurrency);
  const queued = new Set<string>();

  const timed = async <T>(call: string, fn: () => Promise<T>): Promise<T> => {
    const started = process.hrtime.bigint();
    health.calls[call] = (health.calls[call] ?? 0) + 1;
    try {
      const result = await fn();
      options.onApiCall?.(call, Number(process.hrtime.bigint() - started) / 1e9, true);
      return result;
    } catch (error) {
      options.onApiCall?.(call, Number(process.hrtime.bigint() - started) / 1e9, false);
      throw error;
    }
  };

  const inspect = (id: string, resync = false): Promise<void> => {
    if (queued.has(id)) return Promise.resolve();
    queued.add(id);
    return limiter(async () => {
      queued.delete(id);
      if (stopped) return;
      const gen = generation.get(id) ?? 0;
      try {
        const info = await timed('inspect', () => engine.inspectContainer(id));
        health.dockerUp = true;
        if ((generation.get(id) ?? 0) !== gen) return void inspect(id, resync);
        state.applyInspect(info as Parameters<WatchState['applyInspect']>[0], Date.now(), { resync });
      } catch (error) {
        if (isNotFound(error)) {
          // Removed between the list (or the event) and this inspection: it is gone, nothing else.
          state.forget(id);
          return;
        }
        log({ event: 'monitor-inspect-failed', container: id.slice(0, 12), error: errorMessage(error) });
      }
    });
  };

  const onEvent = (event: EngineEvent) => {
    const nano = eventNano(event);
    const key = `${nano}|${event.Actor?.ID ?? event.id}|${event.Action ?? event.status}`;
    if (nano < lastNano || (nano === lastNano && keysAtLast.has(key))) return;
    if (nano > lastNano) {
      lastNano = nano;
      keysAtLast = new Set();
    }
    keysAtLast.add(key);
    health.lastEventAt = Number(nano / 1_000_000n) / 1000;
    const id = event.Actor?.ID ?? event.id;
    if (id) generation.set(id, (generation.get(id) ?? 0) + 1);
    for (const toInspect of state.applyEvent(event)) void inspect(toInspect);
    if (event.Action === 'destroy' && id) generation.delete(id);
  };

  const scheduleReconnect = () => {
    if (stopped || reconnectTimer) return;
    reconnectTimer = setTimeout(() => {
      reconnectTimer = undefined;
      void connect();
    }, delay);
    delay = Math.min(delay * 2, 30_000);
  };

  const connect = async (): Promise<void> => {
    if (stopped) return;
    const since = lastNano > 0n ? formatSince(lastNano - 1000n) : connectedOnce ? formatSince(BigInt(Date.now() - 5_000) * 1_000_000n) : undefined;
    try {
      const sub = await timed('events', () =>
        engine.containerEvents([], onEvent, {
          since,
          onEnd: (error) => {
            if (subscription !== sub) return;
            subscription = undefined;
            health.eventsStreamUp = false;
            log({ event: 'monitor-events-ended', error: error ? errorMessage(error) : undefined });
            scheduleReconnect();
          },
        }),
      );
      if (stopped) return sub.close();
      subscription = sub;
      health.eventsStreamUp = true;
      health.dockerUp = true;
      delay = options.reconnectDelayMs ?? 500;
      if (connectedOnce) {
        health.reconnects++;
        log({ event: 'monitor-events-reconnected', since });
        void resync();
      }
      connectedOnce = true;
    } catch (error) {
      health.eventsStreamUp = false;
      health.dockerUp = false;
      log({ event: 'monitor-events-failed', error: errorMessage(error) });
      scheduleReconnect();
    }
  };

  let resyncing: Promise<void> | undefined;
  const resync = (): Promise<void> => {
    resyncing ??= (async () => {
      try {
        const listed = await timed('list', () => engine.listContainers([], true));
        health.dockerUp = true;
        await Promise.all(state.applyList(listed).map((id) => inspect(id, true)));
      } catch (error) {
        health.dockerUp = false;
        log({ event: 'monitor-list-failed', error: errorMessage(error) });
      }
    })().finally(() => {
      resyncing = undefined;
    });
    return resyncing;
  };

  const sampleStats = async (): Promise<void> => {
    const running = state.containers().filter((c) => c.status === 'running');
    await Promise.all(
      running.map((c) =>
        limiter(async () => {
          if (stopped) return;
          try {
            const stats = await timed('stats', () => engine.containerStats(c.id));
            state.setResources(c.id, resourceSample(stats, Date.now()));
          } catch (error) {
            if (!isNotFound(error)) log({ event: 'monitor-stats-failed', container: c.id.slice(0, 12), error: errorMessage(error) });
          }
        }),
      ),
    );
  };

  // Subscribe first, then list: nothing that happens in between is missed.
  const ready = connect().then(() => resync());
  const resyncTimer = setInterval(() => void resync(), options.resyncIntervalMs ?? 60_000);
  resyncTimer.unref();
  const statsInterval = options.statsIntervalMs ?? 15_000;
  let statsTimer: NodeJS.Timeout | undefined;
  let sampling: Promise<void> | undefined;
  // A round still going when the next is due is skipped, never stacked.
  const sampleRound = () => {
    sampling ??= sampleStats().finally(() => (sampling = undefined));
  };
  if (statsInterval > 0) {
    void ready.then(sampleRound);
    statsTimer = setInterval(sampleRound, statsInterval);
    statsTimer.unref();
  }

  return {
    health,
    ready,
    resync,
    sampleStats,
    stop: async () => {
      stopped = true;
      clearInterval(resyncTimer);
      if (statsTimer) clearInterval(statsTimer);
      if (reconnectTimer) clearTimeout(reconnectTimer);
      subscription?.close();
      subscription = undefined;
      await Promise.allSettled([resyncing, sampling]);
    },
  };
}

/** A cAdvisor-compatible resource sample from one stats answer (cgroup v1 and v2 field names). */
export function resourceSample(stats: ContainerStats, at: number): ResourceSample {
  const memory = stats.memory_stats ?? {};
  const usage = memory.usage ?? 0;
  const inactiveFile = memory.stats?.total_inactive_file ?? memory.stats?.inactive_file ?? 0;
  const network: ResourceSample['network'] = {};
  for (const [name, n] of Object.entries(stats.networks ?? {})) network[name] = { rxBytes: n.rx_bytes ?? 0, txBytes: n.tx_bytes ?? 0 };
  let fsReadBytes = 0;
  let fsWriteBytes = 0;
  for (const entry of stats.blkio_stats?.io_service_bytes_recursive ?? []) {
    const op = (entry.op ?? '').toLowerCase();
    if (op === 'read') fsReadBytes += entry.value ?? 0;
    else if (op === 'write') fsWriteBytes += entry.value ?? 0;
  }
  return {
    at,
    cpuSeconds: (stats.cpu_stats?.cpu_usage?.total_usage ?? 0) / 1e9,
    memoryUsageBytes: usage,
    // cAdvisor's working set: usage minus inactive file cache, never below zero.
    memoryWorkingSetBytes: Math.max(0, usage - inactiveFile),
    cfsPeriods: stats.cpu_stats?.throttling_data?.periods ?? 0,
    cfsThrottledPeriods: stats.cpu_stats?.throttling_data?.throttled_periods ?? 0,
    network,
    fsReadBytes,
    fsWriteBytes,
  };
}

function eventNano(event: EngineEvent): bigint {
  if (typeof event.timeNano === 'number') return BigInt(Math.round(event.timeNano));
  return BigInt(Math.round((event.time ?? 0) * 1000)) * 1_000_000n;
}

/** The engine's `since`: seconds with a nanosecond fraction. */
function formatSince(nano: bigint): string {
  const seconds = nano / 1_000_000_000n;
  const fraction = (nano % 1_000_000_000n).toString().padStart(9, '0');
  return `${seconds}.${fraction}`;
}

function isNotFound(error: unknown): boolean {
  const cause = (error as { cause?: { statusCode?: number } })?.cause;
  return (error as { statusCode?: number })?.statusCode === 404 || cause?.statusCode === 404;
}

/** Runs at most `limit` tasks at a time, in order. */
function createLimiter(limit: number): <T>(task: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: Array<() => void> = [];
  return async (task) => {
    if (active >= limit) await new Promise<void>((resolve) => waiting.push(resolve));
    active++;
    try {
      return await task();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
}
