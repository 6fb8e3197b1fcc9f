/**
 * The engine's Swarm side, for the stack target of every capability: the manager's view of a stack
 * (services, tasks, nodes) read through the one Engine, and convergence after a deploy or update.
 * Reads only; deploys go through `docker stack deploy`, updates through the service API.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { BerthError, ExitCode } from '../lib/errors.js';
import type { Engine } from './client.js';

/** The label `docker stack deploy` puts on everything of a stack. */
export const STACK_NAMESPACE = 'com.docker.stack.namespace';

export interface SwarmService {
  ID: string;
  Version: { Index: number };
  CreatedAt?: string;
  UpdatedAt?: string;
  Spec: {
    Name: string;
    Labels?: Record<string, string>;
    TaskTemplate: {
      ContainerSpec: { Image: string; Labels?: Record<string, string>; Healthcheck?: { Test?: string[] }; Secrets?: Array<{ SecretName: string; SecretID: string; File?: unknown }>; Configs?: Array<{ ConfigName: string; ConfigID: string; File?: unknown }>; Mounts?: Array<{ Type: string; Source?: string; Target: string }>; [k: string]: unknown };
      Placement?: { Constraints?: string[] };
      ForceUpdate?: number;
      [k: string]: unknown;
    };
    Mode: { Replicated?: { Replicas?: number }; Global?: Record<string, never> };
    UpdateConfig?: { Parallelism?: number; Delay?: number; FailureAction?: string; Monitor?: number; MaxFailureRatio?: number; Order?: string };
    RollbackConfig?: { Parallelism?: number; Delay?: number; FailureAction?: string; Monitor?: number; MaxFailureRatio?: number; Order?: string };
    EndpointSpec?: { Mode?: string; Ports?: Array<{ TargetPort: number; PublishedPort?: number; PublishMode?: string; Protocol?: string }> };
    [k: string]: unknown;
  };
  PreviousSpec?: SwarmService['Spec'];
  UpdateStatus?: { State?: string; StartedAt?: string; CompletedAt?: string; Message?: string };
}

export interface SwarmTask {
  ID: string;
  ServiceID: string;
  NodeID?: string;
  Slot?: number;
  CreatedAt: string;
  UpdatedAt?: string;
  DesiredState: string;
  Spec: { ContainerSpec?: { Image?: string; [k: string]: unknown }; ForceUpdate?: number; [k: string]: unknown };
  Status: { Timestamp?: string; State: string; Message?: string; Err?: string; ContainerStatus?: { ContainerID?: string; PID?: number; ExitCode?: number }; PortStatus?: { Ports?: Array<{ TargetPort: number; PublishedPort?: number; PublishMode?: string; Protocol?: string }> } };
}

export interface SwarmNodeInfo {
  ID: string;
  Description?: { Hostname?: string };
  Spec?: { Role?: string; Availability?: string; Labels?: Record<string, string> };
  Status?: { State?: string; Addr?: string };
  ManagerStatus?: { Leader?: boolean };
}

export interface StackState {
  services: SwarmService[];
  tasks: SwarmTask[];
  nodes: SwarmNodeInfo[];
}

/** Fails unless the engine is a Swarm manager (the only place a stack can be read or deployed). */
export async function assertSwarmManager(engine: Engine): Promise<{ nodeId: string }> {
  const info = await engine.call('read the engine info', () => engine.docker.info()) as { Swarm?: { LocalNodeState?: string; ControlAvailable?: boolean; NodeID?: string } };
  const swarm = info.Swarm;
  if (swarm?.LocalNodeState !== 'active') {
    throw new BerthError(`the engine at ${engine.host} is not part of a Swarm (state: ${swarm?.LocalNodeState || 'inactive'})`, { exitCode: ExitCode.engine, hint: 'point DOCKER_HOST at a Swarm manager (docker node ls lists them), or run `docker swarm init` there' });
  }
  if (!swarm.ControlAvailable) throw new BerthError(`the engine at ${engine.host} is a Swarm worker: stacks are managed on a manager`, { exitCode: ExitCode.engine, hint: 'point DOCKER_HOST at a manager node (docker node ls shows them)' });
  return { nodeId: swarm.NodeID ?? '' };
}

