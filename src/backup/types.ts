/**
 * The backup model: what berth backs up (targets resolved from the compose model), what a run
 * produces (artifacts, manifest) and what it tells its caller while it runs (progress events).
 */
import type { BackupDestinationConfig } from '../compose/types.js';

export type BackupKind = 'postgres' | 'mysql' | 'volume';

/** One volume of a volume target: the engine's volume name and where the app mounts it. */
export interface VolumeSource {
  /** Engine volume name (e.g. myproj_data). */
  name: string;
  /** How it was selected: the compose key, the name, or a label selector. */
  selectedBy: string;
}

/** A backup target resolved from the compose model: plain data, no engine access. */
export interface BackupTarget {
  /** The service name: targets are named after the service carrying x-berth.backup. */
  name: string;
  project: string;
  kind: BackupKind;
  service: string;
  /** Database name (postgres/mysql). */
  database?: string;
  /** Database user (postgres/mysql). */
  user?: string;
  /** A file inside the db container holding the password (never read by berth itself). */
  passwordFile?: string;
  /** Environment variable of the db container holding the password (e.g. MYSQL_ROOT_PASSWORD). */
  passwordEnv?: string;
  /** Volume selectors as written: compose volume key, engine name, or label=KEY[=VALUE]. */
  volumes: string[];
  /** Stop the containers mounting the volumes for the snapshot window. */
  stopContainers: boolean;
  schedule?: string;
  destination: string;
  /** Services that depend on this target's service (directly or not): stopped during a restore. */
  dependents: string[];
}

export interface NamedDestination {
  name: string;
  config: BackupDestinationConfig;
}

/** One file of a backup, as the manifest records it. */
export interface ArtifactFile {
  /** File name inside the backup directory. */
  name: string;
  /** What it holds: dump | globals | volume. */
  role: 'dump' | 'globals' | 'volume';
  sizeBytes: number;
  sha256: string;
  /** Volume artifacts: the engine volume name and the mount paths of containers using it. */
  volume?: { name: string; mountPaths: string[]; entries: number };
  /** Structural check performed, e.g. "pg_restore --list: 12 entries". */
  verifiedBy: string;
  /** Encrypted with age after verification: sha256/size above are of the ciphertext. */
  encrypted?: boolean;
  plaintextSha256?: string;
  plaintextSizeBytes?: number;
}

/** manifest.json: written last; its presence marks a backup complete. */
export interface BackupManifest {
  format: 'berth-backup/1';
  id: string;
  project: string;
  target: string;
  kind: BackupKind;
  service: string;
  database?: string;
  /** UTC ISO timestamps. */
  startedAt: string;
  finishedAt: string;
  /** Server versions (postgres/mysql), image of the db container. */
  server?: { version: string; image: string };
  files: ArtifactFile[];
  totalBytes: number;
  /** Present when the files are age-encrypted. */
  encryption?: { format: 'age'; recipients: string[] };
  /** Containers berth stopped for the snapshot window (volume targets). */
  stoppedContainers: string[];
  berthVersion: string;
  host: string;
  /** A safety backup (taken by a restore): never counted by retention, kept for a while. */
  purpose?: 'backup' | 'safety';
  /** Postgres: the database's owner, so a missing database is created with it. */
  databaseOwner?: string;
  /** What a reader should know, e.g. "the database was empty". */
  notes?: string[];
  /** sha256 of this manifest's JSON without this field: a manifest proves itself. */
  checksum?: string;
}

/** A row of the backup catalog (the state store's backups table). */
export interface CatalogEntry {
  id: string;
  project: string;
  target: string;
  kind: BackupKind;
  destination: string;
  startedAt: string;
  finishedAt: string | null;
  status: 'running' | 'verified' | 'failed' | 'pruned';
  sizeBytes: number | null;
  sha256: string | null;
  location: string | null;
  manifest: BackupManifest | null;
  error: string | null;
  purpose: 'backup' | 'safety';
  /** The host that made it (null: recorded before hosts were). */
  host: string | null;
  /** The last `berth backup verify` of it. */
  lastVerify: { at: string; ok: boolean; detail: string } | null;
}

/** What the executor tells its caller; `bytes`/`rate` let the CLI show progress on long runs. */
export type BackupEvent =
  | { type: 'step'; target: string; step: string; detail: string }
  | { type: 'progress'; target: string; file: string; bytes: number; elapsedMs: number; bytesPerSecond: number }
  | { type: 'stopped'; target: string; containers: string[] }
  | { type: 'restarted'; target: string; containers: string[] }
  | { type: 'done'; target: string; id: string; totalBytes: number; elapsedMs: number }
  | { type: 'failed'; target: string; id: string; error: string };
