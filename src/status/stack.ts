/**
 * `berth status --swarm`: the status of a stack. Per service, desired vs running tasks and the
 * state of a rolling update; per task, its node, state, health, image and digest, and the full
 * error of a failed or rejected task (`docker service ps` truncates it). Exit codes as on Compose.
 *
 * Health: Swarm's executor reports a task `running` only once its healthcheck passed, and fails it
 * when it turns unhealthy; where berth reaches the task's node (the manager, or a docker context
 * named like the node) the container's own health and image id are read as well.
 */
import type { ComposeProject } from '../compose/types.js';
import type { Engine } from '../engine/client.js';
import { NodeEngines } from '../engine/nodes.js';
import { assertSwarmManager, desiredReplicas, isCurrentTask, stackState, taskError, type StackState, type SwarmTask } from '../engine/swarm.js';

export interface StackTaskStatus {
  id: string;
  slot?: number;
  node: string;
  state: string;
  desiredState: string;
  /** healthy | unhealthy | starting | none, from the container when its node is reachable, else from Swarm's health-gated task state. */
  health: string;
  healthFrom: 'container' | 'swarm';
  image: string;
  /** The image id (sha256:…) the container runs, when its node is reachable. */
  digest?: string;
  since?: string;
  error?: string;
  ports: Array<{ published?: number; target: number; mode?: string }>;
}

export interface StackServiceStatus {
  name: string;
  swarmName: string;
  mode: 'replicated' | 'global';
  desired: number;
  running: number;
  image: string;
  update?: { state?: string; message?: string };
  tasks: StackTaskStatus[];
  problems: string[];
  ok: boolean;
}

export interface StackStatusReport {
  project: string;
  target: 'swarm';
  services: StackServiceStatus[];
  ok: boolean;
}

/** Container facts read on a task's node (health, image id), by container id. */
export type ContainerHealth = Map<string, { health: string; imageId: string }>;

/** The report (pure) from the manager's view of the stack and what the nodes said about their containers. */
export function buildStackStatus(project: ComposeProject, services: string[], state: StackState, containers: ContainerHealth): StackStatusReport {
  const hostname = (id?: string) => state.nodes.find((n) => n.ID === id)?.Description?.Hostname ?? (id ? id.slice(0, 12) : '-');
  const reported = services.map((name): StackServiceStatus => {
    const swarmName = `${project.name}_${name}`;
    const service = state.services.find((s) => s.Spec.Name === swarmName);
    if (!service) {
      const desired = project.services[name]?.replicas ?? 1;
      return { name, swarmName, mode: 'replicated', desired, running: 0, image: project.services[name]?.image ?? '', tasks: [], problems: [`not deployed in stack ${project.name}`], ok: false };
    }
    const gated = Boolean(service.Spec.TaskTemplate.ContainerSpec.Healthcheck?.Test?.length && service.Spec.TaskTemplate.ContainerSpec.Healthcheck.Test[0] !== 'NONE');
    const own = state.tasks.filter((t) => t.ServiceID === service.ID).sort((a, b) => (a.Slot ?? 0) - (b.Slot ?? 0) || Date.parse(b.CreatedAt) - Date.parse(a.CreatedAt));
    const live = own.filter((t) => t.DesiredState === 'running' || t.Status.State === 'running');
    // Failed tasks newer than the oldest live one: what went wrong lately, in full.
    const oldestLive = Math.min(...live.map((t) => Date.parse(t.CreatedAt)), Date.now());
    const recentFailures = own.filter((t) => !live.includes(t) && taskError(t) && Date.parse(t.Status.Timestamp ?? t.CreatedAt) >= oldestLive - 60_000).slice(0, 5);
    const toStatus = (t: SwarmTask): StackTaskStatus => {
      const container = containers.get(t.Status.ContainerStatus?.ContainerID ?? '');
      const swarmHealth = t.Status.State === 'running' ? (gated ? 'healthy' : 'none') : t.Status.State === 'starting' && gated ? 'starting' : 'none';
      return {
        id: t.ID,
        slot: t.Slot,
        node: hostname(t.NodeID),
        state: t.Status.State,
        desiredState: t.DesiredState,
        health: container?.health ?? swarmHealth,
        healthFrom: container ? 'container' : 'swarm',
        image: t.Spec.ContainerSpec?.Image ?? '',
        digest: container?.imageId,
        since: t.Status.Timestamp,
        error: taskError(t) ?? (t.Status.State === 'pending' && t.Status.Err ? t.Status.Err : undefined),
        ports: (t.Status.PortStatus?.Ports ?? []).map((p) => ({ published: p.PublishedPort, target: p.TargetPort, mode: p.PublishMode })),
      };
    };
    const tasks = [...live, ...recentFailures].map(toStatus);
    const image = service.Spec.TaskTemplate.ContainerSpec.Image;
    const running = live.filter((t) => t.DesiredState === 'running' && t.Status.State === 'running' && isCurrentTask(t, service)).length;
    const desired = desiredReplicas(service, state.nodes);
    const problems: string[] = [];
    if (running < desired) problems.push(`${running} of ${desired} tasks running`);
    const unhealthy = tasks.filter((t) => t.health === 'unhealthy' && t.desiredState === 'running');
    if (unhealthy.length) problems.push(`${unhealthy.length} unhealthy`);
    const update = service.UpdateStatus ? { state: service.UpdateStatus.State, message: service.UpdateStatus.Message } : undefined;
    if (update?.state === 'paused' || update?.state === 'rollback_paused') problems.push(`update ${update.state}: ${update.message ?? ''}`.trim());
    if (update?.state === 'rollback_completed') problems.push(`the last update was rolled back: ${update.message ?? ''}`.trim());
    for (const t of tasks) if (t.error && t.desiredState === 'running') problems.push(`task ${t.id.slice(0, 12)} on ${t.node}: ${t.error}`);
    return { name, swarmName, mode: service.Spec.Mode.Global ? 'global' : 'replicated', desired, running, image, update, tasks, problems, ok: problems.length === 0 };
  });
  return { project: project.name, target: 'swarm', services: reported, ok: reported.every((s) => s.ok) };
}

/** Reads the stack from the manager, and container health from every node berth reaches. */
export async function collectStackStatus(engine: Engine, project: ComposeProject, services: string[]): Promise<StackStatusReport> {
  const { nodeId } = await assertSwarmManager(engine);
  const state = await stackState(engine, project.name);
  const nodes = new NodeEngines(engine, nodeId);
  const containers: ContainerHealth = new Map();
  await Promise.all(state.tasks.filter((t) => t.Status.ContainerStatus?.ContainerID && t.Status.State === 'running').map(async (t) => {
    const node = state.nodes.find((n) => n.ID === t.NodeID);
    if (!node || !nodes.reachable(node)) return;
    try {
      const info = await (await nodes.engine(node)).inspectContainer(t.Status.ContainerStatus!.ContainerID!);
      containers.set(info.Id, { health: info.State.Health?.Status ?? 'none', imageId: info.Image });
    } catch { /* the node did not answer: Swarm's view stands */ }
  }));
  return buildStackStatus(project, services, state, containers);
}
