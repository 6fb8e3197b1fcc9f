/**
 * `berth agent`: runs the backup schedules of a project (x-berth.backup.schedule, cron syntax,
 * evaluated by croner in UTC unless TZ says otherwise) and answers dead-man style health: the age
 * of the newest verified backup of each target, against a limit derived from its schedule.
 */
import { createServer, type Server } from 'node:http';
import { gzip } from 'node:zlib';
import { Cron } from 'croner';
import type { ComposeProject } from '../compose/types.js';
import type { Engine } from '../engine/client.js';
import { formatDuration } from '../lib/duration.js';
import { BerthError, ExitCode, errorMessage } from '../lib/errors.js';
import type { StateStore } from '../state/store.js';
import { Catalog } from '../backup/catalog.js';
import { lockBackups, recoverInterrupted, runBackups } from '../backup/run.js';
import { resolveTargets } from '../backup/targets.js';
import type { BackupEvent } from '../backup/types.js';
import type { Monitor, MonitorOptions } from '../monitor/monitor.js';
import type { Resident, ResidentOptions } from '../monitor/resident.js';

export interface TargetHealth {
  target: string;
  schedule: string | null;
  nextRun: string | null;
  lastVerifiedId: string | null;
  lastVerifiedAt: string | null;
  ageMs: number | null;
  maxAgeMs: number;
  ok: boolean;
  reason: string;
}

export interface AgentHealth {
  project: string;
  ok: boolean;
  checkedAt: string;
  targets: TargetHealth[];
}

const DAY_MS = 86_400_000;

/** Validates a cron expression; the error names the target. */
export function parseSchedule(target: string, schedule: string): Cron {
  try {
    return new Cron(schedule, { paused: true });
  } catch (error) {
    throw new BerthError(`invalid backup schedule "${schedule}" for ${target}: ${errorMessage(error)}`, { exitCode: ExitCode.usage });
  }
}

/** How old the newest verified backup may be: two intervals of the schedule plus slack, else a day and a bit. */
export function maxAgeFor(schedule: string | undefined, now: Date, override?: number): number {
  if (override !== undefined) return override;
  if (!schedule) return DAY_MS + 2 * 3_600_000;
  const runs = new Cron(schedule, { paused: true }).nextRuns(3, now);
  const interval = runs.length >= 3 ? Math.max(runs[2]!.getTime() - runs[1]!.getTime(), runs[1]!.getTime() - runs[0]!.getTime()) : DAY_MS;
  return 2 * interval + 10 * 60_000;
}

/** Pure: health from the catalog's newest verified backups and the clock. */
export function computeHealth(project: ComposeProject, newest: Map<string, { id: string; finishedAt: string | null; startedAt: string }>, now: Date, maxAgeMs?: number): AgentHealth {
  const targets = resolveTargets(project).map((target): TargetHealth => {
    const last = newest.get(target.name);
    const limit = maxAgeFor(target.schedule, now, maxAgeMs);
    const at = last ? last.finishedAt ?? last.startedAt : null;
    const ageMs = at ? Math.max(0, now.getTime() - Date.parse(at)) : null;
    const ok = ageMs !== null && ageMs <= limit;
    const nextRun = target.schedule ? new Cron(target.schedule, { paused: true }).nextRun(now)?.toISOString() ?? null : null;
    return {
      target: target.name,
      schedule: target.schedule ?? null,
      nextRun,
      lastVerifiedId: last?.id ?? null,
      lastVerifiedAt: at,
      ageMs,
      maxAgeMs: limit,
      ok,
      reason: ageMs === null ? 'no verified backup yet' : ok ? `last verified backup ${formatDuration(ageMs)} ago` : `last verified backup ${formatDuration(ageMs)} ago, older than ${formatDuration(limit)}`,
    };
  });
  return { project: project.name, ok: targets.length > 0 && targets.every((t) => t.ok), checkedAt: now.toISOString(), targets };
}

export function agentHealth(store: StateStore, project: ComposeProject, now = new Date(), maxAgeMs?: number): AgentHealth {
  return computeHealth(project, new Catalog(store).newestVerified(project.name), now, maxAgeMs);
}

