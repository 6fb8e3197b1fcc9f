/**
 * `berth rollout --swarm` / `berth rollback --swarm`: Swarm's own rolling update, driven and watched
 * by berth. The service's spec gets the new image and the update/rollback config of the rendered
 * stack (start-first when health-gated, failure_action rollback, a monitor window); berth waits
 * until Swarm converged or rolled back, and keeps the deploy lock and history as on one server.
 * Planned first: the plan says per service what changes and how Swarm will roll it.
 */
import { renderStack } from '../compose/stack.js';
import type { Engine } from '../engine/client.js';
import { assertSwarmManager, ConvergenceError, inspectService, stackServices, waitForConvergence, type ServiceConvergence, type SwarmService } from '../engine/swarm.js';
import { parseDuration } from '../lib/duration.js';
import { BerthError, ExitCode, errorMessage } from '../lib/errors.js';
import { finishDeploy, getDeploy, listDeploys, startDeploy, type DeployKind, type DeployResult } from '../rollout/history.js';
import { lockProject } from '../rollout/run.js';
import type { StateStore } from '../state/store.js';
import { convergeBudgetMs, type StackDeps, type StackEvent } from './deploy.js';

type UpdateConfig = NonNullable<SwarmService['Spec']['UpdateConfig']>;

export interface StackUpdatePlanEntry {
  service: string;
  swarmName: string;
  imageBefore: string;
  imageAfter: string;
  update: UpdateConfig;
  rollback: UpdateConfig;
  skip?: string;
  reason: string;
}

export interface StackUpdateRequest {
  services: string[];
  kind?: DeployKind;
  /** Images to roll to instead of the model's (rollback). */
  targets?: Record<string, string>;
  force?: boolean;
  timeoutMs?: number;
  dryRun?: boolean;
  lockWaitMs?: number;
  signal?: AbortSignal;
  onEvent?: (event: StackEvent) => void;
}

export interface StackUpdateServiceResult {
  service: string;
  result: DeployResult | 'unchanged';
  deployId?: number;
  imageBefore: string;
  imageAfter: string;
  running: number;
  desired: number;
  durationMs: number;
  error?: string;
  errors: string[];
}

export interface StackUpdateResult {
  ok: boolean;
  exitCode: number;
  plan: StackUpdatePlanEntry[];
  services: StackUpdateServiceResult[];
}

const NS = 1_000_000;

/** The rendered stack's update_config / rollback_config as the Engine API's (durations in ns). */
export function apiUpdateConfig(config: Record<string, unknown> | undefined): UpdateConfig {
  const c = config ?? {};
  const duration = (v: unknown) => (v === undefined ? undefined : Math.round(parseDuration(v as string) * NS));
  const out: UpdateConfig = {
    Parallelism: c.parallelism as number | undefined,
    Delay: duration(c.delay),
    FailureAction: c.failure_action as string | undefined,
    Monitor: duration(c.monitor),
    MaxFailureRatio: c.max_failure_ratio as number | undefined,
    Order: c.order as string | undefined,
  };
  return Object.fromEntries(Object.entries(out).filter(([, v]) => v !== undefined)) as UpdateConfig;
}

/** Plan (pure): per service, the image it runs, the one it gets, and Swarm's update settings. */
export function planStackUpdate(deps: Pick<StackDeps, 'project'>, existing: Map<string, SwarmService>, req: Pick<StackUpdateRequest, 'services' | 'targets' | 'force'>): StackUpdatePlanEntry[] {
  const stack = renderStack(deps.project);
  const services = stack.file.services as Record<string, { deploy?: Record<string, unknown> }>;
  // In depends_on order, as on one server: a dependency is updated before what depends on it.
  const rank = new Map(stack.order.flatMap((layer, i) => layer.map((s) => [s, i] as const)));
  const ordered = [...new Set(req.services)].sort((a, b) => (rank.get(a) ?? 0) - (rank.get(b) ?? 0));
  return ordered.map((service) => {
    if (!deps.project.services[service]) throw new BerthError(`no service ${service} in ${deps.project.name}`, { exitCode: ExitCode.usage });
    const current = existing.get(service);
    if (!current) throw new BerthError(`service ${service} is not deployed in stack ${deps.project.name}`, { exitCode: ExitCode.usage, hint: 'berth deploy --swarm deploys the stack first' });
    const deploy = services[service]?.deploy ?? {};
    const update = apiUpdateConfig(deploy.update_config as Record<string, unknown>);
    const rollback = apiUpdateConfig(deploy.rollback_config as Record<string, unknown>);
    const imageBefore = current.Spec.TaskTemplate.ContainerSpec.Image;
    const imageAfter = req.targets?.[service] ?? deps.project.services[service]!.image!;
    const skip = imageBefore === imageAfter && !req.force ? `already runs ${imageAfter}` : undefined;
    const gated = Boolean(current.Spec.TaskTemplate.ContainerSpec.Healthcheck?.Test?.length && current.Spec.TaskTemplate.ContainerSpec.Healthcheck.Test[0] !== 'NONE');
    const reason = `Swarm's rolling update, ${update.Order ?? 'stop-first'}${gated ? ', a new task counts only once healthy' : ', no healthcheck: a new task counts once it runs'}, failure_action ${update.FailureAction ?? 'pause'}, monitor ${Math.round((update.Monitor ?? 0) / 1e9)} s`;
    return { service, swarmName: current.Spec.Name, imageBefore, imageAfter, update, rollback, skip, reason };
  });
}

