/**
 * The backup executor: carries out the plan of each target under the host-wide backup lock,
 * emits progress events and records every run in the catalog. A failed target leaves no
 * complete-looking artifact (its files are removed; without manifest.json nothing is complete).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { ComposeProject } from '../compose/types.js';
import type { Engine } from '../engine/client.js';
import { BerthError, errorMessage } from '../lib/errors.js';
import { parseRecipient } from './age.js';
import { ageRecipients, encryptStaged } from './encrypt.js';
import { acquireLock, type Lock } from '../state/locks.js';
import { hostName, type StateStore } from '../state/store.js';
import { Catalog } from './catalog.js';
import { backupRelDir, openDestination, type Destination } from './destinations.js';
import { recoverStopped, StopJournal, type StoppedEntry } from './journal.js';
import { containersToStop, locateTarget, planTarget, type TargetPlan } from './plan.js';
import { removeOrphanHelpers } from './helpers.js';
import { sealManifest } from './manifest.js';
import { planRetention, type RetentionPlan } from './retention.js';
import { backupMysql, backupPostgres, backupVolumes, verifyVolumeFiles, type SourceResult } from './sources.js';
import { resolveDestination, resolveTargets } from './targets.js';
import type { BackupEvent, BackupManifest, BackupTarget } from './types.js';
import { announcePlannedStop } from '../monitor/silences.js';

export const BACKUP_LOCK = 'backup';

export interface BackupRunOptions {
  engine: Engine;
  store: StateStore;
  project: ComposeProject;
  targets?: string[];
  dryRun?: boolean;
  onEvent?: (event: BackupEvent) => void;
  lockWaitMs?: number;
  /** Apply the retention policy after the run (only targets whose latest run is verified). */
  prune?: boolean;
  helperLabels?: Record<string, string>;
  compressionLevel?: number;
  /** Ctrl-C / SIGTERM: the target in progress fails cleanly (containers started, files removed), the rest are skipped. */
  signal?: AbortSignal;
  /** A safety backup (taken by a restore): marked so, never counted by retention. */
  purpose?: 'backup' | 'safety';
  /** The project runs as a Swarm stack: each target is backed up on the node that runs it. */
  swarm?: boolean;
  /** Test seam: called while containers are stopped for a volume snapshot. */
  hooks?: { inSnapshotWindow?: (containers: string[]) => Promise<void> };
}

export interface TargetResult {
  target: string;
  kind: BackupTarget['kind'];
  destination: string;
  status: 'planned' | 'verified' | 'failed';
  id?: string;
  location?: string;
  error?: string;
  totalBytes?: number;
  elapsedMs?: number;
  /** What the user should know about a verified backup (e.g. the database was empty). */
  notes?: string[];
  plan: TargetPlan;
}

export interface BackupRunReport {
  project: string;
  dryRun: boolean;
  ok: boolean;
  results: TargetResult[];
  /** Containers a crashed earlier run had left stopped, started again by this one. */
  recovered: StoppedEntry[];
  /** Helper containers a killed earlier run had left, removed by this one. */
  removedHelpers: string[];
  /** Catalog records of runs that never finished, marked failed (interrupted). */
  interrupted: string[];
  retention?: RetentionPlan;
}

export function berthVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

export function newBackupId(target: string, at: Date): string {
  const stamp = at.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `${target}-${stamp}-${randomBytes(2).toString('hex')}`;
}

/** Takes the host-wide backup lock (one backup, restore or prune at a time on this host). */
export async function lockBackups(store: StateStore, purpose: string, waitMs = 0): Promise<Lock> {
  return acquireLock(store, BACKUP_LOCK, { purpose, waitMs });
}

export interface Recovery {
  recovered: StoppedEntry[];
  removedHelpers: string[];
  interrupted: string[];
}

/** Work a crashed run left behind: stopped containers, helper containers, 'running' catalog rows and their files. */
export async function recoverInterrupted(engine: Engine, store: StateStore, project: ComposeProject | undefined): Promise<Recovery> {
  const recovered = await recoverStopped(engine, new StopJournal(store.dir));
  const removedHelpers = project ? await removeOrphanHelpers(engine, project.name) : [];
  const catalog = new Catalog(store);
  const stale = catalog.list().filter((e) => e.status === 'running');
  for (const entry of stale) {
    catalog.failed(entry.id, 'interrupted (berth stopped before the run finished)');
    if (!project || entry.project !== project.name) continue;
    try {
      const destination = openDestination(resolveDestination(project, entry.destination, store.dir), store.dir);
      await destination.remove(backupRelDir(entry.project, entry.target, entry.id));
      await destination.close();
    } catch {
      // A leftover without manifest.json is not a complete backup; removing it is tidiness.
    }
  }
  return { recovered, removedHelpers, interrupted: stale.map((e) => e.id) };
}

export async function planBackups(engine: Engine, store: StateStore, project: ComposeProject, names: string[] = [], swarm = false): Promise<TargetPlan[]> {
  const targets = resolveTargets(project, names);
  const plans: TargetPlan[] = [];
  for (const target of targets) {
    resolveDestination(project, target.destination, store.dir);
    plans.push(planTarget(target, (await locateTarget(engine, project, target, swarm)).facts, target.destination, { ageRecipients: ageRecipients(project).length }));
  }
  return plans;
}