/** The services of a stack, by their name inside the stack (`<stack>_<service>` → service). */
export async function stackServices(engine: Engine, stack: string): Promise<Map<string, SwarmService>> {
  const services = await engine.call(`list the services of stack ${stack}`, () => engine.docker.listServices({ filters: { label: [`${STACK_NAMESPACE}=${stack}`] } })) as unknown as SwarmService[];
  return new Map(services.map((s) => [s.Spec.Name.startsWith(`${stack}_`) ? s.Spec.Name.slice(stack.length + 1) : s.Spec.Name, s]));
}

export async function stackState(engine: Engine, stack: string): Promise<StackState> {
  const services = [...(await stackServices(engine, stack)).values()];
  const [tasks, nodes] = await Promise.all([
    services.length ? engine.call(`list the tasks of stack ${stack}`, () => engine.docker.listTasks({ filters: { service: services.map((s) => s.Spec.Name) } })) as unknown as Promise<SwarmTask[]> : Promise.resolve([]),
    engine.call('list the Swarm nodes', () => engine.docker.listNodes()) as unknown as Promise<SwarmNodeInfo[]>,
  ]);
  return { services, tasks, nodes };
}

export async function inspectService(engine: Engine, name: string): Promise<SwarmService> {
  return engine.call(`inspect service ${name}`, () => engine.docker.getService(name).inspect()) as Promise<SwarmService>;
}

/** The full error of a task (Swarm's `docker service ps` truncates it): err, else message, with the exit code. */
export function taskError(task: SwarmTask): string | undefined {
  const s = task.Status;
  if (!['failed', 'rejected', 'orphaned'].includes(s.State) && !s.Err) return undefined;
  const exit = s.ContainerStatus?.ExitCode;
  return [s.Err || s.Message || s.State, exit ? `(exit code ${exit})` : ''].filter(Boolean).join(' ');
}

