/**
 * The executor of built-in alerting in `berth agent`: evaluates the catalogue (evaluate.ts) on an
 * interval and soon after every change the watcher sees, and routes what changes:
 * - grouping per project (host-wide alerts group under the host): changes of a group gathered
 *   for group_wait go out as one notification;
 * - de-duplication: an alert is notified firing once and resolved once; a firing alert is
 *   notified again only after repeat_interval; a resolution is sent only for an alert whose
 *   firing was sent (as Alertmanager does);
 * - every channel gets every notification, in order, retried with backoff (notify.ts); a channel
 *   that stays down after every retry is reported on the other channels, and its recovery too.
 */
import { hostname } from 'node:os';
import type { ComposeProject } from '../compose/types.js';
import type { StateStore } from '../state/store.js';
import { Catalog } from '../backup/catalog.js';
import { promDurationMs } from './alerts.js';
import { AlertEvaluator, type AlertInputs, type AlertInstance, type AlertTransition, type EvaluatorOptions } from './evaluate.js';
import { readHost } from './host.js';
import type { Monitor } from './monitor.js';
import { alertsNotification, channelNotification, deliver, notifiedAlert, type Channel, type Notification, type NotifiedAlert } from './notify.js';
import { pruneSilences, silencesOf, type Silence } from './silences.js';

export interface AlertingOptions {
  monitor: Pick<Monitor, 'state' | 'watcher' | 'probeResults'>;
  store: StateStore;
  project: ComposeProject;
  channels: Channel[];
  log?: (line: Record<string, unknown>) => void;
  /** The `instance` label and the group of host-wide alerts. Default: the host name. */
  instance?: string;
  /** Evaluation interval. Default 5 s. */
  intervalMs?: number;
  groupWaitMs?: number;
  repeatIntervalMs?: number;
  retryDelaysMs?: number[];
  /** Paths whose filesystems the host alerts watch; false: no host alerts. */
  hostPaths?: string[] | false;
  evaluator?: EvaluatorOptions;
}

export interface Alerting {
  evaluator: AlertEvaluator;
  /** Evaluates now (and schedules the notifications it causes). */
  evaluate(): Promise<AlertTransition[]>;
  /** Silences in force (the status page shows them). */
  silences(): Silence[];
  /** Channels down after every retry, by name, with the last error. */
  channelsDown(): Map<string, string>;
  /** Sends what is gathered now, and waits for every delivery in flight (tests, stop). */
  flush(): Promise<void>;
  stop(): Promise<void>;
}

export const DEFAULT_GROUP_WAIT_MS = 10_000;
export const DEFAULT_REPEAT_INTERVAL_MS = 4 * 3_600_000;

