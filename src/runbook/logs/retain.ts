/**
 * The last lines of replicas a rollout removes, kept in the state store (bounded: the last
 * RETAIN_LINES lines and RETAIN_BYTES of each replica, the newest RETAIN_REPLICAS replicas of each
 * service), so "what did the old version log before it was replaced" still has an answer.
 */
import type { Engine } from '../../engine/client.js';
import { ComposeLabel } from '../../compose/containers.js';
import type { StateStore } from '../../state/store.js';
import { readLogs, type LogEntry } from './entries.js';

export const RETAIN_LINES = 500;
export const RETAIN_BYTES = 256 * 1024;
export const RETAIN_REPLICAS = 20;

/** Reads each container's last lines and stores them; never throws (a rollout must not fail for it). */
export async function retainLastLines(engine: Engine, store: StateStore, project: string, containers: Array<{ id: string; name: string }>, reason: string): Promise<number> {
  let kept = 0;
  await Promise.all(containers.map(async (c) => {
    try {
      const info = await engine.inspectContainer(c.id);
      const service = info.Config.Labels?.[ComposeLabel.service] ?? '';
      const entries: LogEntry[] = [];
      await readLogs(engine, { id: c.id, name: c.name, service, tty: Boolean(info.Config.Tty) }, { follow: false, tail: RETAIN_LINES }, (e) => entries.push(e));
      let bytes = 0;
      let from = entries.length;
      while (from > 0 && bytes + entries[from - 1]!.text.length <= RETAIN_BYTES) bytes += entries[--from]!.text.length;
      const lines = entries.slice(from).map((e) => [e.time, e.stream, e.text]);
      store.db.prepare('INSERT INTO retained_logs (project, service, container, container_id, image, removed_at, reason, lines) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
        .run(project, service, c.name, c.id, info.Config.Image, new Date().toISOString(), reason, JSON.stringify(lines));
      store.db.prepare('DELETE FROM retained_logs WHERE project = ? AND service = ? AND id NOT IN (SELECT id FROM retained_logs WHERE project = ? AND service = ? ORDER BY id DESC LIMIT ?)')
        .run(project, service, project, service, RETAIN_REPLICAS);
      kept++;
    } catch {
      // Gone already, or logs unreadable (a logging driver without read support): nothing to keep.
    }
  }));
  return kept;
}

export interface RetainedReplica {
  container: string;
  containerId: string;
  service: string;
  image: string | null;
  removedAt: string;
  reason: string | null;
  entries: LogEntry[];
}

export function listRetained(store: StateStore, project: string, services: string[]): RetainedReplica[] {
  const rows = store.db.prepare('SELECT service, container, container_id AS containerId, image, removed_at AS removedAt, reason, lines FROM retained_logs WHERE project = ? ORDER BY id').all(project) as Array<Omit<RetainedReplica, 'entries'> & { lines: string }>;
  return rows.filter((r) => services.includes(r.service)).map(({ lines, ...r }) => ({
    ...r,
    entries: (JSON.parse(lines) as Array<[string, 'stdout' | 'stderr', string]>).map(([time, stream, text]) => ({ time, stream, text, container: r.container, service: r.service, removed: true })),
  }));
}