/** JSON with sorted keys: two specs compare equal whatever order the engine wrote their fields in. */
function stable(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stable).join(',')}]`;
  if (value && typeof value === 'object') return `{${Object.keys(value).sort().filter((k) => (value as Record<string, unknown>)[k] !== undefined).map((k) => `${JSON.stringify(k)}:${stable((value as Record<string, unknown>)[k])}`).join(',')}}`;
  return JSON.stringify(value);
}

/**
 * Whether a task runs the service's current spec: its container spec (image, env, secrets and
 * configs by id, ...) and force-update counter are the service's. The image alone is not enough: a
 * changed secret keeps the image, and right after a deploy the service's update status still says
 * "completed" (of the previous update) until Swarm starts the new one.
 */
export function isCurrentTask(task: SwarmTask, service: SwarmService): boolean {
  return stable(task.Spec.ContainerSpec) === stable(service.Spec.TaskTemplate.ContainerSpec) && (task.Spec.ForceUpdate ?? 0) === (service.Spec.TaskTemplate.ForceUpdate ?? 0);
}

export function desiredReplicas(service: SwarmService, nodes: SwarmNodeInfo[]): number {
  if (service.Spec.Mode.Global) return nodes.filter((n) => n.Status?.State === 'ready' && n.Spec?.Availability === 'active').length;
  return service.Spec.Mode.Replicated?.Replicas ?? 1;
}

/** Where one service stands: running tasks of its current spec, and whether an update is under way or came back. */
export interface ServiceConvergence {
  service: string;
  desired: number;
  running: number;
  updateState?: string;
  updateMessage?: string;
  /** Errors of tasks that failed since the deploy began, newest first, each in full. */
  errors: string[];
  converged: boolean;
  /** Swarm gave up: the update rolled back or paused. */
  failed: boolean;
}

/**
 * `staleUpdate`: the StartedAt of the update status the service had before berth changed it. Until
 * Swarm starts the new update, the service still shows the old one (a `rollback_completed` of the last
 * failed rollout would otherwise read as this one's failure).
 */
export function serviceConvergence(name: string, service: SwarmService, tasks: SwarmTask[], nodes: SwarmNodeInfo[], sinceMs: number, staleUpdate?: string): ServiceConvergence {
  const own = tasks.filter((t) => t.ServiceID === service.ID);
  const live = own.filter((t) => t.DesiredState === 'running');
  const running = live.filter((t) => t.Status.State === 'running' && isCurrentTask(t, service)).length;
  const desired = desiredReplicas(service, nodes);
  const hostname = (id?: string) => nodes.find((n) => n.ID === id)?.Description?.Hostname ?? id?.slice(0, 12) ?? 'no node';
  const errors = own
    .filter((t) => Date.parse(t.Status.Timestamp ?? t.UpdatedAt ?? t.CreatedAt) >= sinceMs)
    .map((t) => ({ t, error: taskError(t) ?? (t.DesiredState === 'running' && t.Status.State === 'pending' && t.Status.Err ? t.Status.Err : undefined) }))
    .filter((e): e is { t: SwarmTask; error: string } => e.error !== undefined)
    .sort((a, b) => Date.parse(b.t.Status.Timestamp ?? b.t.CreatedAt) - Date.parse(a.t.Status.Timestamp ?? a.t.CreatedAt))
    .map(({ t, error }) => `task ${t.ID.slice(0, 12)} on ${hostname(t.NodeID)} (${t.Spec.ContainerSpec?.Image ?? '?'}): ${error}`);
  const status = service.UpdateStatus && (staleUpdate === undefined || service.UpdateStatus.StartedAt !== staleUpdate) ? service.UpdateStatus : undefined;
  const updateState = status?.State;
  const failed = updateState === 'rollback_completed' || updateState === 'paused' || updateState === 'rollback_paused';
  const updating = updateState === 'updating' || updateState === 'rollback_started';
  const converged = !failed && !updating && running === desired && live.every((t) => t.Status.State === 'running');
  return { service: name, desired, running, updateState, updateMessage: status?.Message, errors: [...new Set(errors)], converged, failed };
}

/**
 * Waits until every named service of the stack runs its desired tasks of the current spec and no
 * update is under way. Fails with the task errors in full when Swarm rolled the update back or
 * paused it, when the same task error repeats (a crash loop, an image missing on a node), or at the
 * timeout. `since`: when the deploy began (older task failures are history).
 */
export async function waitForConvergence(engine: Engine, stack: string, services: string[], options: { timeoutMs: number; sinceMs: number; staleUpdates?: Map<string, string | undefined>; pollMs?: number; signal?: AbortSignal; onProgress?: (states: ServiceConvergence[]) => void }): Promise<ServiceConvergence[]> {
  const deadline = performance.now() + options.timeoutMs;
  for (;;) {
    const state = await stackState(engine, stack);
    const byName = new Map(state.services.map((s) => [s.Spec.Name.slice(stack.length + 1), s]));
    const states = services.map((name) => {
      const service = byName.get(name);
      if (!service) return { service: name, desired: 1, running: 0, errors: [`service ${stack}_${name} does not exist`], converged: false, failed: true } satisfies ServiceConvergence;
      return serviceConvergence(name, service, state.tasks, state.nodes, options.sinceMs, options.staleUpdates?.get(name));
    });
    options.onProgress?.(states);
    if (states.every((s) => s.converged)) return states;
    const failed = states.find((s) => s.failed);
    const looping = states.find((s) => !s.converged && s.errors.length >= 3 && s.updateState !== 'rollback_started');
    const timedOut = performance.now() > deadline;
    if (failed || looping || timedOut || options.signal?.aborted) {
      const s = failed ?? looping ?? states.find((x) => !x.converged)!;
      const why = failed
        ? `Swarm ${s.updateState === 'rollback_completed' ? 'rolled the update back' : 'paused the update'}${s.updateMessage ? ` (${s.updateMessage})` : ''}`
        : looping ? `its tasks keep failing` : options.signal?.aborted ? 'interrupted' : `not converged after ${Math.round(options.timeoutMs / 1000)} s`;
      throw new ConvergenceError(`${s.service}: ${why}; ${s.running}/${s.desired} tasks running${s.errors.length ? `; ${s.errors[0]}` : ''}`, states, options.signal?.aborted ? ExitCode.interrupted : ExitCode.degraded);
    }
    // Three cheap list calls on the manager: a short poll notices the end within ~250 ms.
    await sleep(options.pollMs ?? 250);
  }
}

export class ConvergenceError extends BerthError {
  constructor(message: string, readonly states: ServiceConvergence[], exitCode: number) {
    super(message, { exitCode, hint: 'berth status --swarm shows every task with its node and full error' });
  }
}
