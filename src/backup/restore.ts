/**
 * Verify and restore. Verify re-reads every file of a backup from its destination, checks
 * size and sha256 against the manifest and the structure again; `restoreTest` restores a
 * database dump into a throwaway container of the same image and queries it.
 * Restore takes a safety backup first, stops the services that depend on the target (and the
 * containers using a volume), restores, starts them again and waits for them to be healthy.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { createGunzip } from 'node:zlib';
import { listServiceContainers } from '../compose/containers.js';
import type { ComposeProject } from '../compose/types.js';
import type { Engine } from '../engine/client.js';
import { BerthError, ExitCode, errorMessage } from '../lib/errors.js';
import type { StateStore } from '../state/store.js';
import { listTarGz, sha256File } from './artifact.js';
import { Catalog } from './catalog.js';
import { backupRelDir, openDestination, type Destination } from './destinations.js';
import { identityFile, plaintextOf } from './encrypt.js';
import { execChecked, execInContainer } from './exec.js';
import { StopJournal } from './journal.js';
import { locateTarget } from './plan.js';
import { lockBackups, recoverInterrupted, runTarget, type TargetResult } from './run.js';
import { createHelper, dbEnv, mysqlCommand, postgresCommand, verifyMysqlDump, verifyPostgresDump } from './sources.js';
import { resolveDestination, resolveTargets } from './targets.js';
import type { BackupManifest, BackupTarget, CatalogEntry } from './types.js';

export interface FileCheck {
  name: string;
  ok: boolean;
  detail: string;
}

export interface VerifyReport {
  id: string;
  ok: boolean;
  files: FileCheck[];
  restoreTest?: string;
  error?: string;
}

function findEntry(store: StateStore, id: string): CatalogEntry {
  const entry = new Catalog(store).get(id);
  if (!entry) throw new BerthError(`no backup ${id} in the catalog`, { exitCode: ExitCode.usage, hint: 'berth backup list shows the backups' });
  return entry;
}

async function readManifest(destination: Destination, entry: CatalogEntry): Promise<BackupManifest> {
  if (entry.status !== 'verified') throw new BerthError(`backup ${entry.id} is ${entry.status}${entry.error ? ` (${entry.error})` : ''}: only verified backups can be used`);
  const manifest = await destination.readManifest(backupRelDir(entry.project, entry.target, entry.id));
  if (!manifest) throw new BerthError(`backup ${entry.id} has no manifest.json at ${destination.describe}: it is incomplete or was removed`);
  if (manifest.id !== entry.id) throw new BerthError(`the manifest at ${destination.describe} belongs to ${manifest.id}, not ${entry.id}`);
  return manifest;
}

export async function verifyBackup(options: { engine: Engine; store: StateStore; project: ComposeProject; id: string; restoreTest?: boolean; helperLabels?: Record<string, string> }): Promise<VerifyReport> {
  const entry = findEntry(options.store, options.id);
  const destination = openDestination(resolveDestination(options.project, entry.destination, options.store.dir), options.store.dir);
  const report: VerifyReport = { id: entry.id, ok: true, files: [] };
  try {
    const manifest = await readManifest(destination, entry);
    const relDir = backupRelDir(entry.project, entry.target, entry.id);
    for (const file of manifest.files) {
      const fetched = await destination.fetch(relDir, file.name);
      try {
        const actual = await sha256File(fetched.path).catch((error: Error) => ({ sha256: '', sizeBytes: -1, error }));
        if (actual.sizeBytes !== file.sizeBytes || actual.sha256 !== file.sha256) {
          report.files.push({ name: file.name, ok: false, detail: actual.sizeBytes < 0 ? 'missing or unreadable' : `checksum mismatch: ${actual.sizeBytes} bytes sha256 ${actual.sha256.slice(0, 16)}…, manifest says ${file.sizeBytes} bytes ${file.sha256.slice(0, 16)}…` });
          continue;
        }
        let structure = 'sha256 and size match';
        if (file.encrypted && !identityFile(options.project)) {
          report.files.push({ name: file.name, ok: true, detail: `${structure}; age-encrypted (no identity file: contents not checked)` });
          continue;
        }
        const plain = await plaintextOf(file, fetched.path, options.project, options.store.dir);
        try {
          if (file.encrypted) structure += '; decrypts to the backed-up plaintext (sha256)';
          if (file.role === 'volume') structure += `; tar listing: ${(await listTarGz(plain.path)).entries} entries`;
          if (file.role === 'dump' && manifest.kind === 'mysql') structure += `; ${await verifyMysqlDump(plain.path)}`;
          report.files.push({ name: file.name, ok: true, detail: structure });
          if (options.restoreTest && file.role === 'dump') report.restoreTest = await restoreTest(options.engine, manifest, plain.path, options.helperLabels);
        } finally {
          await plain.cleanup();
        }
      } catch (error) {
        report.files.push({ name: file.name, ok: false, detail: errorMessage(error) });
      } finally {
        await fetched.cleanup();
      }
    }
  } catch (error) {
    report.error = errorMessage(error);
  } finally {
    await destination.close();
  }
  report.ok = !report.error && report.files.length > 0 && report.files.every((f) => f.ok);
  return report;
}

/** Restores a dump into a throwaway container of the same image and counts the rows of every table. */
async function restoreTest(engine: Engine, manifest: BackupManifest, path: string, labels: Record<string, string> = {}): Promise<string> {
  const image = manifest.server?.image;
  if (!image || manifest.kind === 'volume') throw new BerthError('restore test needs a database backup with its server image in the manifest');
  const password = randomBytes(12).toString('hex');
  // The throwaway server has no network: an empty root password (MariaDB/MySQL images) is safe there.
  const env = manifest.kind === 'postgres' ? ['POSTGRES_USER=berth', 'POSTGRES_DB=restore_test', `POSTGRES_PASSWORD=${password}`] : ['MARIADB_ALLOW_EMPTY_ROOT_PASSWORD=1', 'MYSQL_ALLOW_EMPTY_PASSWORD=1'];
  const container = await engine.call(`create a restore-test container from ${image}`, () =>
    engine.docker.createContainer({ Image: image, Env: env, Labels: { 'berth.role': 'restore-test', ...labels }, NetworkDisabled: true }),
  );
  try {
    await container.start();
    const deadline = Date.now() + 90_000;
    const ready = manifest.kind === 'postgres' ? ['psql', '-U', 'berth', '-d', 'restore_test', '-Atc', 'SELECT 1'] : ['mariadb', '-u', 'root', '-N', '-e', 'SELECT 1'];
    for (;;) {
      const r = await execInContainer(engine, container.id, ready).catch(() => undefined);
      if (r?.exitCode === 0 && r.stdout.trim() === '1') break;
      if (Date.now() > deadline) throw new BerthError(`the restore-test database in ${image} did not become ready`);
      await sleep(300);
    }
    if (manifest.kind === 'postgres') {
      await execChecked(engine, container.id, ['pg_restore', '-U', 'berth', '-d', 'restore_test', '--no-owner', '--no-privileges', '--exit-on-error'], 'restore test (pg_restore)', { stdin: createReadStream(path) });
      const counts = await execChecked(engine, container.id, ['psql', '-U', 'berth', '-d', 'restore_test', '-Atc', COUNT_ROWS_PG], 'restore test query');
      return counts.stdout.trim().split('\n').filter(Boolean).join(', ') || 'restored; no tables';
    }
    await execChecked(engine, container.id, ['mariadb', '-u', 'root'], 'restore test (mariadb)', { stdin: createReadStream(path) });
    const db = manifest.database;
    const counts = await execChecked(engine, container.id, ['mariadb', '-u', 'root', '-N', '-B', '-e', `SELECT COUNT(*) FROM information_schema.tables WHERE table_schema ${db ? `= '${db.replace(/'/g, "''")}'` : "NOT IN ('mysql','sys','performance_schema','information_schema')"}`], 'restore test query');
    return `restored; ${counts.stdout.trim()} tables`;
  } finally {
    await container.remove({ force: true, v: true }).catch(() => undefined);
  }
}

