/**
 * A rollout from start to end: the project's deploy lock, reconcile + plan, execution, history,
 * and the automatic rollback when the new replicas fail the monitor window.
 */
import { randomBytes } from 'node:crypto';
import type { ComposeRunner } from '../compose/cli.js';
import type { ComposeProject } from '../compose/types.js';
import type { Engine } from '../engine/client.js';
import { BerthError, ExitCode, errorMessage } from '../lib/errors.js';
import { announcePlannedStop } from '../monitor/silences.js';
import { acquireLock } from '../state/locks.js';
import type { StateStore } from '../state/store.js';
import { collectServiceState } from './collect.js';
import { executePlan, RolloutFailure, type RolloutEvent, type ServiceOutcome } from './execute.js';
import { finishDeploy, getDeploy, keepTag, listDeploys, markInterrupted, pruneKeepTags, startDeploy, tagKeep, type DeployKind, type DeployResult } from './history.js';
import { removePlaceholders } from './placeholder.js';
import { describeStep, planRollout, type RolloutOptions, type RolloutPlan } from './plan.js';

export interface RolloutDeps {
  project: ComposeProject;
  engine: Engine;
  store: StateStore;
  compose: () => Promise<ComposeRunner>;
}

export interface RolloutRequest extends Omit<RolloutOptions, 'rolloutId'> {
  services: string[];
  kind?: DeployKind;
  dryRun?: boolean;
  lockWaitMs?: number;
  /** After a failed monitor window, leave the new replicas (default: roll back). */
  noRollback?: boolean;
  /** Image refs to roll to instead of the model's (rollback). */
  targets?: Record<string, string>;
  signal?: AbortSignal;
  onEvent?: (event: RolloutEvent) => void;
  /** The caller (berth deploy) holds the project's deploy lock already. */
  lockHeld?: boolean;
  /** New replicas bind-mount these files instead (old host path -> new): a rotated secret's new version. */
  rebind?: Record<string, string>;
}

export interface ServiceResult {
  service: string;
  result: DeployResult | 'unchanged';
  deployId?: number;
  imageBefore?: string;
  imageAfter: string;
  imageIdBefore?: string;
  imageIdAfter?: string;
  durationMs: number;
  phases: Record<string, number>;
  replicas: number;
  error?: string;
  healthLog?: string[];
  logs?: string[];
  rolledBackTo?: string;
  /** Leftovers of an interrupted rollout or a crash that this run removed (running, exited or out of DNS). */
  removedLeftovers?: string[];
}

export interface RolloutResult {
  ok: boolean;
  exitCode: number;
  rolloutId: string;
  plan: RolloutPlan;
  services: ServiceResult[];
}

export function newRolloutId(): string {
  return `${new Date().toISOString().slice(0, 19).replace(/[-:T]/g, '')}-${randomBytes(3).toString('hex')}`;
}

export async function planFor(deps: RolloutDeps, req: RolloutRequest, rolloutId: string, unfinished: Map<string, number> = new Map(), hashes?: Promise<Map<string, string>>): Promise<RolloutPlan> {
  const composeKind = async () => (await deps.compose()).cli.kind;
  const states = [];
  for (const service of req.services) {
    const state = await collectServiceState(deps.engine, deps.project, service, { composeKind, targetRef: req.targets?.[service], unfinishedDesired: unfinished.get(service) });
    // A rollback runs an image the model does not name: keep the source's hash so Compose still sees the difference.
    if (hashes && !req.targets?.[service]) state.configHash = (await hashes).get(service);
    states.push(state);
  }
  return planRollout(deps.project, states, { ...req, rolloutId });
}

