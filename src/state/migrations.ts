/** Schema migrations of the state store, applied in order; never edit one that has shipped. */
export const MIGRATIONS: ReadonlyArray<{ name: string; sql: string }> = [
  {
    name: 'deploy history, backup catalog, audit log, locks',
    sql: `
      CREATE TABLE deploys (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        project TEXT NOT NULL,
        service TEXT NOT NULL,
        kind TEXT NOT NULL,              -- rollout | deploy | rollback
        started_at TEXT NOT NULL,
        finished_at TEXT,
        user TEXT NOT NULL,
        host TEXT NOT NULL,
        image_before TEXT,
        digest_before TEXT,
        image_after TEXT,
        digest_after TEXT,
        result TEXT NOT NULL DEFAULT 'running', -- running | succeeded | failed | rolled-back | interrupted
        duration_ms INTEGER,
        detail TEXT,                     -- JSON: phase durations, replicas, reason
        log TEXT
      );
      CREATE INDEX deploys_project_service ON deploys (project, service, id);

      CREATE TABLE backups (
        id TEXT PRIMARY KEY,
        project TEXT NOT NULL,
        target TEXT NOT NULL,
        kind TEXT NOT NULL,              -- postgres | mysql | volume
        destination TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        status TEXT NOT NULL,            -- running | verified | failed | pruned
        size_bytes INTEGER,
        sha256 TEXT,
        location TEXT,
        manifest TEXT,
        error TEXT
      );
      CREATE INDEX backups_project_target ON backups (project, target, started_at);

      CREATE TABLE audit_log (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        user TEXT NOT NULL,
        host TEXT NOT NULL,
        project TEXT NOT NULL,
        action TEXT NOT NULL,
        detail TEXT
      );

      CREATE TABLE locks (
        name TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        host TEXT NOT NULL,
        pid INTEGER NOT NULL,
        acquired_at TEXT NOT NULL,
        purpose TEXT
      );
    `,
  },
  {
    name: 'facts: answers worth remembering between runs (the Compose CLI version per binary)',
    sql: `
      CREATE TABLE facts (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        updated_at TEXT NOT NULL
      );
    `,
  },
  {
    name: 'retained_logs: the last lines of replicas a rollout removed (berth logs)',
    sql: `
      CREATE TABLE retained_logs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        project TEXT NOT NULL,
        service TEXT NOT NULL,
        container TEXT NOT NULL,
        container_id TEXT NOT NULL,
        image TEXT,
        removed_at TEXT NOT NULL,
        reason TEXT,
        lines TEXT NOT NULL              -- JSON: [[time, stream, text], ...], oldest first
      );
      CREATE INDEX retained_logs_project_service ON retained_logs (project, service, id);
    `,
  },
];
