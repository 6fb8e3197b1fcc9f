/** The backup catalog: the `backups` table of the state store. */
import { BerthError, ExitCode } from '../lib/errors.js';
import type { StateStore } from '../state/store.js';
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
  };
}

export class Catalog {
  constructor(private readonly store: StateStore) {}

  start(entry: { id: string; project: string; target: string; kind: BackupKind; destination: string; startedAt: string; location: string }): void {
    this.store.db
      .prepare('INSERT INTO backups (id, project, target, kind, destination, started_at, status, location) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
      .run(entry.id, entry.project, entry.target, entry.kind, entry.destination, entry.startedAt, 'running', entry.location);
  }

  verified(id: string, manifest: BackupManifest, location: string): void {
    // The catalog's sha256 is the manifest's own: one value proves every file listed in it.
    this.store.db
      .prepare("UPDATE backups SET status = 'verified', finished_at = ?, size_bytes = ?, sha256 = ?, location = ?, manifest = ?, error = NULL WHERE id = ?")
      .run(manifest.finishedAt, manifest.totalBytes, manifest.files.map((f) => `${f.name}:${f.sha256}`).join(' '), location, JSON.stringify(manifest), id);
  }

  failed(id: string, error: string): void {
    this.store.db.prepare("UPDATE backups SET status = 'failed', finished_at = ?, error = ? WHERE id = ?").run(new Date().toISOString(), error, id);
  }

  pruned(id: string): void {
    this.store.db.prepare("UPDATE backups SET status = 'pruned' WHERE id = ?").run(id);
  }

  get(id: string): CatalogEntry | undefined {
    const row = this.store.db.prepare('SELECT * FROM backups WHERE id = ?').get(id) as Row | undefined;
    if (row) return fromRow(row);
    // Unique prefixes work too, as with git.
    const rows = this.store.db.prepare('SELECT * FROM backups WHERE id LIKE ? ORDER BY id LIMIT 11').all(`${id.replace(/[%_]/g, '')}%`) as Row[];
    if (rows.length > 1) {
      throw new BerthError(`backup id "${id}" is ambiguous: it starts ${rows.length > 10 ? 'more than 10' : rows.length} backups (${rows.slice(0, 10).map((r) => r.id).join(', ')}${rows.length > 10 ? ', …' : ''})`, {
        exitCode: ExitCode.usage,
        hint: 'give more of the id (berth backup list)',
      });
    }
    return rows.length === 1 ? fromRow(rows[0]!) : undefined;
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

  /** The newest verified backup per target, for dead-man health. */
  newestVerified(project: string): Map<string, CatalogEntry> {
    const result = new Map<string, CatalogEntry>();
    for (const entry of this.list({ project })) if (entry.status === 'verified' && !result.has(entry.target)) result.set(entry.target, entry);
    return result;
  }
}
