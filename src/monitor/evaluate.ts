/**
 * Built-in alerting without Prometheus: the agent evaluates the shipped alert catalogue
 * (alerts.ts: the same names, thresholds, windows and `for:` durations as the generated
 * Prometheus rules) over what it already knows: the WatchState, the watcher's health, the probes,
 * the host sample and the state store's backups and deploys. Pure: inputs in, transitions out,
 * the clock passed in, so tests drive it through hours in milliseconds.
 *
 * Semantics follow Prometheus where they matter:
 * - a condition must hold for the alert's `for:` before it fires (pending, then firing);
 * - counter conditions are increases over the alert's window (kept here as change points, with
 *   counter resets handled as Prometheus does); a series that appears after the agent started
 *   starts from 0, one present at the first evaluation from its value then (history unknown).
 * Planned stops (silences.ts) are handled at the source rather than muted at the end: while a
 * silence covers a service, its pending alerts do not advance toward firing (the `for:` clock
 * starts again when the silence ends) and counter increases of that time are discounted, so what
 * the rollout caused does not fire when the silence ends either. An alert already firing stays
 * firing (it resolves normally). BerthStopForced and BerthDeployFailed are never held: a stop that
 * needed SIGKILL and a failed deploy are findings about the planned stop itself.
 */
import { ALERTS, promDurationMs, type AlertDefinition, type Severity } from './alerts.js';
import type { HostSample } from './host.js';
import type { ProbeResult } from './probes.js';
import { silenceCovers, type Silence } from './silences.js';
import type { ContainerRecord, ServiceCounters } from './state.js';

export interface ServiceView {
  project: string;
  service: string;
  desired: number | undefined;
  containers: ContainerRecord[];
  counters: ServiceCounters;
}

export interface AlertInputs {
  /** ms since the epoch. */
  now: number;
  /** The host's name: the `instance` label of host-wide alerts. */
  instance: string;
  services: ServiceView[];
  containers: ContainerRecord[];
  /** undefined: the engine is not watched (no engine alerts). */
  watcher?: { dockerUp: boolean; eventsStreamUp: boolean };
  probes: ProbeResult[];
  /** undefined: host alerts are not evaluated (node_exporter's job, or a test). */
  host?: HostSample;
  /** Newest verified backup per target (ms since the epoch). */
  backups: Array<{ project: string; target: string; at: number }>;
  /** Deploys finished recently (within the longest deploy window at least). */
  deploys: Array<{ project: string; service: string; result: string; finishedAt: number }>;
  silences: Silence[];
}

export interface AlertInstance {
  /** Stable identity: the alert name and its `by` labels. */
  fingerprint: string;
  name: string;
  severity: Severity;
  labels: Record<string, string>;
  summary: string;
  description: string;
  /** The compose project and service it concerns (undefined for host-wide alerts). */
  project: string | undefined;
  service: string | undefined;
  state: 'pending' | 'firing';
  /** When the condition started to hold (ms). */
  activeSince: number;
  firedAt: number | undefined;
  /** Held by a planned stop right now. */
  held: boolean;
}

export interface AlertTransition {
  status: 'firing' | 'resolved';
  alert: AlertInstance;
  at: number;
}

/** Alerts the agent cannot evaluate about itself, and who does. */
export const NOT_EVALUATED_BY_AGENT: Readonly<Record<string, string>> = {
  BerthAgentDown: 'a dead agent cannot report itself: the heartbeat (x-berth monitor.heartbeat) stops, and the outside service pages',
};

/** Alerts a planned stop never holds. */
export const NEVER_HELD = new Set(['BerthStopForced', 'BerthDeployFailed']);

interface Active {
  labels: Record<string, string>;
  project?: string;
  service?: string;
}

type Condition = (def: AlertDefinition, inputs: AlertInputs, ctx: EvalContext) => Active[];

interface EvalContext {
  windowMs: number;
  /** Increase of a counter series over the alert's window (discounting held increments). */
  increase(key: string): number;
  predictLinear(key: string, horizonSeconds: number): number | undefined;
}

