/**
 * Verify and restore. Verify re-reads every file of a backup from its destination, checks
 * size and sha256 against the manifest and the structure again; `restoreTest` restores a
 * database dump into a throwaway container of the same image and queries it.
 * Restore takes a safety backup first, stops the services that depend on the target (and the
 * containers using a volume), restores, starts them again and waits for them to be healthy.
 */
import type Dockerode from 'dockerode';
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { listServiceContainers } from '../compose/containers.js';
import type { ComposeProject } from '../compose/types.js';
import type { Engine } from '../engine/client.js';
import { BerthError, ExitCode, errorMessage } from '../lib/errors.js';
import type { StateStore } from '../state/store.js';
import { listTarGz, sha256File } from './artifact.js';
import { ambiguousBackupId, Catalog } from './catalog.js';
import { backupRelDir, openDestination, type Destination } from './destinations.js';
import { identityFile, plaintextOf } from './encrypt.js';
import { execChecked, execInContainer } from './exec.js';
import { StopJournal } from './journal.js';
import { locateTarget } from './plan.js';
import { lockBackups, recoverInterrupted, runTarget, type TargetResult } from './run.js';
import { ownerLabels, startHelper, type Helper } from './helpers.js';
import { manifestProblem } from './manifest.js';
import { occupancy, pgIdent, sqlLiteral, type Occupancy } from './occupancy.js';
import { dbEnv, mysqlCommand, postgresCommand, verifyMysqlDump } from './sources.js';
import { syncCatalog } from './sync.js';
import { resolveDestination, resolveTargets, volumeSelectorName } from './targets.js';
import type { ArtifactFile, BackupManifest, BackupTarget, CatalogEntry } from './types.js';

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

/**
 * The backup with this id (or unique prefix). Not in the catalog (a new server, a lost state
 * directory): the destinations are read, since they are the truth, and the catalog filled from them.
 */
export async function findEntry(store: StateStore, project: ComposeProject, id: string): Promise<CatalogEntry> {
  const catalog = new Catalog(store);
  let found = catalog.find(id);
  if (found.length === 0) {
    await syncCatalog(store, project);
    found = catalog.find(id);
  }
  if (found.length > 1) throw ambiguousBackupId(id, found);
  if (found.length === 0) throw new BerthError(`no backup ${id} in the catalog or at the destinations of ${project.name}`, { exitCode: ExitCode.usage, hint: 'berth backup list shows the backups' });
  return found[0]!;
}

async function readManifest(destination: Destination, entry: CatalogEntry, options: { anyStatus?: boolean } = {}): Promise<BackupManifest> {
  if (entry.status !== 'verified' && !options.anyStatus) throw new BerthError(`backup ${entry.id} is ${entry.status}${entry.error ? ` (${entry.error})` : ''}: only verified backups can be used`);
  const manifest = await destination.readManifest(backupRelDir(entry.project, entry.target, entry.id));
  if (!manifest) throw new BerthError(`backup ${entry.id} has no manifest.json at ${destination.describe}: it is incomplete or was removed`);
  const problem = manifestProblem(manifest, entry.id);
  if (problem) throw new BerthError(`backup ${entry.id} at ${destination.describe}: ${problem}`);
  return manifest;
}