export async function runRollout(deps: RolloutDeps, req: RolloutRequest): Promise<RolloutResult> {
  const rolloutId = newRolloutId();
  const emit = req.onEvent ?? (() => undefined);
  if (req.dryRun) {
    const plan = await planFor(deps, req, rolloutId);
    return { ok: true, exitCode: ExitCode.ok, rolloutId, plan, services: [] };
  }
  // Compose's config hashes (a second for v1's Python) are read while berth takes the lock and looks at the engine.
  const hashes = configHashes(deps, req.services);
  const lock = req.lockHeld ? undefined : await lockProject(deps, `${req.kind ?? 'rollout'} ${req.services.join(' ')}`, req.lockWaitMs);
  // Announced to the agent: what this planned stop causes does not page (src/monitor/silences.ts).
  const silence = announcePlannedStop(deps.store, { project: deps.project.name, services: req.services, reason: `${req.kind ?? 'rollout'} ${req.services.join(' ')}` });
  try {
    // Under the lock no other rollout of this project runs: 'running' records are from a berth that died.
    const unfinished = new Map<string, number>();
    for (const r of markInterrupted(deps.store, deps.project.name)) {
      const desired = Number(r.detail?.desired);
      if (!unfinished.has(r.service) && Number.isFinite(desired) && desired > 0) unfinished.set(r.service, desired);
      emit({ type: 'note', service: r.service, text: `deploy #${r.id} of ${r.service} (${r.startedAt}) did not finish: reconciling` });
    }
    const strays = await removePlaceholders(deps.engine, deps.project.name);
    if (strays) emit({ type: 'note', text: `removed ${strays} address placeholder(s) an interrupted rollout left` });
    const plan = await planFor(deps, req, rolloutId, unfinished, hashes);
    const results: ServiceResult[] = [];
    let exitCode: number = ExitCode.ok;
    for (const s of plan.services) {
      const started = performance.now();
      if (s.skip) {
        // Nothing to roll, but what an interrupted rollout left (planned as remove-leftover) goes now,
        // exactly as the dry run says; the executor announces the skip.
        const removed = s.steps.flatMap((step) => (step.kind === 'remove-leftover' ? [step.container.name] : []));
        const base = { service: s.service, imageAfter: s.image, replicas: s.desired, ...(removed.length ? { removedLeftovers: removed } : {}) };
        if (!s.steps.length) emit({ type: 'note', service: s.service, text: `${s.service}: ${s.skip}` });
        try {
          const [outcome] = s.steps.length ? await executePlan(deps.engine, deps.project, { ...plan, services: [s] }, { signal: req.signal, onEvent: emit, compose: deps.compose }) : [];
          results.push({ ...base, result: 'unchanged', durationMs: Math.round(performance.now() - started), phases: outcome?.phases ?? {} });
        } catch (error) {
          const failure = error instanceof RolloutFailure ? error : undefined;
          results.push({ ...base, result: failure?.exitCode === ExitCode.interrupted ? 'interrupted' : 'failed', durationMs: Math.round(performance.now() - started), phases: failure?.outcome.phases ?? {}, error: errorMessage(error) });
          exitCode = failure?.exitCode ?? (error instanceof BerthError ? error.exitCode : ExitCode.degraded);
          break;
        }
        continue;
      }
      const [after, before] = await Promise.all([deps.engine.inspectImage(s.image), s.imageIdBefore ? deps.engine.inspectImage(s.imageIdBefore) : undefined]);
      const imageIdAfter = after?.Id;
      // Repository digests exist only for images that came from a registry (local builds have none).
      const repoDigests = { ...(before?.RepoDigests?.[0] ? { repoDigestBefore: before.RepoDigests[0] } : {}), ...(after?.RepoDigests?.[0] ? { repoDigestAfter: after.RepoDigests[0] } : {}) };
      const deployId = startDeploy(deps.store, {
        project: deps.project.name,
        service: s.service,
        kind: req.kind ?? 'rollout',
        imageBefore: s.imageRefBefore ?? s.imageIdBefore,
        imageIdBefore: s.imageIdBefore,
        imageAfter: s.image,
        imageIdAfter,
        detail: { rolloutId, desired: s.desired, steps: s.steps.length, ...repoDigests },
      });
      const log: string[] = [];
      const onEvent = (e: RolloutEvent) => {
        if (e.type === 'step' && e.phase !== 'start') log.push(`${e.phase === 'done' ? 'ok' : 'FAILED'} ${describeStep(e.step)}${e.error ? `: ${e.error}` : ''}`);
        if (e.type === 'note') log.push(e.text);
        emit(e);
      };
      // Keep both images from pruning while they are rollback targets.
      if (s.imageIdBefore) await tagKeep(deps.engine, s.imageIdBefore, keepTag(deps.project.name, s.service, deployId, 'before')).catch(() => undefined);
      if (imageIdAfter) await tagKeep(deps.engine, imageIdAfter, keepTag(deps.project.name, s.service, deployId, 'after')).catch(() => undefined);
      const base = { service: s.service, deployId, imageBefore: s.imageRefBefore ?? s.imageIdBefore, imageIdBefore: s.imageIdBefore, imageAfter: s.image, imageIdAfter, replicas: s.desired };
      try {
        const [outcome] = await executePlan(deps.engine, deps.project, { ...plan, services: [s] }, { signal: req.signal, onEvent, compose: deps.compose, beforeRemove: retainLogs(deps, deployId), rebind: req.rebind });
        const durationMs = Math.round(performance.now() - started);
        finishDeploy(deps.store, deployId, { result: 'succeeded', durationMs, detail: { phases: outcome!.phases, joined: outcome!.joined }, log: log.join('\n') });
        results.push({ ...base, result: 'succeeded', durationMs, phases: outcome!.phases });
        await pruneKeepTags(deps.engine, deps.project.name, s.service).catch(() => undefined);
      } catch (error) {
        const failure = error instanceof RolloutFailure ? error : undefined;
        const outcome: ServiceOutcome | undefined = failure?.outcome;
        const interrupted = failure?.exitCode === ExitCode.interrupted;
        let result: DeployResult = interrupted ? 'interrupted' : 'failed';
        let rolledBackTo: string | undefined;
        // A failure after cut-over (the monitor window): bring the previous image back the same way.
        const afterCutOver = Boolean(outcome?.error?.startsWith('monitor'));
        if (!interrupted && afterCutOver && !req.noRollback && s.imageIdBefore) {
          const back = keepTag(deps.project.name, s.service, deployId, 'before').ref;
          emit({ type: 'note', service: s.service, text: `${s.service}: rolling back to ${back}` });
          try {
            const backPlan = await planFor(deps, { ...req, services: [s.service], targets: { [s.service]: back }, monitorMs: 0, force: false }, `${rolloutId}-rollback`);
            await executePlan(deps.engine, deps.project, backPlan, { signal: req.signal, onEvent, compose: deps.compose, beforeRemove: retainLogs(deps, deployId) });
            result = 'rolled-back';
            rolledBackTo = back;
          } catch (rollbackError) {
            log.push(`rollback failed: ${errorMessage(rollbackError)}`);
            emit({ type: 'note', service: s.service, text: `rollback of ${s.service} failed: ${errorMessage(rollbackError)}` });
          }
        } else if (!interrupted && outcome && !afterCutOver) {
          // Before cut-over the new replicas were removed; the old ones never stopped serving.
          result = 'rolled-back';
        }
        const durationMs = Math.round(performance.now() - started);
        const message = errorMessage(error);
        finishDeploy(deps.store, deployId, { result, durationMs, detail: { phases: outcome?.phases, error: message, healthLog: outcome?.healthLog, logs: outcome?.logs, removedNew: outcome?.removedNew, rolledBackTo }, log: log.join('\n') });
        results.push({ ...base, result, durationMs, phases: outcome?.phases ?? {}, error: message, healthLog: outcome?.healthLog, logs: outcome?.logs, rolledBackTo });
        exitCode = failure?.exitCode ?? (error instanceof BerthError ? error.exitCode : ExitCode.degraded);
        break; // later services (dependents) wait for a fix
      }
    }
    return { ok: exitCode === ExitCode.ok, exitCode, rolloutId, plan, services: results };
  } finally {
    silence.end();
    lock?.release();
  }
}