const projectOf = (c: ContainerRecord) => c.project ?? '';
const containerLabels = (c: ContainerRecord) => ({ container_label_com_docker_compose_project: projectOf(c), container_label_com_docker_compose_service: c.service ?? '', name: c.name });
const svc = (s: ServiceView, extra: Record<string, string> = {}): Active => ({ labels: { project: s.project, service: s.service, ...extra }, project: s.project, service: s.service });
const perContainer = (c: ContainerRecord): Active => ({ labels: containerLabels(c), project: c.project, service: c.service });

/** The condition of each catalogue alert, over the agent's own inputs. Thresholds come from the definition. */
export const CONDITIONS: Readonly<Record<string, Condition>> = {
  BerthServiceBelowReplicas: (def, i) =>
    i.services.filter((s) => s.desired !== undefined && s.desired - s.containers.filter((c) => c.status === 'running').length > def.threshold).map((s) => svc(s)),
  BerthContainerUnhealthy: (def, i) =>
    i.containers.filter((c) => !c.oneOff && (c.health === 'unhealthy' ? 1 : 0) === def.threshold && c.status === 'running').map(perContainer),
  BerthHealthFlapping: (def, i, ctx) => i.services.filter((s) => ctx.increase(`health|${s.project}|${s.service}`) >= def.threshold).map((s) => svc(s)),
  BerthRestartLoop: (def, i, ctx) => i.services.filter((s) => ctx.increase(`unasked|${s.project}|${s.service}`) >= def.threshold).map((s) => svc(s)),
  BerthContainerOOMKilled: (def, i, ctx) => i.services.filter((s) => ctx.increase(`oom|${s.project}|${s.service}`) > def.threshold).map((s) => svc(s)),
  BerthServiceExitedNonZero: (def, i, ctx) =>
    i.services.flatMap((s) => exitCodes(s).filter((code) => ctx.increase(`exit|${s.project}|${s.service}|${code}`) > def.threshold).map((code) => svc(s, { exit_code: code }))),
  BerthStopForced: (def, i, ctx) => i.services.filter((s) => ctx.increase(`forced|${s.project}|${s.service}`) > def.threshold).map((s) => svc(s)),
  BerthContainerMemoryNearLimit: (def, i) =>
    i.containers.filter((c) => c.status === 'running' && c.resources && c.memoryLimitBytes > 0 && c.resources.memoryWorkingSetBytes / c.memoryLimitBytes > def.threshold).map(perContainer),
  BerthContainerCpuThrottled: (def, i, ctx) =>
    i.containers
      .filter((c) => c.status === 'running' && c.resources)
      .filter((c) => {
        const periods = ctx.increase(`cfs|${c.name}`);
        return periods > 0 && ctx.increase(`throttled|${c.name}`) / periods > def.threshold;
      })
      .map(perContainer),
  BerthHostDiskFull: (def, i) => (i.host?.filesystems ?? []).filter((fs) => fs.sizeBytes > 0 && fs.availBytes / fs.sizeBytes < def.threshold).map((fs) => ({ labels: { instance: i.instance, mountpoint: fs.mountpoint } })),
  BerthHostDiskFillingUp: (def, i, ctx) =>
    (i.host?.filesystems ?? [])
      .filter((fs) => {
        const predicted = ctx.predictLinear(`avail|${fs.mountpoint}`, def.threshold);
        return predicted !== undefined && predicted < 0 && fs.sizeBytes > 0 && fs.availBytes / fs.sizeBytes < 0.4;
      })
      .map((fs) => ({ labels: { instance: i.instance, mountpoint: fs.mountpoint } })),
  BerthHostInodesLow: (def, i) => (i.host?.filesystems ?? []).filter((fs) => fs.files > 0 && fs.filesFree / fs.files < def.threshold).map((fs) => ({ labels: { instance: i.instance, mountpoint: fs.mountpoint } })),
  BerthHostMemoryLow: (def, i) =>
    i.host && i.host.memAvailableBytes !== undefined && i.host.memTotalBytes > 0 && i.host.memAvailableBytes / i.host.memTotalBytes < def.threshold ? [{ labels: { instance: i.instance } }] : [],
  BerthBackupTooOld: (def, i) => i.backups.filter((b) => (i.now - b.at) / 1000 > def.threshold).map((b) => ({ labels: { project: b.project, target: b.target }, project: b.project })),
  BerthDeployFailed: (def, i, ctx) => {
    const counts = new Map<string, { project: string; service: string; result: string; n: number }>();
    for (const d of i.deploys) {
      if (!/^(failed|rolled-back|interrupted)$/.test(d.result) || d.finishedAt <= i.now - ctx.windowMs || d.finishedAt > i.now) continue;
      const key = `${d.project}|${d.service}|${d.result}`;
      const entry = counts.get(key) ?? { project: d.project, service: d.service, result: d.result, n: 0 };
      entry.n++;
      counts.set(key, entry);
    }
    return [...counts.values()].filter((c) => c.n > def.threshold).map((c) => ({ labels: { project: c.project, service: c.service, result: c.result }, project: c.project, service: c.service }));
  },
  BerthEngineDown: (def, i) => (i.watcher && (i.watcher.dockerUp ? 1 : 0) === def.threshold ? [{ labels: { instance: i.instance } }] : []),
  BerthEventsStreamDown: (def, i) => (i.watcher && (i.watcher.eventsStreamUp ? 1 : 0) === def.threshold ? [{ labels: { instance: i.instance } }] : []),
  BerthProbeFailing: (def, i) =>
    i.probes.filter((p) => (p.success ? 1 : 0) === def.threshold).map((p) => ({ labels: { project: p.target.project, service: p.target.service, instance: p.target.url }, project: p.target.project, service: p.target.service })),
  BerthCertificateExpiring: (def, i) =>
    i.probes
      .filter((p) => p.certExpiry !== undefined && p.certExpiry - i.now / 1000 < def.threshold)
      .map((p) => ({ labels: { project: p.target.project, service: p.target.service, instance: p.target.url }, project: p.target.project, service: p.target.service })),
};