export async function verifyBackup(options: { engine: Engine; store: StateStore; project: ComposeProject; id: string; restoreTest?: boolean; helperLabels?: Record<string, string> }): Promise<VerifyReport> {
  const entry = await findEntry(options.store, options.project, options.id);
  const destination = openDestination(resolveDestination(options.project, entry.destination, options.store.dir), options.store.dir);
  const report: VerifyReport = { id: entry.id, ok: true, files: [] };
  try {
    // A backup an earlier verify failed may be verified again (the file may be back).
    const manifest = await readManifest(destination, entry, { anyStatus: entry.status === 'failed' && Boolean(entry.lastVerify && !entry.lastVerify.ok) });
    const relDir = backupRelDir(entry.project, entry.target, entry.id);
    for (const file of manifest.files) {
      const fetched = await destination.fetch(relDir, file.name).catch((error: Error) => ({ error }));
      if ('error' in fetched) {
        report.files.push({ name: file.name, ok: false, detail: `missing or unreadable: ${fetched.error.message}` });
        continue;
      }
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
          if (manifest.kind === 'mysql') structure += `; ${await verifyMysqlDump(plain.path)}`;
          report.files.push({ name: file.name, ok: true, detail: structure });
          if (options.restoreTest && file.role === 'dump') report.restoreTest = await restoreTest(options.engine, options.project, manifest, plain.path, options.helperLabels);
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
  // Recorded: a backup that fails its verify no longer counts (retention, health, restore).
  const failures = [report.error, ...report.files.filter((f) => !f.ok).map((f) => `${f.name}: ${f.detail}`)].filter(Boolean);
  new Catalog(options.store).verifyResult(entry.id, report.ok, report.ok ? `${report.files.length} file(s) intact${report.restoreTest ? `; restore test: ${report.restoreTest}` : ''}` : failures.join('; '));
  return report;
}

/**
 * The throwaway container of a restore test: the database service's own image, environment,
 * user, command and secrets (read from its running container, else from the compose file), no
 * network, and the labels that let the next run remove it if berth dies meanwhile.
 */
async function restoreTestSpec(engine: Engine, project: ComposeProject, manifest: BackupManifest): Promise<Dockerode.ContainerCreateOptions> {
  const [running] = (await listServiceContainers(engine, project.name, { services: [manifest.service] })).filter((c) => c.state === 'running');
  const base = { Image: manifest.server!.image, NetworkDisabled: true, Labels: ownerLabels('restore-test', project.name) };
  if (running) {
    const info = await engine.inspectContainer(running.id);
    const secrets = (info.Mounts ?? []).filter((m) => m.Type === 'bind' && m.Destination.startsWith('/run/secrets')).map((m) => `${m.Source}:${m.Destination}:ro`);
    return { ...base, Env: info.Config.Env, User: info.Config.User || undefined, Entrypoint: info.Config.Entrypoint ?? undefined, Cmd: info.Config.Cmd ?? undefined, HostConfig: { Binds: secrets } };
  }
  const environment = project.services[manifest.service]?.environment ?? {};
  return { ...base, Env: Object.entries(environment).filter(([, v]) => typeof v === 'string').map(([k, v]) => `${k}=${v}`) };
}

/** Restores a dump into a throwaway container of the service's own image and counts the rows of every table. */
async function restoreTest(engine: Engine, project: ComposeProject, manifest: BackupManifest, path: string, labels: Record<string, string> = {}): Promise<string> {
  if (!manifest.server?.image || manifest.kind === 'volume') throw new BerthError('restore test needs a database backup with its server image in the manifest');
  const [target] = resolveTargets(project, [manifest.target]) as [BackupTarget];
  const spec = await restoreTestSpec(engine, project, manifest);
  spec.Labels = { ...spec.Labels, ...labels };
  const container = await engine.call(`create a restore-test container from ${spec.Image}`, () => engine.docker.createContainer(spec));
  const env = dbEnv(target);
  const db = manifest.database ?? target.database;
  try {
    await container.start();
    const deadline = Date.now() + 90_000;
    // The official images' entrypoints start a socket-only server while they initialise: ready means listening.
    const ready = manifest.kind === 'postgres'
      ? postgresCommand('psql', '-U', target.user!, '-d', 'postgres', '-Atc', "SELECT current_setting('listen_addresses') <> ''")
      : mysqlCommand('client', '-u', target.user!, '-N', '-B', '-e', 'SELECT 1');
    let last = '';
    let previous = '';
    let repeated = 0;
    for (;;) {
      const r = await execInContainer(engine, container.id, ready, { env }).catch((error: Error) => ({ exitCode: -1, stdout: '', stderr: error.message }));
      if (r.exitCode === 0 && ['t', '1'].includes(r.stdout.trim())) break;
      last = r.stderr.trim() || last;
      const state = (await container.inspect()).State;
      if (!state.Running) {
        const logs = (await container.logs({ stdout: true, stderr: true, tail: 30 })).toString('utf8').replace(/[\x00-\x08]/g, '').trim();
        throw new BerthError(`the restore-test container of ${spec.Image} exited (code ${state.ExitCode}): ${oneLine(logs || last)}`);
      }
      // Up, and refusing the same way again and again (a missing role): the server's own words, now, not at the deadline.
      repeated = r.stderr.trim() === previous && !TRANSIENT.test(previous) ? repeated + 1 : 0;
      previous = r.stderr.trim();
      if (repeated >= 6) throw new BerthError(`the restore-test database in ${spec.Image} refuses ${target.user}: ${oneLine(last)}`);
      if (Date.now() > deadline) throw new BerthError(`the restore-test database in ${spec.Image} did not accept ${target.user} within 90 s: ${oneLine(last)}`);
      await sleep(300);
    }
    if (manifest.kind === 'postgres') {
      const exists = await execChecked(engine, container.id, postgresCommand('psql', '-U', target.user!, '-d', 'postgres', '-Atc', `SELECT count(*) FROM pg_database WHERE datname = ${sqlLiteral(db!)}`), 'restore test', { env, verbatim: true });
      if (exists.stdout.trim() === '0') await execChecked(engine, container.id, postgresCommand('psql', '-U', target.user!, '-d', 'postgres', '-qc', `CREATE DATABASE ${pgIdent(db!)}`), 'restore test (create database)', { env, verbatim: true });
      await execChecked(engine, container.id, postgresCommand('pg_restore', '-U', target.user!, '-d', db!, '--clean', '--if-exists', '--no-owner', '--no-privileges', '--exit-on-error'), 'restore test (pg_restore)', { stdin: readChunked(path), env, verbatim: true });
      const counts = await execChecked(engine, container.id, postgresCommand('psql', '-U', target.user!, '-d', db!, '-Atc', COUNT_ROWS_PG), 'restore test query', { env, verbatim: true });
      return counts.stdout.trim().split('\n').filter(Boolean).join(', ') || 'restored; no tables';
    }
    await execChecked(engine, container.id, mysqlCommand('client', '-u', target.user!), 'restore test (mariadb)', { stdin: readChunked(path), env, verbatim: true });
    const counts = await execChecked(engine, container.id, mysqlCommand('client', '-u', target.user!, '-N', '-B', '-e', `SELECT COUNT(*) FROM information_schema.tables WHERE table_schema ${db ? `= ${sqlLiteral(db)}` : "NOT IN ('mysql','sys','performance_schema','information_schema')"}`), 'restore test query', { env, verbatim: true });
    return `restored; ${counts.stdout.trim()} tables`;
  } finally {
    await container.remove({ force: true, v: true }).catch(() => undefined);
  }
}

/** Errors of a server that is still starting (or the entrypoint's init server stopping). */
const TRANSIENT = /starting up|shutting down|No such file|Can't connect|Connection refused|^$/i;
const oneLine = (text: string) => text.split('\n').map((l) => l.trim()).filter(Boolean).join(' / ');

const COUNT_ROWS_PG = `SELECT format('%s: %s rows', table_name, (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I', table_schema, table_name), false, true, '')))[1]::text) FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog', 'information_schema') AND table_type = 'BASE TABLE' ORDER BY 1`;

export interface RestoreStep {
  action: 'check' | 'safety-backup' | 'stop' | 'restore' | 'start' | 'health';
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
  /** What the user should know: skipped safety backup, created database, roles left as they were. */
  notes: string[];
  error?: string;
  hint?: string;
  /** Where the time went (milliseconds per phase, in order): for `--json` and the bench. */
  timings: Array<{ phase: string; ms: number; within?: string }>;
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
  const timings: RestoreReport['timings'] = [];
  let mark = performance.now();
  const lap = (phase: string) => {
    const now = performance.now();
    timings.push({ phase, ms: Math.round((now - mark) * 10) / 10 });
    mark = now;
  };
  const entry = await findEntry(store, project, options.id);
  if (entry.project !== project.name) throw new BerthError(`backup ${entry.id} belongs to project ${entry.project}, not ${project.name}`, { exitCode: ExitCode.usage });
  const [target] = resolveTargets(project, [entry.target]) as [BackupTarget];
  // On a stack: the engine of the node that runs the target, where its backups were taken.
  const { engine, facts, node } = await locateTarget(options.engine, project, target, options.swarm);
  // On Swarm a stopped dependent task is replaced at once: dependents are not stopped there (the plan says so).
  const dependents = options.swarm ? [] : (await listServiceContainers(engine, project.name, { services: target.dependents.length ? target.dependents : ['\u0000none'] }))
    .filter((c) => target.dependents.includes(c.service) && c.state === 'running');
  const manifestVolumes = (entry.manifest?.files ?? []).flatMap((f) => (f.volume ? [f.volume.name] : []));
  const volumeUsers = facts.volumes.flatMap((v) => v.users.filter((u) => u.running));
  const toStop = new Map<string, string>([...dependents.map((c) => [c.id, c.name] as const), ...volumeUsers.map((u) => [u.id, u.name] as const)]);
  const steps: RestoreStep[] = [];
  steps.push({ action: 'check', detail: `manifest, sha256 of every file${entry.manifest?.encryption ? ', decryption' : ''}`, reason: 'nothing is stopped or changed before the backup is known to be whole' });
  if (options.safetyBackup !== false) steps.push({ action: 'safety-backup', detail: `back up ${target.name} as it is now, if it holds data`, reason: 'a restore overwrites current data: keep a way back' });
  if (toStop.size) steps.push({ action: 'stop', detail: [...toStop.values()].join(', '), reason: target.kind === 'volume' ? 'nothing may write to the volume while it is replaced' : `they depend on ${target.service} and must not see a half-restored database` });
  if (entry.manifest?.files.some((f) => f.role === 'globals')) steps.push({ action: 'restore', detail: target.kind === 'postgres' ? 'roles (globals) first; roles that exist are left as they are' : 'users and grants after the dump; users that exist are left as they are', reason: "the dump's grants and owners name them" });
  steps.push({ action: 'restore', detail: `${entry.id} (${target.kind}) into ${target.kind === 'volume' ? manifestVolumes.join(', ') || target.volumes.join(', ') : `${target.database ?? 'all databases'} in ${facts.container?.name ?? `service ${target.service}`}`}${node ? ` on Swarm node ${node}` : ''}`, reason: node ? 'requested; through the engine of the node that runs it' : 'requested' });
  if (options.swarm && target.dependents.length) steps.push({ action: 'restore', detail: `${target.dependents.join(', ')} keep running`, reason: 'on Swarm a stopped task is replaced at once: scale them to 0 first (docker service scale) if they must not see a half-restored database' });
  if (toStop.size) steps.push({ action: 'start', detail: [...toStop.values()].join(', '), reason: 'restore done' }, { action: 'health', detail: 'running and healthy (when they have a healthcheck)', reason: 'a restore is done when the app works again' });
  lap('plan');
  const report: RestoreReport = { id: entry.id, target: target.name, dryRun: Boolean(options.dryRun), ok: true, steps, stopped: [], notes: [], timings };
  if (options.dryRun) return report;
  if (!options.yes) throw new BerthError(`restoring ${entry.id} overwrites ${target.name}: confirmation required`, { exitCode: ExitCode.usage, hint: 'pass --yes' });
  if (target.kind !== 'volume' && !facts.container) throw new BerthError(`${target.name}: ${facts.problem ?? 'no running database container'}`, { hint: 'start the stack first (berth up): the restore goes into the running database server' });

  const destination = openDestination(resolveDestination(project, entry.destination, store.dir), store.dir);
  const lock = await lockBackups(store, `backup restore ${entry.id}`, options.lockWaitMs);
  const journal = new StopJournal(store.dir);
  const step = (s: RestoreStep) => options.onStep?.(s);
  const plaintexts: Array<{ file: ArtifactFile; path: string; cleanup(): Promise<void> }> = [];
  // Volume targets: one helper per volume, started during the check (it only mounts the volume),
  // probes it, then empties and refills it; removed whatever happens.
  const volumeHelpers = new Map<string, Helper>();
  try {
    await recoverInterrupted(engine, store, project);
    lap('lock and recover');
    // 1. Check first: the manifest, every file's checksum and (encrypted) its decryption.
    // Meanwhile the read-only probes of the target run (what it holds, for the safety backup;
    // Postgres: its maintenance database, whether the database exists, its roles): they change
    // nothing, and the first change still waits for the whole check.
    step(steps[0]!);
    const timed = async <T>(phase: string, work: () => Promise<T>): Promise<T> => {
      const start = performance.now();
      try {
        return await work();
      } finally {
        timings.push({ phase, ms: Math.round((performance.now() - start) * 10) / 10, within: 'check and probes' });
      }
    };
    const checking = timed('check', async () => {
      const manifest = await readManifest(destination, entry);
      const relDir = backupRelDir(entry.project, entry.target, entry.id);
      // Postgres: roles before the dump whose owners and grants name them. MySQL: users after the
      // dump, since table-level grants name tables (a definer that is missing meanwhile is only a warning).
      const globalsFirst = manifest.kind === 'postgres' ? 1 : -1;
      const ordered = [...manifest.files].sort((a, b) => globalsFirst * (Number(b.role === 'globals') - Number(a.role === 'globals')));
      for (const file of ordered) {
        const fetched = await destination.fetch(relDir, file.name);
        try {
          const actual = await sha256File(fetched.path).catch(() => ({ sha256: '', sizeBytes: -1 }));
          if (actual.sizeBytes < 0) throw new BerthError(`${file.name} is missing or unreadable at ${destination.describe}: nothing was changed`);
          if (actual.sha256 !== file.sha256 || actual.sizeBytes !== file.sizeBytes) throw new BerthError(`${file.name} does not match its manifest checksum (${actual.sizeBytes} bytes, manifest ${file.sizeBytes}): refusing to restore it; nothing was changed`);
          const plain = await plaintextOf(file, fetched.path, project, store.dir);
          // A fetched copy (SFTP) is kept until the restore is done; a local file is read in place.
          plaintexts.push({ file, path: plain.path, cleanup: async () => { await plain.cleanup(); await fetched.cleanup(); } });
        } catch (error) {
          await fetched.cleanup();
          throw error;
        }
      }
      return manifest;
    });
    const probing = timed('probes', () => Promise.all([
      startVolumeHelpers(engine, project.name, target.kind === 'volume' ? manifestVolumes : [], volumeHelpers, options.helperLabels)
        .then(() => occupancy(engine, project, target, facts, manifestVolumes, { helperLabels: options.helperLabels, lookInside: options.safetyBackup !== false, helpers: volumeHelpers })),
      target.kind === 'postgres' ? probePostgres(engine, facts.container!.id, target) : undefined,
    ]));
    const [checked, probed] = await Promise.allSettled([checking, probing]);
    // The check's verdict first: a backup that is not whole is the news, whatever the probes found.
    if (checked.status === 'rejected') throw checked.reason;
    if (probed.status === 'rejected') throw probed.reason;
    const manifest = checked.value;
    const [state, postgres] = probed.value;
    lap('check and probes');
    // 2. A safety backup when there is something to save.
    if (options.safetyBackup !== false) {
      if (state.empty) {
        report.notes.push(`safety backup skipped: ${state.detail}, nothing to save`);
        step({ action: 'safety-backup', detail: `skipped: ${state.detail}`, reason: 'nothing to save' });
      } else {
        step(steps.find((s) => s.action === 'safety-backup')!);
        report.safetyBackup = await runTarget({ engine: options.engine, store, project, helperLabels: options.helperLabels, purpose: 'safety', swarm: options.swarm }, target, () => undefined);
        if (report.safetyBackup.status !== 'verified') throw new BerthError(`the safety backup of ${target.name} (${state.detail}) failed, nothing was restored: ${report.safetyBackup.error}`, { hint: 'fix the cause, or pass --no-safety-backup to restore without a way back' });
      }
    }
    lap('safety backup');
    // 3. Stop, restore, start.
    try {
      for (const [id, name] of toStop) {
        journal.add({ containerId: id, name, backupId: entry.id });
        await engine.call(`stop ${name}`, () => engine.docker.getContainer(id).stop().catch((e: { statusCode?: number }) => { if (e?.statusCode !== 304) throw e; }));
        report.stopped.push(name);
      }
      lap('stop');
      step({ action: 'restore', detail: entry.id, reason: 'requested' });
      const context: RestoreContext = { engine, project, target, containerId: facts.container?.id, manifest, state, postgres, volumeHelpers, options, notes: report.notes, lap };
      for (const plain of plaintexts) {
        await restoreFile(context, plain.file, plain.path);
        lap(`restore ${plain.file.name}`);
      }
    } finally {
      for (const [id, name] of toStop) {
        if (!journal.read().some((e) => e.containerId === id)) continue;
        await engine.docker.getContainer(id).start().catch((e: { statusCode?: number }) => { if (e?.statusCode !== 304) throw e; });
        journal.remove(id);
        step({ action: 'start', detail: name, reason: 'restore done' });
      }
    }
    lap('start');
    if (toStop.size) await waitHealthy(engine, [...toStop.keys()]);
    lap('health');
    store.audit({ project: project.name, action: 'backup restore', detail: { id: entry.id, target: target.name, safetyBackup: report.safetyBackup?.id, notes: report.notes } });
  } catch (error) {
    report.ok = false;
    report.error = errorMessage(error);
    if (error instanceof BerthError && error.hint) report.hint = error.hint;
  } finally {
    for (const helper of volumeHelpers.values()) await helper.dispose();
    for (const plain of plaintexts) await plain.cleanup().catch(() => undefined);
    lock.release();
    await destination.close();
  }
  return report;
}

/** A file to stream into a container: 1 MiB reads cost less CPU per byte than 64 KiB (74 MiB into `cat`: 0.38 s vs 0.45 s; docker exec -i: 0.30 s). */
const readChunked = (path: string) => createReadStream(path, { highWaterMark: 1 << 20 });

interface RestoreContext {
  engine: Engine;
  project: ComposeProject;
  target: BackupTarget;
  containerId: string | undefined;
  manifest: BackupManifest;
  state: Occupancy;
  postgres: PostgresFacts | undefined;
  volumeHelpers: Map<string, Helper>;
  options: RestoreOptions;
  notes: string[];
  /** Ends a timed phase (RestoreReport.timings). */
  lap: (phase: string) => void;
}

async function restoreFile(ctx: RestoreContext, file: ArtifactFile, path: string): Promise<void> {
  const { engine, target, manifest, options } = ctx;
  const containerId = ctx.containerId!;
  const env = dbEnv(target);
  if (manifest.kind === 'postgres') {
    const { maintenance, databaseExists } = ctx.postgres!;
    if (file.role === 'globals') {
      if (options.globals === false) return;
      await applyPostgresGlobals(ctx, maintenance, path);
      return;
    }
    if (!databaseExists) {
      const owner = manifest.databaseOwner ?? target.user!;
      await execChecked(engine, containerId, postgresCommand('psql', '-U', target.user!, '-d', maintenance, '-v', 'ON_ERROR_STOP=1', '-qc', `CREATE DATABASE ${pgIdent(target.database!)} OWNER ${pgIdent(owner)}`), `creating database ${target.database}`, { env, verbatim: true });
      ctx.notes.push(`created database ${target.database} (owner ${owner})`);
    }
    await execChecked(engine, containerId, postgresCommand('pg_restore', '-U', target.user!, '-d', target.database!, '--clean', '--if-exists', '--exit-on-error', '--single-transaction'), `pg_restore into ${target.database}`, { stdin: readChunked(path), env, verbatim: true });
    return;
  }
  if (manifest.kind === 'mysql') {
    if (file.role === 'globals') {
      if (options.globals === false) return;
      await applyMysqlUsers(ctx, path);
      return;
    }
    await execChecked(engine, containerId, mysqlCommand('client', '-u', target.user!), 'restoring the SQL dump', { stdin: readChunked(path), env, verbatim: true });
    return;
  }
  const volume = file.volume?.name;
  if (!volume) throw new BerthError(`${file.name} names no volume`);
  if (ctx.state.missingVolumes?.includes(volume)) {
    await engine.call(`create volume ${volume}`, () => engine.docker.createVolume({ Name: volume, Labels: composeVolumeLabels(ctx.project, volume) }));
    ctx.notes.push(`created volume ${volume}`);
  }
  // A volume that was missing during the check gets its helper now (restoreBackup removes it).
  if (!ctx.volumeHelpers.has(volume)) {
    ctx.volumeHelpers.set(volume, await startHelper(engine, ctx.project.name, volume, false, options.helperLabels));
    ctx.lap('helper start');
  }
  const helper = ctx.volumeHelpers.get(volume)!;
  // Empty the volume first: a restore gives exactly the backed-up content.
  await execChecked(engine, helper.container.id, ['sh', '-c', 'rm -rf /volume/..?* /volume/.[!.]* /volume/*'], `emptying volume ${volume}`);
  ctx.lap('wipe');
  // The archive holds volume/...: extracting at / puts it back into the mount, owners and modes kept.
  // It goes to the engine still compressed: the engine decompresses it (unpigz when the host has
  // it) while its untar process writes, on two cores; gunzip in berth made it one (4.7 s vs 2.2 s).
  await engine.call(`write volume ${volume}`, () => helper.container.putArchive(readChunked(path), { path: '/', copyUIDGID: '1' }));
}

/** Starts a read-write helper on each of these volumes that exists (a missing one is created later, with its labels). */
async function startVolumeHelpers(engine: Engine, project: string, volumes: string[], helpers: Map<string, Helper>, labels?: Record<string, string>): Promise<void> {
  // allSettled: every helper that started is in the map (to be removed) before a failure is thrown.
  const started = await Promise.allSettled(volumes.map(async (volume) => {
    if (!(await engine.docker.getVolume(volume).inspect().then(() => true, () => false))) return;
    helpers.set(volume, await startHelper(engine, project, volume, false, labels));
  }));
  const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) throw failed.reason;
}

/** The labels Compose puts on a project volume, so `up` takes a volume berth created as its own. */
function composeVolumeLabels(project: ComposeProject, volume: string): Record<string, string> {
  const key = Object.keys(project.model.volumes ?? {}).find((k) => volumeSelectorName(project, k).name === volume);
  return key ? { 'com.docker.compose.project': project.name, 'com.docker.compose.volume': key } : {};
}

/** What a Postgres restore needs to know of the server, read (in one psql) before anything changes. */
export interface PostgresFacts {
  /** A database to connect to for CREATE DATABASE and the roles: postgres, else template1. */
  maintenance: string;
  databaseExists: boolean;
  roles: Set<string>;
}

async function probePostgres(engine: Engine, containerId: string, target: BackupTarget): Promise<PostgresFacts> {
  const query = `SELECT 'd', count(*)::text FROM pg_database WHERE datname = ${sqlLiteral(target.database!)} UNION ALL SELECT 'r', rolname::text FROM pg_roles`;
  let last = '';
  for (const db of ['postgres', 'template1', target.database!]) {
    const r = await execInContainer(engine, containerId, postgresCommand('psql', '-U', target.user!, '-d', db, '-Atc', query), { env: dbEnv(target) });
    if (r.exitCode !== 0) {
      last = `psql exited ${r.exitCode}: ${r.stderr.split('\n').map((l) => l.trim()).filter(Boolean).join(' / ')}`;
      continue;
    }
    // Rows are "d|count" and "r|rolname": the kind is one letter, the rest (from the third character) its value.
    const rows = r.stdout.split('\n').filter(Boolean);
    return { maintenance: db, databaseExists: rows.some((row) => row.startsWith('d|') && row.slice(2) !== '0'), roles: new Set(rows.filter((row) => row.startsWith('r|')).map((row) => row.slice(2))) };
  }
  throw new BerthError(`looking into the server of ${target.service} failed: ${last}`);
}

/** Lines of a pg_dumpall --globals-only file that change nothing: blank, comments, SET, \\restrict. */
const GLOBALS_NOOP_LINE = /^\s*$|^\s*--|^SET \w+ = [^;]*;\s*$|^\\(?:un)?restrict\b/;

/** Role names a pg_dumpall --globals-only line creates or alters. */
const PG_ROLE_LINE = /^(?:CREATE|ALTER) ROLE ("(?:[^"]|"")+"|[^\s;]+)/;
const unquotePg = (name: string) => (name.startsWith('"') ? name.slice(1, -1).replace(/""/g, '"') : name);