export function startAlerting(options: AlertingOptions): Alerting {
  const { monitor, store, project, channels } = options;
  const log = options.log ?? (() => undefined);
  const instance = options.instance ?? hostname();
  const groupWaitMs = options.groupWaitMs ?? DEFAULT_GROUP_WAIT_MS;
  const repeatIntervalMs = options.repeatIntervalMs ?? DEFAULT_REPEAT_INTERVAL_MS;
  const intervalMs = options.intervalMs ?? 5000;
  const evaluator = new AlertEvaluator({ projects: [project.name], ...options.evaluator });
  const deployWindowMs = Math.max(...evaluator.definitions.filter((d) => d.name === 'BerthDeployFailed').map((d) => promDurationMs(d.window ?? '30m')), 30 * 60_000);
  const deploysSince = store.db.prepare("SELECT service, result, finished_at FROM deploys WHERE project = ? AND result != 'running' AND finished_at >= ?");
  const catalog = new Catalog(store);

  /** Per fingerprint: when its firing was last sent. Kept in the state store too (monitor_alerts). */
  const notified = new Map<string, number>();
  const remember = store.db.prepare('INSERT INTO monitor_alerts (project, fingerprint, alert, notified_at) VALUES (?, ?, ?, ?) ON CONFLICT (project, fingerprint) DO UPDATE SET alert = excluded.alert, notified_at = excluded.notified_at');
  const forget = store.db.prepare('DELETE FROM monitor_alerts WHERE project = ? AND fingerprint = ?');
  const firingBefore = (store.db.prepare('SELECT alert, notified_at FROM monitor_alerts WHERE project = ?').all(project.name) as Array<{ alert: string; notified_at: number }>).map((r) => ({ alert: JSON.parse(r.alert) as AlertInstance, notifiedAt: r.notified_at }));
  evaluator.restore(firingBefore.map((r) => r.alert));
  for (const r of firingBefore) if (evaluator.firing().some((a) => a.fingerprint === r.alert.fingerprint)) notified.set(r.alert.fingerprint, r.notifiedAt);
  const batches = new Map<string, { alerts: Map<string, NotifiedAlert>; timer: NodeJS.Timeout }>();
  const down = new Map<string, string>();
  const queues = new Map<string, Promise<void>>();
  let current: Silence[] = [];
  let stopped = false;

  const enqueue = (channel: Channel, fn: () => Promise<void>): Promise<void> => {
    const next = (queues.get(channel.name) ?? Promise.resolve()).then(fn, fn);
    queues.set(channel.name, next);
    return next;
  };

  const sendToOthers = (except: Channel, notification: Notification) => {
    for (const other of channels) {
      if (other === except || down.has(other.name)) continue;
      void enqueue(other, async () => {
        const result = await deliver(other, notification, { retryDelaysMs: options.retryDelaysMs, log });
        if (!result.error) log({ event: 'notified', channel: other.name, kind: notification.kind, title: notification.title });
      });
    }
  };

  const send = (notification: Notification) => {
    for (const channel of channels) {
      void enqueue(channel, async () => {
        const result = await deliver(channel, notification, { retryDelaysMs: options.retryDelaysMs, log });
        if (result.error) {
          if (!down.has(channel.name)) {
            down.set(channel.name, result.error);
            log({ event: 'notifier-down', channel: channel.name, error: result.error, attempts: result.attempts });
            sendToOthers(channel, channelNotification('notifier-down', notification.group, instance, { name: channel.name, type: channel.type, error: result.error }, Date.now()));
          }
          return;
        }
        log({ event: 'notified', channel: channel.name, kind: notification.kind, status: notification.status, title: notification.title });
        if (down.has(channel.name)) {
          down.delete(channel.name);
          log({ event: 'notifier-up', channel: channel.name });
          sendToOthers(channel, channelNotification('notifier-up', notification.group, instance, { name: channel.name, type: channel.type }, Date.now()));
        }
      });
    }
  };

  const flushGroup = (group: string) => {
    const batch = batches.get(group);
    if (!batch) return;
    clearTimeout(batch.timer);
    batches.delete(group);
    const alerts = [...batch.alerts.values()];
    if (alerts.length === 0) return;
    const now = Date.now();
    for (const a of alerts) {
      if (a.status === 'firing') {
        notified.set(a.fingerprint, now);
        const alert = evaluator.firing().find((f) => f.fingerprint === a.fingerprint);
        if (alert) remember.run(project.name, a.fingerprint, JSON.stringify(alert), now);
      } else forget.run(project.name, a.fingerprint);
    }
    send(alertsNotification(group, instance, alerts, now));
  };

  const add = (group: string, alert: NotifiedAlert) => {
    let batch = batches.get(group);
    if (!batch) {
      batch = { alerts: new Map(), timer: setTimeout(() => flushGroup(group), groupWaitMs) };
      batch.timer.unref();
      batches.set(group, batch);
    }
    batch.alerts.set(alert.fingerprint, alert);
  };

  const groupOf = (alert: AlertInstance) => alert.project ?? instance;

  const inputs = async (now: number): Promise<AlertInputs> => {
    const host = options.hostPaths === false ? undefined : await readHost(options.hostPaths ?? ['/var/lib/docker']).catch(() => undefined);
    const backups: AlertInputs['backups'] = [];
    for (const [target, entry] of catalog.newestVerified(project.name)) {
      const at = Date.parse(entry.finishedAt ?? entry.startedAt);
      if (!Number.isNaN(at)) backups.push({ project: project.name, target, at });
    }
    const deploys = (deploysSince.all(project.name, new Date(now - deployWindowMs).toISOString()) as Array<{ service: string; result: string; finished_at: string }>).map((d) => ({
      project: project.name, service: d.service, result: d.result, finishedAt: Date.parse(d.finished_at),
    }));
    current = silencesOf(store, project.name, now, 2 * intervalMs + 5000);
    return {
      now, instance, services: monitor.state.services(), containers: monitor.state.containers(), watcher: monitor.watcher.health,
      probes: monitor.probeResults(), host, backups, deploys, silences: current,
    };
  };

  let evaluating: Promise<AlertTransition[]> | undefined;
  const evaluate = (): Promise<AlertTransition[]> => {
    evaluating ??= (async () => {
      const now = Date.now();
      const transitions = evaluator.evaluate(await inputs(now));
      for (const t of transitions) {
        log({ event: `alert-${t.status}`, alert: t.alert.name, labels: t.alert.labels });
        const group = groupOf(t.alert);
        if (t.status === 'firing') add(group, notifiedAlert(t.alert, 'firing', t.at));
        else if (notified.has(t.alert.fingerprint)) {
          notified.delete(t.alert.fingerprint);
          add(group, notifiedAlert(t.alert, 'resolved', t.at));
        } else batches.get(group)?.alerts.delete(t.alert.fingerprint); // fired and resolved before anyone was told
      }
      for (const alert of evaluator.firing()) {
        const last = notified.get(alert.fingerprint);
        if (last !== undefined && now - last >= repeatIntervalMs) add(groupOf(alert), notifiedAlert(alert, 'firing', now, true));
      }
      return transitions;
    })().finally(() => (evaluating = undefined));
    return evaluating;
  };

  const tick = () => {
    if (stopped) return;
    evaluate().catch((error: unknown) => log({ event: 'alerting-failed', error: String(error) }));
  };
  const timer = setInterval(tick, intervalMs);
  timer.unref();
  const pruneTimer = setInterval(() => pruneSilences(store), 3_600_000);
  pruneTimer.unref();
  // A change the watcher sees is evaluated within a quarter second, not at the next interval.
  let soon: NodeJS.Timeout | undefined;
  const unsubscribe = monitor.state.onChange(() => {
    soon ??= setTimeout(() => {
      soon = undefined;
      tick();
    }, 250);
  });
  void monitor.watcher.ready.then(tick);

  const flush = async () => {
    await evaluating?.catch(() => undefined);
    for (const group of [...batches.keys()]) flushGroup(group);
    // Deliveries may queue further ones (a channel down is reported on the others).
    for (let i = 0; i < 3; i++) await Promise.allSettled([...queues.values()]);
  };

  return {
    evaluator,
    evaluate,
    silences: () => current,
    channelsDown: () => new Map(down),
    flush,
    stop: async () => {
      stopped = true;
      clearInterval(timer);
      clearInterval(pruneTimer);
      if (soon) clearTimeout(soon);
      unsubscribe();
      await flush();
    },
  };
}