function exitCodes(s: ServiceView): string[] {
  const codes = new Set<string>();
  for (const key of s.counters.exits.keys()) {
    const [code = '', requested = ''] = key.split('|');
    if (requested === 'false' && code !== '0') codes.add(code);
  }
  return [...codes];
}

/** The counter series the conditions read, from the current inputs (raw values). */
function counterSeries(inputs: AlertInputs): Array<{ key: string; value: number; project?: string; service?: string; neverHeld?: boolean }> {
  const out: Array<{ key: string; value: number; project?: string; service?: string; neverHeld?: boolean }> = [];
  for (const s of inputs.services) {
    const at = { project: s.project, service: s.service };
    const k = `${s.project}|${s.service}`;
    out.push({ key: `health|${k}`, value: s.counters.healthTransitions.get('unhealthy') ?? 0, ...at });
    out.push({ key: `oom|${k}`, value: s.counters.oomEvents, ...at });
    // BerthStopForced is never held: a SIGKILL on a planned stop is the finding.
    out.push({ key: `forced|${k}`, value: s.counters.stopsForced, ...at, neverHeld: true });
    let unasked = 0;
    for (const [key, n] of s.counters.exits) {
      const [code = '', requested = ''] = key.split('|');
      if (requested !== 'false') continue;
      unasked += n;
      if (code !== '0') out.push({ key: `exit|${k}|${code}`, value: n, ...at });
    }
    out.push({ key: `unasked|${k}`, value: unasked, ...at });
  }
  for (const c of inputs.containers) {
    if (c.status !== 'running' || !c.resources) continue;
    out.push({ key: `cfs|${c.name}`, value: c.resources.cfsPeriods, project: c.project, service: c.service });
    out.push({ key: `throttled|${c.name}`, value: c.resources.cfsThrottledPeriods, project: c.project, service: c.service });
  }
  return out;
}

interface CounterTrack {
  raw: number;
  /** Increments that happened while a planned stop held the series. */
  held: number;
  /** Effective (raw - held) values at change points, oldest first; the first is the baseline. */
  points: Array<{ t: number; v: number }>;
  /** Last evaluation that saw the series (a gone container's series is dropped after a window). */
  seen: number;
}

export interface EvaluatorOptions {
  /** The catalogue (default: the shipped one). */
  alerts?: readonly AlertDefinition[];
  /** Only these compose projects' service and container alerts (host-wide ones always). Default: all. */
  projects?: string[];
  /** Ignore planned stops (the negative control of the tests: what would page without them). */
  ignoreSilences?: boolean;
}

