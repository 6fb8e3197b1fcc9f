/** The backup catalog: the `backups` table of the state store. */
import { BerthError, ExitCode } from '../lib/errors.js';
import { hostName, type StateStore } from '../state/store.js';
import type { BackupKind, BackupManifest, CatalogEntry } from './types.js';

interface Row {
  id: string;
  project: string;
  target: string;
  kind: string;
  destination: string;
  started_at: string;
  finished_at: string | null;
  status: string;
  size_bytes: number | null;
  sha256: string | null;
  location: string | null;
  manifest: string | null;
  error: string | null;
  purpose: string | null;
  host: string | null;
  verified_at: string | null;
  verify_ok: number | null;
  verify_detail: string | null;
}

function fromRow(row: Row): CatalogEntry {
  return {
    id: row.id,
    project: row.project,
    target: row.target,
    kind: row.kind as BackupKind,
    destination: row.destination,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    status: row.status as CatalogEntry['status'],
    sizeBytes: row.size_bytes,
    sha256: row.sha256,
    location: row.location,
    manifest: row.manifest ? (JSON.parse(row.manifest) as BackupManifest) : null,
    error: row.error,
    purpose: row.purpose === 'safety' ? 'safety' : 'backup',
    host: row.host,
    lastVerify: row.verified_at ? { at: row.verified_at, ok: row.verify_ok === 1, detail: row.verify_detail ?? '' } : null,
  };
}

export class Catalog {
  constructor(private readonly store: StateStore) {}

  start(entry: { id: string; project: string; target: string; kind: BackupKind; destination: string; startedAt: string; location: string; purpose?: 'backup' | 'safety' }): void {
    this.store.db
      .prepare('INSERT INTO backups (id, project, target, kind, destination, started_at, status, location, purpose, host) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)')
      .run(entry.id, entry.project, entry.target, entry.kind, entry.destination, entry.startedAt, 'running', entry.location, entry.purpose ?? 'backup', hostName());
  }

  /**
   * A backup found at a destination (the destination is the truth, the catalog its cache):
   * inserted when unknown; a row that said otherwise (failed, running) is left as it is.
   */
  discovered(manifest: BackupManifest, destination: string, location: string): boolean {
    const result = this.store.db
      .prepare("INSERT OR IGNORE INTO backups (id, project, target, kind, destination, started_at, finished_at, status, size_bytes, sha256, location, manifest, purpose, host) VALUES (?, ?, ?, ?, ?, ?, ?, 'verified', ?, ?, ?, ?, ?, ?)")
      .run(manifest.id, manifest.project, manifest.target, manifest.kind, destination, manifest.startedAt, manifest.finishedAt, manifest.totalBytes, fileChecksums(manifest), location, JSON.stringify(manifest), manifest.purpose ?? 'backup', manifest.host);
    // Back where it belongs (a destination that was unreachable or misconfigured when it was looked for).
    this.store.db.prepare("UPDATE backups SET status = 'verified', error = NULL WHERE id = ? AND status = 'failed' AND error LIKE 'not found at destination %'").run(manifest.id);
    return result.changes > 0;
  }

  /** The result of `berth backup verify`: a failed verify marks the backup failed, so nothing counts on it. */
  verifyResult(id: string, ok: boolean, detail: string): void {
    const at = new Date().toISOString();
    this.store.db.prepare('UPDATE backups SET verified_at = ?, verify_ok = ?, verify_detail = ? WHERE id = ?').run(at, ok ? 1 : 0, detail, id);
    if (!ok) this.store.db.prepare("UPDATE backups SET status = 'failed', error = ? WHERE id = ? AND status = 'verified'").run(`verify failed ${at.slice(0, 19).replace('T', ' ')}: ${detail}`, id);
    // Verified again (the file is back): it counts again.
    else this.store.db.prepare("UPDATE backups SET status = 'verified', error = NULL WHERE id = ? AND status = 'failed' AND error LIKE 'verify failed %' AND manifest IS NOT NULL").run(id);
  }

  verified(id: string, manifest: BackupManifest, location: string): void {
    // The catalog's sha256 is the manifest's own: one value proves every file listed in it.
    this.store.db
      .prepare("UPDATE backups SET status = 'verified', finished_at = ?, size_bytes = ?, sha256 = ?, location = ?, manifest = ?, error = NULL WHERE id = ?")
      .run(manifest.finishedAt, manifest.totalBytes, fileChecksums(manifest), location, JSON.stringify(manifest), id);
  }

  failed(id: string, error: string): void {
    this.store.db.prepare("UPDATE backups SET status = 'failed', finished_at = ?, error = ? WHERE id = ?").run(new Date().toISOString(), error, id);
  }

  pruned(id: string): void {
    this.store.db.prepare("UPDATE backups SET status = 'pruned' WHERE id = ?").run(id);
  }

  get(id: string): CatalogEntry | undefined {
    const found = this.find(id);
    if (found.length > 1) throw ambiguousBackupId(id, found);
    return found[0];
  }

  /** The backup with this id, or every one whose id starts with it (unique prefixes work, as with git). */
  find(id: string): CatalogEntry[] {
    const row = this.store.db.prepare('SELECT * FROM backups WHERE id = ?').get(id) as Row | undefined;
    if (row) return [fromRow(row)];
    return (this.store.db.prepare('SELECT * FROM backups WHERE id LIKE ? ORDER BY id LIMIT 11').all(`${id.replace(/[%_]/g, '')}%`) as Row[]).map(fromRow);
  }

  list(filter: { project?: string; target?: string; includePruned?: boolean } = {}): CatalogEntry[] {
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.project) (where.push('project = ?'), params.push(filter.project));
    if (filter.target) (where.push('target = ?'), params.push(filter.target));
    if (!filter.includePruned) where.push("status != 'pruned'");
    const sql = `SELECT * FROM backups ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY started_at DESC, id DESC`;
    return (this.store.db.prepare(sql).all(...params) as Row[]).map(fromRow);
  }

  /** The newest verified backup per target (safety backups aside), for dead-man health. */
  newestVerified(project: string): Map<string, CatalogEntry> {
    const result = new Map<string, CatalogEntry>();
    for (const entry of this.list({ project })) if (entry.status === 'verified' && entry.purpose !== 'safety' && !result.has(entry.target)) result.set(entry.target, entry);
    return result;
  }
}

function fileChecksums(manifest: BackupManifest): string {
  return manifest.files.map((f) => `${f.name}:${f.sha256}`).join(' ');
}

/** A prefix that starts several backups: say so and list them (up to 10). */
export function ambiguousBackupId(id: string, found: CatalogEntry[]): BerthError {
  const shown = found.slice(0, 10).map((e) => e.id).join(', ');
  return new BerthError(`backup id "${id}" is ambiguous: it starts ${found.length > 10 ? 'more than 10' : found.length} backups (${shown}${found.length > 10 ? ', …' : ''})`, {
    exitCode: ExitCode.usage,
    hint: 'give more of the id (berth backup list)',
  });
}
