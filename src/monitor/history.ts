/**
 * The status page's health history: how long each service was up, degraded, down or in a
 * planned stop, in 15-minute buckets in the state store (monitor_history). Bounded: buckets older
 * than 7 days are deleted, so a service keeps at most 673 rows. The recorder accumulates in
 * memory and writes once a minute (and at stop); the bars read 96 x 15 min (24 h) or 84 x 2 h (7 d).
 */
import type { StateStore } from '../state/store.js';

export type ServiceHealth = 'up' | 'degraded' | 'down' | 'planned';
export const BUCKET_SECONDS = 900;
export const HISTORY_DAYS = 7;

export interface Bar {
  /** Start of the bar, seconds since the epoch. */
  start: number;
  seconds: number;
  up: number;
  degraded: number;
  down: number;
  planned: number;
}

export type BarState = 'up' | 'degraded' | 'down' | 'planned' | 'none';

/** A bar's colour: any time down is down (an outage must not vanish in an average), then degraded, planned, up. */
export function barState(bar: Bar): BarState {
  if (bar.down > 0) return 'down';
  if (bar.degraded > 0) return 'degraded';
  if (bar.planned > 0 && bar.up === 0) return 'planned';
  if (bar.up > 0 || bar.planned > 0) return 'up';
  return 'none';
}

/** Share of observed time up (a planned stop counts as neither). */
export function uptime(bars: Bar[]): number | undefined {
  const up = bars.reduce((a, b) => a + b.up, 0);
  const observed = bars.reduce((a, b) => a + b.up + b.degraded + b.down, 0);
  return observed > 0 ? up / observed : undefined;
}

export class HistoryRecorder {
  private readonly pending = new Map<string, { project: string; service: string; bucket: number; up: number; degraded: number; down: number; planned: number }>();
  private last: number | undefined;

  constructor(private readonly store: StateStore) {}

  /** Adds the time since the last observation to each service's current state. */
  observe(project: string, states: Array<{ service: string; state: ServiceHealth }>, now = Date.now()): void {
    const since = this.last ?? now;
    this.last = now;
    // A gap (the agent was stopped, the machine slept) is not counted as any state.
    const seconds = Math.min(now - since, 60_000) / 1000;
    if (seconds <= 0) return;
    const bucket = Math.floor(now / 1000 / BUCKET_SECONDS) * BUCKET_SECONDS;
    for (const { service, state } of states) {
      const key = `${project}\u0000${service}\u0000${bucket}`;
      const entry = this.pending.get(key) ?? { project, service, bucket, up: 0, degraded: 0, down: 0, planned: 0 };
      entry[state] += seconds;
      this.pending.set(key, entry);
    }
  }

  /** Writes what was gathered and deletes buckets older than the history keeps. */
  flush(now = Date.now()): void {
    const upsert = this.store.db.prepare(`INSERT INTO monitor_history (project, service, bucket, up_s, degraded_s, down_s, planned_s) VALUES (?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (project, service, bucket) DO UPDATE SET up_s = up_s + excluded.up_s, degraded_s = degraded_s + excluded.degraded_s, down_s = down_s + excluded.down_s, planned_s = planned_s + excluded.planned_s`);
    const entries = [...this.pending.values()];
    this.pending.clear();
    this.store.db.transaction(() => {
      for (const e of entries) upsert.run(e.project, e.service, e.bucket, e.up, e.degraded, e.down, e.planned);
      this.store.db.prepare('DELETE FROM monitor_history WHERE bucket < ?').run(Math.floor(now / 1000) - HISTORY_DAYS * 86_400 - BUCKET_SECONDS);
    })();
  }

  /** What is gathered but not written yet (the page shows the current bucket live). */
  unwritten(project: string): Array<{ service: string; bucket: number; up: number; degraded: number; down: number; planned: number }> {
    return [...this.pending.values()].filter((e) => e.project === project);
  }
}

/**
 * Bars of every service of a project: `count` bars of `barSeconds` each, ending with the one
 * that holds `now`. One query for all services.
 */
export function historyBars(store: StateStore, project: string, now: number, count: number, barSeconds: number, unwritten: ReturnType<HistoryRecorder['unwritten']> = []): Map<string, Bar[]> {
  const start = blankBars(now, count, barSeconds)[0]!.start;
  const end = start + count * barSeconds;
  const rows = store.db
    .prepare('SELECT service, bucket, up_s AS up, degraded_s AS degraded, down_s AS down, planned_s AS planned FROM monitor_history WHERE project = ? AND bucket >= ? AND bucket < ?')
    .all(project, start, end) as Array<{ service: string; bucket: number; up: number; degraded: number; down: number; planned: number }>;
  const out = new Map<string, Bar[]>();
  const barsOf = (service: string) => {
    let bars = out.get(service);
    if (!bars) {
      bars = blankBars(now, count, barSeconds);
      out.set(service, bars);
    }
    return bars;
  };
  for (const r of [...rows, ...unwritten.filter((u) => u.bucket >= start && u.bucket < end)]) {
    const bar = barsOf(r.service)[Math.floor((r.bucket - start) / barSeconds)];
    if (!bar) continue;
    bar.up += r.up;
    bar.degraded += r.degraded;
    bar.down += r.down;
    bar.planned += r.planned;
  }
  return out;
}

/** `count` empty bars of `barSeconds`, the last one holding `now`. */
export function blankBars(now: number, count: number, barSeconds: number): Bar[] {
  const end = Math.floor(now / 1000 / barSeconds) * barSeconds + barSeconds;
  return Array.from({ length: count }, (_, i) => ({ start: end - (count - i) * barSeconds, seconds: barSeconds, up: 0, degraded: 0, down: 0, planned: 0 }));
}
