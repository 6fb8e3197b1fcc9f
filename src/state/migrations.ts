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
    name: 'backups: safety backups apart from retention, the host that made each, the last verify result',
    sql: `
      ALTER TABLE backups ADD COLUMN purpose TEXT NOT NULL DEFAULT 'backup'; -- backup | safety
      ALTER TABLE backups ADD COLUMN host TEXT;
      ALTER TABLE backups ADD COLUMN verified_at TEXT;
      ALTER TABLE backups ADD COLUMN verify_ok INTEGER;
      ALTER TABLE backups ADD COLUMN verify_detail TEXT;
    `,
  },
  {
    name: 'monitor: planned stops (silences) announced to the agent, the bounded health history of the status page, the alerts notified as firing',
    sql: `
      CREATE TABLE monitor_silences (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        project TEXT NOT NULL,
        service TEXT,                    -- NULL: the whole project
        reason TEXT NOT NULL,            -- e.g. "rollout web", "backup uploads (stop_containers)"
        user TEXT NOT NULL,
        host TEXT NOT NULL,
        pid INTEGER NOT NULL,
        started_at INTEGER NOT NULL,     -- ms since the epoch
        expires_at INTEGER NOT NULL,     -- a berth that dies leaves no silence forever
        ended_at INTEGER
      );
      CREATE INDEX monitor_silences_project ON monitor_silences (project, ended_at, expires_at);

      CREATE TABLE monitor_history (
        project TEXT NOT NULL,
        service TEXT NOT NULL,
        bucket INTEGER NOT NULL,         -- start of a 15-minute bucket, seconds since the epoch
        up_s REAL NOT NULL DEFAULT 0,
        degraded_s REAL NOT NULL DEFAULT 0,
        down_s REAL NOT NULL DEFAULT 0,
        planned_s REAL NOT NULL DEFAULT 0,
        PRIMARY KEY (project, service, bucket)
      );

      CREATE TABLE monitor_alerts (
        project TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        alert TEXT NOT NULL,             -- JSON: the firing alert, so a restarted agent neither pages again nor forgets to resolve
        notified_at INTEGER NOT NULL,    -- ms since the epoch: when its firing was last sent (repeat_interval counts from here)
        PRIMARY KEY (project, fingerprint)
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
