/**
 * Planned stops, announced to the agent through the state store: `berth deploy`, `berth rollout`
 * (and rollback) and a backup with stop_containers write a silence before they stop anything and
 * end it when they are done. The agent's alerting reads the active ones: what a planned stop
 * causes does not page. A silence always expires (a berth killed mid-rollout must not mute the
 * project forever), and one whose process is gone on this host counts as ended.
 */
import { hostname } from 'node:os';
import type { StateStore } from '../state/store.js';
import { currentUser } from '../state/store.js';

export interface Silence {
  id: number;
  project: string;
  /** undefined: the whole project. */
  service: string | undefined;
  reason: string;
  user: string;
  host: string;
  pid: number;
  startedAt: number;
  expiresAt: number;
  endedAt: number | undefined;
}

export interface SilenceHandle {
  ids: number[];
  /** Ends the silence (idempotent). */
  end(): void;
}

/** Default bound of a silence: longer than any sane rollout, short enough that a crash is noticed. */
export const SILENCE_MAX_MS = 30 * 60_000;

/**
 * Announces a planned stop of `services` (none: the whole project). Never throws: monitoring
 * must not stop a deploy; a failure to announce only means the agent may page.
 */
export function announcePlannedStop(store: StateStore, entry: { project: string; services?: string[]; reason: string; maxMs?: number }, now = Date.now()): SilenceHandle {
  const ids: number[] = [];
  try {
    const insert = store.db.prepare('INSERT INTO monitor_silences (project, service, reason, user, host, pid, started_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
    const targets = entry.services?.length ? entry.services : [null];
    store.db.transaction(() => {
      for (const service of targets) ids.push(Number(insert.run(entry.project, service, entry.reason, currentUser(), hostname(), process.pid, now, now + (entry.maxMs ?? SILENCE_MAX_MS)).lastInsertRowid));
    })();
  } catch {
    // An older store or a read-only one: the deploy goes on unannounced.
  }
  let ended = false;
  return {
    ids,
    end: () => {
      if (ended || ids.length === 0) return;
      ended = true;
      try {
        const stmt = store.db.prepare('UPDATE monitor_silences SET ended_at = ? WHERE id = ? AND ended_at IS NULL');
        for (const id of ids) stmt.run(Date.now(), id);
      } catch {
        // It expires by itself.
      }
    },
  };
}

/** Runs `fn` inside a planned-stop silence. */
export async function withPlannedStop<T>(store: StateStore, entry: { project: string; services?: string[]; reason: string; maxMs?: number }, fn: () => Promise<T>): Promise<T> {
  const silence = announcePlannedStop(store, entry);
  try {
    return await fn();
  } finally {
    silence.end();
  }
}

/**
 * The silences in force at `now` for a project, and those that ended within `recentMs` (the
 * alerting discounts what happened while they held). A silence whose process is gone on this
 * host is treated as ended when its process was last known.
 */
export function silencesOf(store: StateStore, project: string, now = Date.now(), recentMs = 0, isAlive: (pid: number) => boolean = pidAlive): Silence[] {
  const rows = store.db
    .prepare('SELECT * FROM monitor_silences WHERE project = ? AND started_at <= ? AND (ended_at IS NULL OR ended_at >= ?) AND expires_at >= ? ORDER BY id')
    .all(project, now, now - recentMs, now - recentMs) as Array<Record<string, unknown>>;
  const host = hostname();
  return rows
    .map((r): Silence => ({
      id: Number(r.id),
      project: String(r.project),
      service: r.service === null ? undefined : String(r.service),
      reason: String(r.reason),
      user: String(r.user),
      host: String(r.host),
      pid: Number(r.pid),
      startedAt: Number(r.started_at),
      expiresAt: Number(r.expires_at),
      endedAt: r.ended_at === null ? undefined : Number(r.ended_at),
    }))
    .map((s) => (s.endedAt === undefined && s.host === host && !isAlive(s.pid) ? { ...s, endedAt: now } : s));
}

/** Whether a silence covers (project, service) at time `t`. */
export function silenceCovers(s: Silence, project: string, service: string | undefined, t: number): boolean {
  if (s.project !== project) return false;
  if (s.service !== undefined && s.service !== service) return false;
  return s.startedAt <= t && t <= Math.min(s.expiresAt, s.endedAt ?? Number.POSITIVE_INFINITY);
}

/** Deletes silences that ended or expired more than a day ago (the table stays small). */
export function pruneSilences(store: StateStore, now = Date.now()): void {
  store.db.prepare('DELETE FROM monitor_silences WHERE MIN(expires_at, COALESCE(ended_at, expires_at)) < ?').run(now - 86_400_000);
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