export async function updateStack(deps: StackDeps, req: StackUpdateRequest): Promise<StackUpdateResult> {
  const emit = req.onEvent ?? (() => undefined);
  await assertSwarmManager(deps.engine);
  const existing = await stackServices(deps.engine, deps.project.name);
  const plan = planStackUpdate(deps, existing, req);
  if (req.dryRun) return { ok: true, exitCode: ExitCode.ok, plan, services: [] };
  const lock = await lockProject(deps, `${req.kind ?? 'rollout'} --swarm ${req.services.join(' ')}`, req.lockWaitMs);
  const results: StackUpdateServiceResult[] = [];
  let exitCode: number = ExitCode.ok;
  try {
    for (const entry of plan) {
      const started = performance.now();
      if (entry.skip) {
        emit({ type: 'note', text: `${entry.service}: ${entry.skip}` });
        results.push({ service: entry.service, result: 'unchanged', imageBefore: entry.imageBefore, imageAfter: entry.imageAfter, running: 0, desired: 0, durationMs: 0, errors: [] });
        continue;
      }
      const deployId = startDeploy(deps.store, { project: deps.project.name, service: entry.service, kind: req.kind ?? 'rollout', imageBefore: entry.imageBefore, imageAfter: entry.imageAfter, detail: { target: 'swarm', update: entry.update } });
      const step = { kind: 'converge' as const, services: [entry.service], reason: entry.reason };
      let state: ServiceConvergence | undefined;
      let error: unknown;
      try {
        const { sinceMs, staleUpdate } = await applyUpdate(deps.engine, entry, req.force);
        emit({ type: 'step', step, phase: 'start' });
        [state] = await waitForConvergence(deps.engine, deps.project.name, [entry.service], {
          timeoutMs: req.timeoutMs ?? convergeBudgetMs(deps.project, [entry.service]) * 2,
          sinceMs,
          staleUpdates: new Map([[entry.service, staleUpdate]]),
          signal: req.signal,
          onProgress: (states) => emit({ type: 'progress', states }),
        });
        emit({ type: 'step', step, phase: 'done', ms: performance.now() - started });
      } catch (e) {
        error = e;
        if (e instanceof ConvergenceError) state = e.states[0];
        emit({ type: 'step', step, phase: 'failed', ms: performance.now() - started, error: errorMessage(e) });
      }
      const durationMs = performance.now() - started;
      const result: DeployResult = !error ? 'succeeded' : state?.updateState === 'rollback_completed' ? 'rolled-back' : req.signal?.aborted ? 'interrupted' : 'failed';
      const errors = state?.errors ?? [];
      finishDeploy(deps.store, deployId, { result, durationMs, detail: { running: state?.running, desired: state?.desired, updateState: state?.updateState, updateMessage: state?.updateMessage, errors, error: error ? errorMessage(error) : undefined } });
      results.push({ service: entry.service, result, deployId, imageBefore: entry.imageBefore, imageAfter: entry.imageAfter, running: state?.running ?? 0, desired: state?.desired ?? 0, durationMs, error: error ? errorMessage(error) : undefined, errors });
      if (error) {
        if (!(error instanceof BerthError)) throw error;
        exitCode = error.exitCode;
        break; // later services wait for a fix, as on one server
      }
    }
  } finally {
    lock.release();
  }
  return { ok: exitCode === ExitCode.ok, exitCode, plan, services: results };
}

/** Sends the new spec (image, update and rollback config) at the service's current version; returns when it was sent. */
async function applyUpdate(engine: Engine, entry: StackUpdatePlanEntry, force?: boolean): Promise<{ sinceMs: number; staleUpdate?: string }> {
  const current = await inspectService(engine, entry.swarmName);
  const spec = structuredClone(current.Spec);
  spec.TaskTemplate.ContainerSpec.Image = entry.imageAfter;
  spec.UpdateConfig = { ...spec.UpdateConfig, ...entry.update };
  spec.RollbackConfig = { ...spec.RollbackConfig, ...entry.rollback };
  if (force) spec.TaskTemplate.ForceUpdate = (spec.TaskTemplate.ForceUpdate ?? 0) + 1;
  const sinceMs = Date.now() - 1000;
  await engine.call(`update service ${entry.swarmName}`, () => engine.docker.getService(current.ID).update({ version: current.Version.Index, ...spec }));
  return { sinceMs, staleUpdate: current.UpdateStatus?.StartedAt };
}

/**
 * What a rollback on a stack brings back: `--to ID` is the image deploy ID installed; by default the
 * image that ran before the newest successful deploy. On Swarm, images are refs every node resolves
 * (no keep tags on the nodes), so the recorded ref is the target.
 */
export function stackRollbackTarget(store: StateStore, project: string, service: string, to?: number): { ref: string; deployId: number } {
  if (to !== undefined) {
    const record = getDeploy(store, to);
    if (!record || record.project !== project || record.service !== service || !record.imageAfter) throw new BerthError(`no deploy #${to} of ${service} in ${project}`, { exitCode: ExitCode.usage, hint: `berth history ${service} lists them` });
    return { ref: record.imageAfter, deployId: record.id };
  }
  const last = listDeploys(store, project, { service, limit: 200 }).find((r) => r.result === 'succeeded' && r.imageBefore && r.imageBefore !== r.imageAfter && (r.detail as { target?: string } | null)?.target === 'swarm');
  if (!last) throw new BerthError(`no earlier image of ${service} to roll back to on the stack`, { exitCode: ExitCode.usage, hint: 'berth history shows what berth has deployed' });
  return { ref: last.imageBefore!, deployId: last.id };
}
