import { mkdirSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { BerthError } from '../lib/errors.js';
import { MIGRATIONS } from './migrations.js';

import { defaultStateDir } from './dir.js';

export { defaultStateDir };

/**
 * The one state store of berth: SQLite in the state directory, with schema migrations.
 * Holds deploy history, the backup catalog, the audit log and locks.
 */
export class StateStore {
  readonly db: Database.Database;
  readonly dir: string;

  private constructor(db: Database.Database, dir: string) {
    this.db = db;
    this.dir = dir;
  }

  static open(dir = defaultStateDir()): StateStore {
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const db = new Database(join(dir, 'berth.db'));
      // WAL lets a long-running agent and the CLI read and write side by side.
      db.pragma('journal_mode = WAL');
      db.pragma('busy_timeout = 5000');
      db.pragma('foreign_keys = ON');
      const store = new StateStore(db, dir);
      store.migrate();
      return store;
    } catch (error) {
      if (error instanceof BerthError) throw error;
      throw new BerthError(`cannot open the state store in ${dir}: ${(error as Error).message}`, { hint: 'set BERTH_STATE_DIR to a writable directory', cause: error });
    }
  }

  /** Applies the migrations not yet applied, each in its own transaction. */
  private migrate(): void {
    this.db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)');
    const rows = this.db.prepare('SELECT version, name FROM schema_migrations ORDER BY version').all() as Array<{ version: number; name: string }>;
    const applied = new Set(rows.map((r) => r.version));
    const newest = Math.max(0, ...applied);
    if (newest > MIGRATIONS.length) {
      throw new BerthError(`the state store in ${this.dir} was written by a newer berth (schema ${newest}); upgrade berth`);
    }
    // A version applied under another name came from another build (a development branch): running
    // the migrations on top of it would mix schemas, so say so instead of failing half-way.
    const foreign = rows.find((r) => MIGRATIONS[r.version - 1]!.name !== r.name);
    if (foreign) {
      throw new BerthError(`the state store in ${this.dir} was written by another build of berth (its schema ${foreign.version} is "${foreign.name}", this berth's is "${MIGRATIONS[foreign.version - 1]!.name}")`, {
        hint: 'move that state directory aside (keep it: it holds the deploy history and backup catalog), or set BERTH_STATE_DIR',
      });
    }
    for (const [index, migration] of MIGRATIONS.entries()) {
      const version = index + 1;
      if (applied.has(version)) continue;
      this.db.transaction(() => {
        this.db.exec(migration.sql);
        this.db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(version, migration.name, new Date().toISOString());
      })();
    }
  }

  get schemaVersion(): number {
    return (this.db.prepare('SELECT MAX(version) AS v FROM schema_migrations').get() as { v: number | null }).v ?? 0;
  }

  /** Appends to the audit log: who did what to which project. */
  audit(entry: { project: string; action: string; detail?: unknown; user?: string }): void {
    this.db
      .prepare('INSERT INTO audit_log (at, user, host, project, action, detail) VALUES (?, ?, ?, ?, ?, ?)')
      .run(new Date().toISOString(), entry.user ?? currentUser(), hostName(), entry.project, entry.action, entry.detail === undefined ? null : JSON.stringify(entry.detail));
  }

  /** A remembered fact (see `remember`), or undefined. */
  fact(key: string): string | undefined {
    return (this.db.prepare('SELECT value FROM facts WHERE key = ?').get(key) as { value: string } | undefined)?.value;
  }

  /** Remembers a fact that is costly to find out and keyed so that a change gives a new key. */
  remember(key: string, value: string): void {
    this.db.prepare('INSERT INTO facts (key, value, updated_at) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at').run(key, value, new Date().toISOString());
  }

  close(): void {
    this.db.close();
  }
}


export function currentUser(): string {
  try {
    return process.env.SUDO_USER || userInfo().username;
  } catch {
    return String(process.getuid?.() ?? 'unknown');
  }
}
/** This server's name in records and manifests; BERTH_HOSTNAME overrides it (a restored server, tests). */
export function hostName(): string {
  return process.env.BERTH_HOSTNAME || hostname();
}