/** Keeps the last lines of the replicas a rollout replaces (berth logs shows them after they are gone). */
function retainLogs(deps: RolloutDeps, deployId: number) {
  return async (containers: Array<{ id: string; name: string }>, reason: string) => {
    const { retainLastLines } = await import('../runbook/logs/retain.js');
    await retainLastLines(deps.engine, deps.store, deps.project.name, containers, `deploy #${deployId}: ${reason}`);
  };
}

/** `compose config --hash=SERVICES`: the hash Compose writes on containers it creates; empty when it cannot tell. */
export function configHashes(deps: Pick<RolloutDeps, 'compose'>, services: string[]): Promise<Map<string, string>> {
  return deps.compose()
    .then((compose) => compose.run(['config', `--hash=${services.join(',')}`], { allowFailure: true, timeoutMs: 30_000 }))
    .then((r) => new Map(r.code === 0 ? r.stdout.split('\n').map((l) => l.trim().split(/\s+/)).filter((p): p is [string, string] => p.length === 2 && /^[0-9a-f]{64}$/.test(p[1]!)) : []))
    .catch(() => new Map());
}

/** The project's deploy lock: one rollout, deploy or rollback per project at a time. */
export function lockProject(deps: Pick<RolloutDeps, 'store' | 'project'>, purpose: string, waitMs?: number) {
  return acquireLock(deps.store, `deploy:${deps.project.name}`, { purpose, waitMs: waitMs ?? deps.project.berth.deploy.lockWaitMs ?? 0 });
}

/**
 * The image a rollback brings back: `--to ID` is the image deploy ID installed; by default the image
 * that ran before the newest successful deploy of the service. The keep tag is used so the target
 * survives image pruning.
 */
export function rollbackTarget(store: StateStore, project: string, service: string, to?: number): { ref: string; imageId: string; deployId: number } {
  if (to !== undefined) {
    const record = getDeploy(store, to);
    if (!record || record.project !== project || record.service !== service) {
      throw new BerthError(`no deploy #${to} of ${service} in ${project}`, { exitCode: ExitCode.usage, hint: `berth history ${service} lists them` });
    }
    if (!record.imageIdAfter) throw new BerthError(`deploy #${to} recorded no image`, { exitCode: ExitCode.usage });
    return { ref: keepTag(project, service, record.id, 'after').ref, imageId: record.imageIdAfter, deployId: record.id };
  }
  const last = listDeploys(store, project, { service, limit: 200 }).find((r) => r.result === 'succeeded' && r.imageIdBefore && r.imageIdBefore !== r.imageIdAfter);
  if (!last) throw new BerthError(`no earlier image of ${service} to roll back to`, { exitCode: ExitCode.usage, hint: 'berth history shows what berth has deployed' });
  return { ref: keepTag(project, service, last.id, 'before').ref, imageId: last.imageIdBefore!, deployId: last.id };
}
