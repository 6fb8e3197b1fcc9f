/** Deploy history in the state store's `deploys` table, and the image tags that keep rollback targets. */
import type { Engine } from '../engine/client.js';
import { currentUser, hostName, type StateStore } from '../state/store.js';

export type DeployKind = 'rollout' | 'deploy' | 'rollback';
export type DeployResult = 'running' | 'succeeded' | 'failed' | 'rolled-back' | 'interrupted';

export interface DeployRecord {
  id: number;
  project: string;
  service: string;
  kind: DeployKind;
  startedAt: string;
  finishedAt: string | null;
  user: string;
  host: string;
  imageBefore: string | null;
  /** The image ID (sha256 of its config) on this engine; stored in the digest_before column. */
  imageIdBefore: string | null;
  /** The registry's repository digest (name@sha256:…) when the image came from a registry; else null. */
  repoDigestBefore: string | null;
  imageAfter: string | null;
  imageIdAfter: string | null;
  repoDigestAfter: string | null;
  result: DeployResult;
  durationMs: number | null;
  detail: Record<string, unknown> | null;
  log: string | null;
}

const COLUMNS = `id, project, service, kind, started_at AS startedAt, finished_at AS finishedAt, user, host,
  image_before AS imageBefore, digest_before AS imageIdBefore, image_after AS imageAfter, digest_after AS imageIdAfter,
  result, duration_ms AS durationMs, detail, log`;

function toRecord(row: Record<string, unknown>): DeployRecord {
  const detail = row.detail ? (JSON.parse(String(row.detail)) as Record<string, unknown>) : null;
  const repoDigest = (key: string) => (typeof detail?.[key] === 'string' ? (detail[key] as string) : null);
  return { ...(row as unknown as DeployRecord), repoDigestBefore: repoDigest('repoDigestBefore'), repoDigestAfter: repoDigest('repoDigestAfter'), detail };
}

export function startDeploy(store: StateStore, entry: { project: string; service: string; kind: DeployKind; imageBefore?: string; imageIdBefore?: string; imageAfter: string; imageIdAfter?: string; detail: Record<string, unknown> }): number {
  const info = store.db
    .prepare(`INSERT INTO deploys (project, service, kind, started_at, user, host, image_before, digest_before, image_after, digest_after, result, detail)
              VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'running', ?)`)
    .run(entry.project, entry.service, entry.kind, new Date().toISOString(), currentUser(), hostName(), entry.imageBefore ?? null, entry.imageIdBefore ?? null, entry.imageAfter, entry.imageIdAfter ?? null, JSON.stringify({ ...entry.detail, pid: process.pid }));
  return Number(info.lastInsertRowid);
}

export function finishDeploy(store: StateStore, id: number, entry: { result: DeployResult; durationMs: number; detail?: Record<string, unknown>; log?: string }): void {
  const current = getDeploy(store, id);
  const detail = { ...(current?.detail ?? {}), ...(entry.detail ?? {}) };
  store.db.prepare('UPDATE deploys SET finished_at = ?, result = ?, duration_ms = ?, detail = ?, log = ? WHERE id = ?')
    .run(new Date().toISOString(), entry.result, Math.round(entry.durationMs), JSON.stringify(detail), entry.log ?? null, id);
}

export function getDeploy(store: StateStore, id: number): DeployRecord | undefined {
  const row = store.db.prepare(`SELECT ${COLUMNS} FROM deploys WHERE id = ?`).get(id) as Record<string, unknown> | undefined;
  return row ? toRecord(row) : undefined;
}

export function listDeploys(store: StateStore, project: string, options: { service?: string; limit?: number } = {}): DeployRecord[] {
  const rows = options.service
    ? store.db.prepare(`SELECT ${COLUMNS} FROM deploys WHERE project = ? AND service = ? ORDER BY id DESC LIMIT ?`).all(project, options.service, options.limit ?? 50)
    : store.db.prepare(`SELECT ${COLUMNS} FROM deploys WHERE project = ? ORDER BY id DESC LIMIT ?`).all(project, options.limit ?? 50);
  return (rows as Array<Record<string, unknown>>).map(toRecord);
}

/**
 * Records left 'running' by a berth that is gone become 'interrupted' (call with the deploy lock held:
 * no other rollout of this project runs). Returns them, newest first.
 */
export function markInterrupted(store: StateStore, project: string): DeployRecord[] {
  const rows = (store.db.prepare(`SELECT ${COLUMNS} FROM deploys WHERE project = ? AND result = 'running' ORDER BY id DESC`).all(project) as Array<Record<string, unknown>>).map(toRecord);
  for (const r of rows) store.db.prepare("UPDATE deploys SET result = 'interrupted', finished_at = ? WHERE id = ?").run(new Date().toISOString(), r.id);
  return rows;
}

/** The tag that keeps an image from pruning while it is a rollback target. */
export function keepTag(project: string, service: string, deployId: number, which: 'before' | 'after'): { repo: string; tag: string; ref: string } {
  const repo = `berth-keep/${project}-${service}`.toLowerCase().replace(/[^a-z0-9._/-]/g, '-');
  const tag = which === 'after' ? String(deployId) : `${deployId}-before`;
  return { repo, tag, ref: `${repo}:${tag}` };
}

export async function tagKeep(engine: Engine, imageId: string, keep: { repo: string; tag: string }): Promise<void> {
  await engine.call(`tag ${imageId.slice(7, 19)} as ${keep.repo}:${keep.tag}`, () => engine.docker.getImage(imageId).tag({ repo: keep.repo, tag: keep.tag }));
}

/**
 * Keeps the keep tags of the newest `keep` deploys of a service and untags the older ones, so rollback
 * targets do not pile up forever (an image still used by a container only loses the tag).
 */
export async function pruneKeepTags(engine: Engine, project: string, service: string, keep = 10): Promise<string[]> {
  const repo = keepTag(project, service, 0, 'after').repo;
  const images = await engine.docker.listImages({ filters: { reference: [`${repo}:*`] } });
  const tags = images.flatMap((i) => i.RepoTags ?? []).filter((t) => t.startsWith(`${repo}:`));
  const ids = [...new Set(tags.map((t) => Number.parseInt(t.slice(repo.length + 1), 10)).filter(Number.isFinite))].sort((a, b) => b - a);
  const keepIds = new Set(ids.slice(0, keep));
  const removed: string[] = [];
  for (const tag of tags) {
    if (keepIds.has(Number.parseInt(tag.slice(repo.length + 1), 10))) continue;
    await engine.docker.getImage(tag).remove({ noprune: true }).then(() => removed.push(tag), () => undefined);
  }
  return removed;
}