export class AlertEvaluator {
  readonly definitions: readonly AlertDefinition[];
  private readonly instances = new Map<string, AlertInstance>();
  private readonly counters = new Map<string, CounterTrack>();
  private readonly gauges = new Map<string, Array<{ t: number; v: number }>>();
  private firstEvaluation: number | undefined;
  private lastEvaluation: number | undefined;
  private readonly longestWindowMs: number;

  constructor(private readonly options: EvaluatorOptions = {}) {
    this.definitions = (options.alerts ?? ALERTS).filter((d) => !(d.name in NOT_EVALUATED_BY_AGENT));
    for (const d of this.definitions) if (!CONDITIONS[d.name]) throw new Error(`alert ${d.name} has no agent condition (add one to CONDITIONS or NOT_EVALUATED_BY_AGENT)`);
    this.longestWindowMs = Math.max(0, ...this.definitions.map((d) => (d.window ? promDurationMs(d.window) : 0)));
  }

  /** The alerts firing now (held ones included), oldest first. */
  firing(): AlertInstance[] {
    return [...this.instances.values()].filter((a) => a.state === 'firing').sort((a, b) => a.activeSince - b.activeSince);
  }

  /**
   * Alerts known to fire from before (a restarted agent, from the state store): they continue as
   * firing, so they are not notified again, and resolve when their condition is gone.
   */
  restore(alerts: AlertInstance[]): void {
    for (const alert of alerts) if (this.definitions.some((d) => d.name === alert.name)) this.instances.set(alert.fingerprint, { ...alert, state: 'firing' });
  }

  /** Pending and firing. */
  all(): AlertInstance[] {
    return [...this.instances.values()];
  }

  evaluate(inputs: AlertInputs): AlertTransition[] {
    const { now } = inputs;
    const inScope = (project: string | undefined) => project === undefined || !this.options.projects || this.options.projects.includes(project);
    const silences = this.options.ignoreSilences ? [] : inputs.silences;
    const since = this.lastEvaluation ?? now;
    // A held interval: a silence covering the series at any time since the last evaluation.
    const heldBetween = (project: string | undefined, service: string | undefined, from: number, to: number) =>
      project !== undefined && silences.some((s) => s.project === project && (s.service === undefined || s.service === service) && s.startedAt <= to && Math.min(s.expiresAt, s.endedAt ?? Infinity) >= from);
    const heldNow = (project: string | undefined, service: string | undefined) => project !== undefined && silences.some((s) => silenceCovers(s, project, service, now));

    this.firstEvaluation ??= now;
    for (const series of counterSeries(inputs)) this.observeCounter(series.key, series.value, now, !series.neverHeld && heldBetween(series.project, series.service, since, now));
    for (const fs of inputs.host?.filesystems ?? []) this.observeGauge(`avail|${fs.mountpoint}`, fs.availBytes, now);
    this.pruneHistory(now);

    const transitions: AlertTransition[] = [];
    const seen = new Set<string>();
    for (const def of this.definitions) {
      const windowMs = def.window ? promDurationMs(def.window) : 0;
      const forMs = promDurationMs(def.for);
      const ctx: EvalContext = {
        windowMs,
        increase: (key) => this.increase(key, windowMs, now),
        predictLinear: (key, horizon) => this.predictLinear(key, windowMs, horizon, now),
      };
      for (const active of CONDITIONS[def.name]!(def, inputs, ctx)) {
        if (!inScope(active.project)) continue;
        const labels = Object.fromEntries(def.by.map((k) => [k, active.labels[k] ?? '']));
        const fingerprint = `${def.name}${JSON.stringify(labels)}`;
        seen.add(fingerprint);
        const held = !NEVER_HELD.has(def.name) && heldNow(active.project, active.service);
        let instance = this.instances.get(fingerprint);
        if (!instance) {
          instance = {
            fingerprint, name: def.name, severity: def.severity, labels,
            summary: template(def.summary, labels), description: def.description,
            project: active.project, service: active.service,
            state: 'pending', activeSince: now, firedAt: undefined, held,
          };
          this.instances.set(fingerprint, instance);
        }
        instance.held = held;
        if (instance.state === 'pending') {
          // A planned stop holds the `for:` clock: it starts again when the stop ends.
          if (held) instance.activeSince = now;
          else if (now - instance.activeSince >= forMs) {
            instance.state = 'firing';
            instance.firedAt = now;
            transitions.push({ status: 'firing', alert: instance, at: now });
          }
        }
      }
    }
    for (const [fingerprint, instance] of this.instances) {
      if (seen.has(fingerprint)) continue;
      this.instances.delete(fingerprint);
      if (instance.state === 'firing') transitions.push({ status: 'resolved', alert: instance, at: now });
    }
    this.lastEvaluation = now;
    return transitions;
  }