/**
 * The lines of globals.sql to run: those of roles that exist are left out (no live role or
 * password changes). `nothingToRun`: only comments and session settings are left, so no psql runs.
 */
export function postgresGlobalsToRun(sql: string, existing: Set<string>): { kept: string[]; skipped: string[]; nothingToRun: boolean } {
  const kept: string[] = [];
  const skipped = new Set<string>();
  for (const line of sql.split('\n')) {
    const role = line.match(PG_ROLE_LINE)?.[1];
    if (role && existing.has(unquotePg(role))) {
      skipped.add(unquotePg(role));
      continue;
    }
    kept.push(line);
  }
  return { kept, skipped: [...skipped], nothingToRun: kept.every((line) => GLOBALS_NOOP_LINE.test(line)) };
}

/**
 * Roles first, so the dump's owners and grants find them. A role that exists already is left as
 * it is (its CREATE and ALTER lines are not run: no password of a live role changes) and reported.
 */
async function applyPostgresGlobals(ctx: RestoreContext, db: string, path: string): Promise<void> {
  const { engine, target } = ctx;
  const env = dbEnv(target);
  const { kept, skipped, nothingToRun } = postgresGlobalsToRun(await readFile(path, 'utf8'), ctx.postgres!.roles);
  if (skipped.length) ctx.notes.push(`roles that exist were left as they are: ${skipped.join(', ')}`);
  if (nothingToRun) return;
  const r = await execInContainer(engine, ctx.containerId!, postgresCommand('psql', '-U', target.user!, '-d', db, '-q', '-v', 'ON_ERROR_STOP=0'), { stdin: Readable.from([kept.join('\n')]), env });
  const errors = r.stderr.split('\n').filter((l) => /ERROR/.test(l));
  if (r.exitCode !== 0) throw new BerthError(`applying the roles (globals.sql) failed: ${r.stderr}`);
  if (errors.length) ctx.notes.push(...errors.map((e) => `globals.sql: ${e.replace(/^psql:<stdin>:/, 'line ')}`));
}