const COUNT_ROWS_PG = `SELECT format('%s: %s rows', table_name, (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I', table_schema, table_name), false, true, '')))[1]::text) FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog', 'information_schema') AND table_type = 'BASE TABLE' ORDER BY 1`;

export interface RestoreStep {
  action: 'safety-backup' | 'stop' | 'restore' | 'start' | 'health';
  detail: string;
  reason: string;
}

export interface RestoreReport {
  id: string;
  target: string;
  dryRun: boolean;
  ok: boolean;
  steps: RestoreStep[];
  safetyBackup?: TargetResult;
  stopped: string[];
  error?: string;
}

export interface RestoreOptions {
  engine: Engine;
  store: StateStore;
  project: ComposeProject;
  id: string;
  /** The caller confirmed (typed confirmation or --yes). Required unless dryRun. */
  yes?: boolean;
  dryRun?: boolean;
  safetyBackup?: boolean;
  /** Postgres: apply the globals (roles) first; "already exists" errors are expected and ignored. */
  globals?: boolean;
  lockWaitMs?: number;
  helperLabels?: Record<string, string>;
  onStep?: (step: RestoreStep) => void;
  /** The project runs as a Swarm stack: restore on the node that runs the target. */
  swarm?: boolean;
}

export async function restoreBackup(options: RestoreOptions): Promise<RestoreReport> {
  const { store, project } = options;
  const entry = findEntry(store, options.id);
  if (entry.project !== project.name) throw new BerthError(`backup ${entry.id} belongs to project ${entry.project}, not ${project.name}`, { exitCode: ExitCode.usage });
  const [target] = resolveTargets(project, [entry.target]) as [BackupTarget];
  // On a stack: the engine of the node that runs the target, where its backups were taken.
  const { engine, facts, node } = await locateTarget(options.engine, project, target, options.swarm);
  // On Swarm a stopped dependent task is replaced at once: dependents are not stopped there (the plan says so).
  const dependents = options.swarm ? [] : (await listServiceContainers(engine, project.name, { services: target.dependents.length ? target.dependents : ['\u0000none'] }))
    .filter((c) => target.dependents.includes(c.service) && c.state === 'running');
  const volumeUsers = facts.volumes.flatMap((v) => v.users.filter((u) => u.running));
  const toStop = new Map<string, string>([...dependents.map((c) => [c.id, c.name] as const), ...volumeUsers.map((u) => [u.id, u.name] as const)]);
  const steps: RestoreStep[] = [];
  if (options.safetyBackup !== false) steps.push({ action: 'safety-backup', detail: `back up ${target.name} as it is now`, reason: 'a restore overwrites current data: keep a way back' });
  if (toStop.size) steps.push({ action: 'stop', detail: [...toStop.values()].join(', '), reason: target.kind === 'volume' ? 'nothing may write to the volume while it is replaced' : `they depend on ${target.service} and must not see a half-restored database` });
  steps.push({ action: 'restore', detail: `${entry.id} (${target.kind}) into ${target.kind === 'volume' ? facts.volumes.map((v) => v.name).join(', ') || target.volumes.join(', ') : facts.container?.name ?? `service ${target.service}`}${node ? ` on Swarm node ${node}` : ''}`, reason: node ? 'requested; through the engine of the node that runs it' : 'requested' });
  if (options.swarm && target.dependents.length) steps.push({ action: 'restore', detail: `${target.dependents.join(', ')} keep running`, reason: 'on Swarm a stopped task is replaced at once: scale them to 0 first (docker service scale) if they must not see a half-restored database' });
  if (toStop.size) steps.push({ action: 'start', detail: [...toStop.values()].join(', '), reason: 'restore done' }, { action: 'health', detail: 'running and healthy (when they have a healthcheck)', reason: 'a restore is done when the app works again' });
  const report: RestoreReport = { id: entry.id, target: target.name, dryRun: Boolean(options.dryRun), ok: true, steps, stopped: [] };
  if (options.dryRun) return report;
  if (!options.yes) throw new BerthError(`restoring ${entry.id} overwrites ${target.name}: confirmation required`, { exitCode: ExitCode.usage, hint: 'pass --yes' });
  if (target.kind !== 'volume' && !facts.container) throw new BerthError(`${target.name}: ${facts.problem ?? 'no running database container'}`);

  const destination = openDestination(resolveDestination(project, entry.destination, store.dir), store.dir);
  const lock = await lockBackups(store, `backup restore ${entry.id}`, options.lockWaitMs);
  const journal = new StopJournal(store.dir);
  const step = (s: RestoreStep) => options.onStep?.(s);
  try {
    await recoverInterrupted(engine, store, project);
    const manifest = await readManifest(destination, entry);
    if (options.safetyBackup !== false) {
      step(steps[0]!);
      report.safetyBackup = await runTarget({ engine: options.engine, store, project, helperLabels: options.helperLabels, swarm: options.swarm }, target, () => undefined);
      if (report.safetyBackup.status !== 'verified') throw new BerthError(`the safety backup failed, nothing was restored: ${report.safetyBackup.error}`);
    }
    try {
      for (const [id, name] of toStop) {
        journal.add({ containerId: id, name, backupId: entry.id });
        await engine.call(`stop ${name}`, () => engine.docker.getContainer(id).stop().catch((e: { statusCode?: number }) => { if (e?.statusCode !== 304) throw e; }));
        report.stopped.push(name);
      }
      step({ action: 'restore', detail: entry.id, reason: 'requested' });
      const relDir = backupRelDir(entry.project, entry.target, entry.id);
      for (const file of manifest.files) {
        const fetched = await destination.fetch(relDir, file.name);
        try {
          const actual = await sha256File(fetched.path);
          if (actual.sha256 !== file.sha256) throw new BerthError(`${file.name} does not match its manifest checksum: refusing to restore it`);
          const plain = await plaintextOf(file, fetched.path, project, store.dir);
          try {
            await restoreFile(engine, target, facts.container?.id, manifest, file, plain.path, options);
          } finally {
            await plain.cleanup();
          }
        } finally {
          await fetched.cleanup();
        }
      }
    } finally {
      for (const [id, name] of toStop) {
        if (!journal.read().some((e) => e.containerId === id)) continue;
        await engine.docker.getContainer(id).start().catch((e: { statusCode?: number }) => { if (e?.statusCode !== 304) throw e; });
        journal.remove(id);
        step({ action: 'start', detail: name, reason: 'restore done' });
      }
    }
    if (toStop.size) await waitHealthy(engine, [...toStop.keys()]);
    store.audit({ project: project.name, action: 'backup restore', detail: { id: entry.id, target: target.name, safetyBackup: report.safetyBackup?.id } });
  } catch (error) {
    report.ok = false;
    report.error = errorMessage(error);
  } finally {
    lock.release();
    await destination.close();
  }
  return report;
}