export interface AgentOptions {
  /** The project runs as a Swarm stack: each backup runs on the node that runs its target. */
  swarm?: boolean;
  engine: Engine;
  store: StateStore;
  project: ComposeProject;
  /** host:port for the HTTP /health endpoint; undefined: none. */
  listen?: string;
  maxAgeMs?: number;
  log: (line: Record<string, unknown>) => void;
  helperLabels?: Record<string, string>;
  /** Run the backup schedules. Default true; false for a monitoring-only agent behind a read-only socket proxy. */
  schedules?: boolean;
  /** Watch the engine and serve /metrics (src/monitor). Default: off. */
  monitor?: Omit<MonitorOptions, 'engine' | 'store' | 'project' | 'log'>;
  /** With monitor: alerting, heartbeat and the status page (src/monitor/resident.ts); overrides for tests. */
  resident?: Omit<ResidentOptions, 'monitor' | 'store' | 'project' | 'log'>;
}

export interface RunningAgent {
  jobs: Array<{ target: string; schedule: string; next: () => Date | null }>;
  server?: Server;
  address?: string;
  monitor?: Monitor;
  resident?: Resident;
  stop(): Promise<void>;
  /** Resolves when the first run triggered by `trigger` finishes (tests). */
  trigger(target: string): Promise<void>;
  /** The scheduled berth maintain (x-berth.maintain.schedule), if any. */
  maintain?: import('../runbook/maintain/schedule.js').ScheduledMaintain;
}