/** A `user`@`host` account that a --system=users line creates, grants to or alters. */
const MY_ACCOUNT_LINE = /(?:\bTO|\bFOR|\bUSER(?: IF NOT EXISTS)?)\s+[`']((?:[^`']|``)*)[`']@[`']([^`']*)[`']/;

/** Users and grants first; accounts that exist already are left as they are and reported. */
async function applyMysqlUsers(ctx: RestoreContext, path: string): Promise<void> {
  const { engine, target } = ctx;
  const env = dbEnv(target);
  const existing = new Set((await execChecked(engine, ctx.containerId!, mysqlCommand('client', '-u', target.user!, '-N', '-B', '-e', "SELECT CONCAT(user, '@', host) FROM mysql.user"), 'listing users', { env })).stdout.split('\n').filter(Boolean));
  const kept: string[] = [];
  const skipped = new Set<string>();
  for (const line of (await readFile(path, 'utf8')).split('\n')) {
    const m = line.match(MY_ACCOUNT_LINE);
    const account = m ? `${m[1]!.replace(/``/g, '`')}@${m[2]}` : undefined;
    if (account && existing.has(account)) {
      skipped.add(account);
      continue;
    }
    kept.push(line);
  }
  if (skipped.size) ctx.notes.push(`users that exist were left as they are: ${[...skipped].join(', ')}`);
  await execChecked(engine, ctx.containerId!, mysqlCommand('client', '-u', target.user!), 'restoring users and grants (users.sql)', { stdin: Readable.from([kept.join('\n')]), env, verbatim: true });
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