  private observeCounter(key: string, raw: number, now: number, held: boolean): void {
    let track = this.counters.get(key);
    if (!track) {
      // Present at the first evaluation: its history is unknown, so it is the baseline. Appearing
      // later: it started at 0 since (WatchState creates counters at their first event).
      const baseline = now === this.firstEvaluation ? raw : 0;
      track = { raw: baseline, held: 0, points: [{ t: now, v: baseline }], seen: now };
      this.counters.set(key, track);
    }
    track.seen = now;
    const delta = raw >= track.raw ? raw - track.raw : raw; // a reset starts from 0, as increase() does
    track.raw = raw;
    if (delta === 0) return;
    if (held) track.held += delta;
    const v = track.points[track.points.length - 1]!.v + (held ? 0 : delta);
    if (v !== track.points[track.points.length - 1]!.v) track.points.push({ t: now, v });
  }

  private increase(key: string, windowMs: number, now: number): number {
    const track = this.counters.get(key);
    if (!track) return 0;
    const current = track.points[track.points.length - 1]!.v;
    let before = track.points[0]!.v;
    for (const p of track.points) {
      if (p.t > now - windowMs) break;
      before = p.v;
    }
    return current - before;
  }

  private observeGauge(key: string, value: number, now: number): void {
    const samples = this.gauges.get(key) ?? [];
    // One sample a minute is plenty for a 6-hour trend, and bounds the memory (360 per series).
    if (samples.length === 0 || now - samples[samples.length - 1]!.t >= 60_000) samples.push({ t: now, v: value });
    this.gauges.set(key, samples);
  }

  /** Prometheus' predict_linear: least squares over the window, extrapolated `horizon` seconds from now. */
  private predictLinear(key: string, windowMs: number, horizonSeconds: number, now: number): number | undefined {
    const samples = (this.gauges.get(key) ?? []).filter((s) => s.t > now - windowMs);
    // Too short a history gives a wild slope: at least a quarter of the window.
    if (samples.length < 2 || samples[samples.length - 1]!.t - samples[0]!.t < windowMs / 4) return undefined;
    return linearAt(samples.map((s) => ({ x: (s.t - now) / 1000, y: s.v })), horizonSeconds);
  }

  private pruneHistory(now: number): void {
    const keepFrom = now - this.longestWindowMs;
    for (const [key, track] of this.counters) {
      if (track.seen < keepFrom) {
        this.counters.delete(key);
        continue;
      }
      let drop = 0;
      while (drop + 1 < track.points.length && track.points[drop + 1]!.t <= keepFrom) drop++;
      if (drop > 0) track.points.splice(0, drop);
    }
    for (const [key, samples] of this.gauges) {
      while (samples.length > 0 && samples[0]!.t <= keepFrom) samples.shift();
      if (samples.length === 0) this.gauges.delete(key);
    }
  }
}

/** y at x of the least-squares line through the points. */
export function linearAt(points: Array<{ x: number; y: number }>, x: number): number {
  const n = points.length;
  const mx = points.reduce((a, p) => a + p.x, 0) / n;
  const my = points.reduce((a, p) => a + p.y, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (const p of points) {
    sxy += (p.x - mx) * (p.y - my);
    sxx += (p.x - mx) ** 2;
  }
  const slope = sxx === 0 ? 0 : sxy / sxx;
  return my + slope * (x - mx);
}

/** The catalogue's summaries use {{ $labels.NAME }} only. */
export function template(text: string, labels: Record<string, string>): string {
  return text.replace(/\{\{\s*\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}/g, (_, name: string) => labels[name] ?? '');
}