export async function startAgent(options: AgentOptions): Promise<RunningAgent> {
  const { engine, store, project, log } = options;
  const schedules = options.schedules !== false;
  const targets = schedules ? resolveTargets(project).filter((t) => t.schedule) : [];
  for (const t of targets) parseSchedule(t.name, t.schedule!);
  // Containers a crashed run left stopped come back now, under the backup lock (a live run on this
  // host holds it and needs no help; the next scheduled run recovers then).
  if (schedules) try {
    const lock = await lockBackups(store, `agent start ${project.name}`);
    try {
      const { recovered, removedHelpers } = await recoverInterrupted(engine, store, project);
      if (recovered.length || removedHelpers.length) log({ event: 'recovered', containers: recovered.map((r) => r.name), removedHelpers });
    } finally {
      lock.release();
    }
  } catch (error) {
    log({ event: 'recovery-deferred', reason: errorMessage(error) });
  }
  const inFlight = new Set<Promise<void>>();
  const runTarget = (target: string): Promise<void> => {
    const run = runTargetNow(target).finally(() => inFlight.delete(run));
    inFlight.add(run);
    return run;
  };
  const runTargetNow = async (target: string) => {
    log({ event: 'backup-start', target });
    try {
      const report = await runBackups({
        engine, store, project, targets: [target], prune: true, lockWaitMs: 30 * 60_000, helperLabels: options.helperLabels, swarm: options.swarm,
        onEvent: (e: BackupEvent) => {
          if (e.type !== 'progress') log({ event: `backup-${e.type}`, ...e });
        },
      });
      for (const r of report.results) log({ event: 'backup-result', target: r.target, id: r.id, status: r.status, error: r.error, bytes: r.totalBytes });
    } catch (error) {
      log({ event: 'backup-error', target, error: errorMessage(error) });
    }
  };
  // protect: a run still going when the next is due is not overlapped (the lock would refuse it anyway).
  const jobs = targets.map((t) => ({ target: t.name, schedule: t.schedule!, cron: new Cron(t.schedule!, { protect: true, catch: true, name: `berth-backup-${project.name}-${t.name}` }, () => runTarget(t.name)) }));
  for (const job of jobs) log({ event: 'scheduled', target: job.target, schedule: job.schedule, next: job.cron.nextRun()?.toISOString() ?? null });
  let monitor: Monitor | undefined;
  if (options.monitor) {
    const { startMonitor } = await import('../monitor/monitor.js');
    monitor = startMonitor({ ...options.monitor, engine, store, project, log });
  }
  let resident: Resident | undefined;
  if (monitor) {
    const { startResident } = await import('../monitor/resident.js');
    resident = startResident({ hostMetrics: options.monitor?.hostMetrics, dockerRoot: options.monitor?.dockerRoot, ...options.resident, monitor, store, project, log });
  }
  // x-berth.maintain.schedule: berth maintain on a schedule (src/runbook/maintain/schedule.ts).
  // A monitoring-only agent (behind a read-only socket proxy) runs no maintenance either.
  const maintain = schedules ? (await import('../runbook/maintain/schedule.js')).scheduleMaintain({ engine, store, project, log }) : undefined;
  let server: Server | undefined;
  let address: string | undefined;
  if (options.listen) {
    const [host, port] = splitListen(options.listen);
    server = createServer((req, res) => {
      if (resident?.handle(req, res)) return;
      if (req.method === 'GET' && (req.url === '/health' || req.url === '/healthz')) {
        const health = agentHealth(store, project, new Date(), options.maxAgeMs);
        res.writeHead(health.ok ? 200 : 503, { 'content-type': 'application/json' });
        res.end(`${JSON.stringify(health)}\n`);
        return;
      }
      if (monitor && req.method === 'GET' && req.url === '/metrics') {
        const exposition = monitor.exposition;
        const started = performance.now();
        exposition.metrics().then(
          (text) => {
            // Server-Timing says where a scrape's time went (the benchmark reads it).
            const rendered = performance.now();
            const timing = (gzipMs?: number) => `render;dur=${(rendered - started).toFixed(2)}${gzipMs === undefined ? '' : `, gzip;dur=${gzipMs.toFixed(2)}`}`;
            // Prometheus asks for gzip: ~800 kB for 100 containers becomes ~50 kB, compressed
            // off the main thread at the fastest level.
            if (!/\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''))) {
              res.writeHead(200, { 'content-type': exposition.contentType, 'server-timing': timing() });
              return void res.end(text);
            }
            gzip(text, { level: 1 }, (error, body) => {
              if (error) {
                res.writeHead(200, { 'content-type': exposition.contentType, 'server-timing': timing() });
                return void res.end(text);
              }
              res.writeHead(200, { 'content-type': exposition.contentType, 'content-encoding': 'gzip', vary: 'accept-encoding', 'server-timing': timing(performance.now() - rendered) });
              res.end(body);
            });
          },
          (error: unknown) => {
            res.writeHead(500, { 'content-type': 'text/plain' });
            res.end(`metrics failed: ${errorMessage(error)}\n`);
          },
        );
        return;
      }
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end(monitor ? 'not found; try /health, /metrics or /status\n' : 'not found; try /health\n');
    });
    await new Promise<void>((resolve, reject) => server!.once('error', reject).listen(port, host, resolve));
    const bound = server.address();
    address = typeof bound === 'object' && bound ? `${bound.address}:${bound.port}` : String(bound);
    log({ event: 'listening', address, path: '/health', ...(monitor ? { metrics: '/metrics', status: '/status' } : {}) });
  }
  return {
    jobs: jobs.map((j) => ({ target: j.target, schedule: j.schedule, next: () => j.cron.nextRun() })),
    server,
    address,
    monitor,
    resident,
    trigger: (target) => runTarget(target),
    maintain,
    stop: async () => {
      for (const j of jobs) j.cron.stop();
      await maintain?.stop();
      // A run in progress finishes (its containers are restarted, its files committed or removed).
      await Promise.allSettled([...inFlight]);
      await resident?.stop();
      await monitor?.stop();
      if (server && server.listening) await new Promise<void>((resolve) => server!.close(() => resolve()));
    },
  };
}

function splitListen(listen: string): [string, number] {
  const m = /^(?:(.*):)?(\d+)$/.exec(listen);
  if (!m) throw new BerthError(`invalid --listen "${listen}": expected HOST:PORT or PORT`, { exitCode: ExitCode.usage });
  return [m[1] || '127.0.0.1', Number(m[2])];
}