async function restoreFile(engine: Engine, target: BackupTarget, containerId: string | undefined, manifest: BackupManifest, file: BackupManifest['files'][number], path: string, options: RestoreOptions): Promise<void> {
  const env = dbEnv(target);
  if (manifest.kind === 'postgres') {
    if (file.role === 'globals') {
      if (options.globals === false) return;
      // Roles that exist already fail with "already exists": expected, so errors do not stop it.
      await execInContainer(engine, containerId!, postgresCommand('psql', '-U', target.user!, '-d', target.database!, '-q', '-v', 'ON_ERROR_STOP=0'), { stdin: createReadStream(path), env });
      return;
    }
    await verifyPostgresDump(engine, containerId!, path, env);
    await execChecked(engine, containerId!, postgresCommand('pg_restore', '-U', target.user!, '-d', target.database!, '--clean', '--if-exists', '--exit-on-error', '--single-transaction'), `pg_restore into ${target.database}`, { stdin: createReadStream(path), env });
    return;
  }
  if (manifest.kind === 'mysql') {
    await execChecked(engine, containerId!, mysqlCommand('client', '-u', target.user!), 'restoring the SQL dump', { stdin: createReadStream(path), env });
    return;
  }
  const volume = file.volume?.name;
  if (!volume) throw new BerthError(`${file.name} names no volume`);
  // Empty the volume first: a restore gives exactly the backed-up content.
  const wiper = await createHelper(engine, volume, false, options.helperLabels, ['sh', '-c', 'rm -rf /volume/..?* /volume/.[!.]* /volume/*']);
  try {
    await wiper.start();
    const { StatusCode } = (await wiper.wait()) as { StatusCode: number };
    if (StatusCode !== 0) throw new BerthError(`cannot empty volume ${volume} before the restore (exit ${StatusCode})`);
  } finally {
    await wiper.remove({ force: true }).catch(() => undefined);
  }
  const helper = await createHelper(engine, volume, false, options.helperLabels);
  try {
    // The archive holds volume/...: extracting at / puts it back into the mount, owners and modes kept.
    await engine.call(`write volume ${volume}`, () => helper.putArchive(createReadStream(path).pipe(createGunzip()), { path: '/', copyUIDGID: '1' }));
  } finally {
    await helper.remove({ force: true }).catch(() => undefined);
  }
}

async function waitHealthy(engine: Engine, ids: string[], timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const id of ids) {
    for (;;) {
      const info = await engine.inspectContainer(id);
      const health = info.State.Health?.Status;
      if (info.State.Running && (!health || health === 'healthy')) break;
      if (!info.State.Running && info.State.Status === 'exited') throw new BerthError(`${info.Name.replace(/^\//, '')} exited after the restore (code ${info.State.ExitCode})`);
      if (Date.now() > deadline) throw new BerthError(`${info.Name.replace(/^\//, '')} is not healthy ${Math.round(timeoutMs / 1000)}s after the restore (${health ?? info.State.Status})`);
      await sleep(500);
    }
  }
}