export async function runBackups(options: BackupRunOptions): Promise<BackupRunReport> {
  const { engine, store, project } = options;
  const emit = options.onEvent ?? (() => undefined);
  const targets = resolveTargets(project, options.targets ?? []);
  if (targets.length === 0) throw new BerthError(`project ${project.name} has no backup targets`, { hint: 'add x-berth: { backup: { type: postgres|mysql|volume } } to a service' });
  // Fail before touching anything when a recipient is not a valid age key.
  for (const recipient of ageRecipients(project)) parseRecipient(recipient);
  if (options.dryRun) {
    const plans = await planBackups(engine, store, project, options.targets, options.swarm);
    return { project: project.name, dryRun: true, ok: plans.every((p) => !p.problem), recovered: [], removedHelpers: [], interrupted: [], results: plans.map((plan) => ({ target: plan.target.name, kind: plan.target.kind, destination: plan.target.destination, status: 'planned', error: plan.problem, plan })) };
  }
  const lock = await lockBackups(store, `backup run ${project.name}`, options.lockWaitMs);
  try {
    const recovery = await recoverInterrupted(engine, store, project);
    if (recovery.recovered.length) emit({ type: 'restarted', target: '(earlier run)', containers: recovery.recovered.map((r) => r.name) });
    const results: TargetResult[] = [];
    for (const target of targets) {
      if (options.signal?.aborted) break;
      results.push(await runTarget(options, target, emit));
    }
    const report: BackupRunReport = { project: project.name, dryRun: false, ok: !options.signal?.aborted && results.every((r) => r.status === 'verified'), results, ...recovery };
    if (options.prune) report.retention = await applyRetention(store, project, { dryRun: false, targets: targets.map((t) => t.name) });
    store.audit({ project: project.name, action: 'backup run', detail: { ok: report.ok, results: results.map((r) => ({ target: r.target, id: r.id, status: r.status, error: r.error })) } });
    return report;
  } finally {
    lock.release();
  }
}

