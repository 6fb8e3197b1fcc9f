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
  /** Bumped by every write: readers cache the stored bars per generation. */
  generation = 0;

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
    this.generation++;
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
 * that holds `now`, from the store (one query for all services), plus what is gathered but not
 * written yet.
 */
export function historyBars(store: StateStore, project: string, now: number, count: number, barSeconds: number, unwritten: ReturnType<HistoryRecorder['unwritten']> = []): Map<string, Bar[]> {
  return addUnwritten(storedBars(store, project, now, count, barSeconds), unwritten, now, count, barSeconds);
}

/** The stored part of historyBars: it changes only when the recorder writes, so readers may cache it per write. */
export function storedBars(store: StateStore, project: string, now: number, count: number, barSeconds: number): Map<string, Bar[]> {
  const start = blankBars(now, count, barSeconds)[0]!.start;
  const end = start + count * barSeconds;
  // Summed per bar in SQLite: 84 rows a service for 7 days instead of its 672 buckets.
  const rows = store.db
    .prepare('SELECT service, ? + ((bucket - ?) / ?) * ? AS bucket, SUM(up_s) AS up, SUM(degraded_s) AS degraded, SUM(down_s) AS down, SUM(planned_s) AS planned FROM monitor_history WHERE project = ? AND bucket >= ? AND bucket < ? GROUP BY service, (bucket - ?) / ?')
    .all(start, start, barSeconds, barSeconds, project, start, end, start, barSeconds) as Array<{ service: string; bucket: number; up: number; degraded: number; down: number; planned: number }>;
  return addUnwritten(new Map(), rows, now, count, barSeconds);
}

/** A copy of `bars` with `entries` (buckets) added; `bars` is left as it was. */
export function addUnwritten(bars: Map<string, Bar[]>, entries: Array<{ service: string; bucket: number; up: number; degraded: number; down: number; planned: number }>, now: number, count: number, barSeconds: number): Map<string, Bar[]> {
  const out = new Map([...bars].map(([service, list]) => [service, list.map((b) => ({ ...b }))]));
  const start = blankBars(now, count, barSeconds)[0]!.start;
  for (const e of entries) {
    let list = out.get(e.service);
    if (!list) {
      list = blankBars(now, count, barSeconds);
      out.set(e.service, list);
    }
    const bar = list[Math.floor((e.bucket - start) / barSeconds)];
    if (!bar) continue;
    bar.up += e.up;
    bar.degraded += e.degraded;
    bar.down += e.down;
    bar.planned += e.planned;
  }
  return out;
}

/** `count` empty bars of `barSeconds`, the last one holding `now`. */
export function blankBars(now: number, count: number, barSeconds: number): Bar[] {
  const end = Math.floor(now / 1000 / barSeconds) * barSeconds + barSeconds;
  return Array.from({ length: count }, (_, i) => ({ start: end - (count - i) * barSeconds, seconds: barSeconds, up: 0, degraded: 0, down: 0, planned: 0 }));
}