export async function runTarget(options: BackupRunOptions, target: BackupTarget, emit: (e: BackupEvent) => void): Promise<TargetResult> {
  const { store, project } = options;
  const catalog = new Catalog(store);
  const startedAt = new Date();
  const started = performance.now();
  const id = newBackupId(target.name, startedAt);
  const relDir = backupRelDir(project.name, target.name, id);
  // On a stack, the engine of the node that runs the target.
  const { engine, facts, node } = await locateTarget(options.engine, project, target, options.swarm);
  if (node) emit({ type: 'step', target: target.name, step: 'node', detail: `runs on Swarm node ${node}: backing up through its engine` });
  const plan = planTarget(target, facts, target.destination, { ageRecipients: ageRecipients(project).length });
  const base = { target: target.name, kind: target.kind, destination: target.destination, id, plan };
  let destination: Destination | undefined;
  catalog.start({ id, project: project.name, target: target.name, kind: target.kind, destination: target.destination, startedAt: startedAt.toISOString(), location: relDir, purpose: options.purpose });
  try {
    if (plan.problem) throw new BerthError(`${target.name}: ${plan.problem}`);
    destination = openDestination(resolveDestination(project, target.destination, store.dir), store.dir);
    const dir = await destination.stage(relDir);
    const progress = (file: string, bytes: number, elapsedMs: number) => emit({ type: 'progress', target: target.name, file, bytes, elapsedMs, bytesPerSecond: elapsedMs > 0 ? (bytes * 1000) / elapsedMs : 0 });
    const context = { engine, target, facts, dir, progress, helperLabels: options.helperLabels, signal: options.signal };
    const checkpoint = () => {
      if (options.signal?.aborted) throw new BerthError('interrupted');
    };
    let result: SourceResult;
    let stopped: string[] = [];
    if (target.kind === 'postgres') {
      emit({ type: 'step', target: target.name, step: 'dump', detail: plan.steps[0]!.detail });
      result = await backupPostgres(context);
    } else if (target.kind === 'mysql') {
      emit({ type: 'step', target: target.name, step: 'dump', detail: plan.steps[0]!.detail });
      result = await backupMysql(context);
    } else {
      const toStop = containersToStop(target, facts);
      const journal = new StopJournal(store.dir);
      // Announced to the agent: the snapshot's planned stop does not page (src/monitor/silences.ts).
      const silence = toStop.length ? announcePlannedStop(store, { project: project.name, services: [...new Set(toStop.map((c) => (c.project === project.name ? c.service : undefined)).filter((s): s is string => Boolean(s)))], reason: `backup ${target.name} (stop_containers)` }) : undefined;
      try {
        for (const container of toStop) {
          // Journal first: a crash right after stop() must still find the entry.
          journal.add({ containerId: container.id, name: container.name, backupId: id });
          await engine.call(`stop ${container.name} for the snapshot`, () => engine.docker.getContainer(container.id).stop().catch((error: { statusCode?: number }) => {
            if (error?.statusCode !== 304) throw error;
          }));
          stopped.push(container.name);
        }
        if (stopped.length) {
          emit({ type: 'stopped', target: target.name, containers: stopped });
          await options.hooks?.inSnapshotWindow?.(stopped);
        }
        checkpoint();
        emit({ type: 'step', target: target.name, step: 'archive-volume', detail: facts.volumes.map((v) => v.name).join(', ') });
        result = await backupVolumes(context, options.compressionLevel);
      } finally {
        for (const container of toStop) {
          if (!journal.read().some((e) => e.containerId === container.id)) continue;
          await engine.call(`start ${container.name} after the snapshot`, () => engine.docker.getContainer(container.id).start().catch((error: { statusCode?: number }) => {
            if (error?.statusCode !== 304) throw error;
          }));
          journal.remove(container.id);
        }
        if (stopped.length) emit({ type: 'restarted', target: target.name, containers: stopped });
        silence?.end();
      }
      emit({ type: 'step', target: target.name, step: 'verify', detail: 'listing archives' });
      await verifyVolumeFiles(result.files);
    }
    const recipients = ageRecipients(project);
    if (recipients.length) {
      // Verified as plaintext above; only ciphertext reaches the destination's final names.
      emit({ type: 'step', target: target.name, step: 'encrypt', detail: `age to ${recipients.length} recipient(s)` });
      for (const file of result.files) await encryptStaged(file, dir, recipients);
    }
    const files = result.files.map((f) => ({
      name: f.name, role: f.role, sizeBytes: f.sizeBytes, sha256: f.sha256, verifiedBy: f.verifiedBy,
      ...(f.volume ? { volume: f.volume } : {}),
      ...(f.encrypted ? { encrypted: true, plaintextSha256: f.plaintextSha256, plaintextSizeBytes: f.plaintextSizeBytes } : {}),
    }));
    for (const f of files) if (f.sizeBytes <= 0) throw new BerthError(`${f.name} is empty`);
    const manifest: BackupManifest = sealManifest({
      format: 'berth-backup/1',
      id,
      project: project.name,
      target: target.name,
      kind: target.kind,
      service: target.service,
      ...(target.database ? { database: target.database } : {}),
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      ...(result.server ? { server: result.server } : {}),
      files,
      totalBytes: files.reduce((sum, f) => sum + f.sizeBytes, 0),
      stoppedContainers: stopped,
      ...(recipients.length ? { encryption: { format: 'age' as const, recipients } } : {}),
      berthVersion: berthVersion(),
      host: hostName(),
      ...(options.purpose === 'safety' ? { purpose: 'safety' as const } : {}),
      ...(result.databaseOwner ? { databaseOwner: result.databaseOwner } : {}),
      ...(result.notes?.length ? { notes: result.notes } : {}),
    });
    checkpoint();
    emit({ type: 'step', target: target.name, step: 'commit', detail: destination.describe });
    const location = await destination.commit(relDir, result.files, manifest);
    catalog.verified(id, manifest, location);
    const elapsedMs = performance.now() - started;
    emit({ type: 'done', target: target.name, id, totalBytes: manifest.totalBytes, elapsedMs });
    return { ...base, status: 'verified', location, totalBytes: manifest.totalBytes, elapsedMs, ...(manifest.notes ? { notes: manifest.notes } : {}) };
  } catch (error) {
    const message = errorMessage(error);
    await destination?.remove(relDir).catch(() => undefined);
    catalog.failed(id, message);
    emit({ type: 'failed', target: target.name, id, error: message });
    return { ...base, status: 'failed', error: message, elapsedMs: performance.now() - started };
  } finally {
    await destination?.close().catch(() => undefined);
  }
}

/** Retention over the catalog of a project; removes pruned backups from their destinations. */
export async function applyRetention(store: StateStore, project: ComposeProject, options: { dryRun: boolean; targets?: string[]; now?: Date }): Promise<RetentionPlan> {
  const catalog = new Catalog(store);
  // Backups made by other hosts (a shared destination, an old server) are theirs to prune.
  const entries = catalog.list({ project: project.name }).filter((e) => (!options.targets || options.targets.includes(e.target)) && (e.host === null || e.host === hostName()));
  const plan = planRetention(entries, project.berth.backup.retention, { now: options.now ?? new Date() });
  if (options.dryRun) return plan;
  const destinations = new Map<string, Destination>();
  try {
    for (const decision of plan.decisions.filter((d) => d.action === 'prune')) {
      const entry = entries.find((e) => e.id === decision.id)!;
      let destination = destinations.get(entry.destination);
      if (!destination) {
        destination = openDestination(resolveDestination(project, entry.destination, store.dir), store.dir);
        destinations.set(entry.destination, destination);
      }
      await destination.remove(backupRelDir(entry.project, entry.target, entry.id));
      catalog.pruned(entry.id);
    }
  } finally {
    for (const d of destinations.values()) await d.close().catch(() => undefined);
  }
  if (plan.decisions.some((d) => d.action === 'prune')) store.audit({ project: project.name, action: 'backup prune', detail: plan.decisions.filter((d) => d.action === 'prune').map((d) => d.id) });
  return plan;
}
