/**
 * Plan first: (targets, engine facts, options) -> steps, each with its reason. Pure; the
 * executor (run.ts) carries the plan out and `--dry-run` prints it.
 */
import type { Engine } from '../engine/client.js';
import { listServiceContainers } from '../compose/containers.js';
import type { ComposeProject } from '../compose/types.js';
import { volumeSelectorName } from './targets.js';
import type { BackupTarget } from './types.js';

/** A container label that opts a container into being stopped for a volume snapshot. */
export const STOP_LABEL = 'berth.backup.stop';

export interface VolumeUser {
  id: string;
  name: string;
  running: boolean;
  mountPath: string;
  /** Labelled berth.backup.stop=true. */
  stopLabel: boolean;
  /** Its compose project and service (labels), for the silence a stop announces to the agent. */
  project?: string;
  service?: string;
}

export interface VolumeFacts {
  name: string;
  selectedBy: string;
  users: VolumeUser[];
}

export interface TargetFacts {
  /** Database targets: the running container of the service. */
  container?: { id: string; name: string; image: string };
  volumes: VolumeFacts[];
  /** Why the target cannot be backed up right now. */
  problem?: string;
}

export interface BackupStep {
  action: 'dump' | 'dump-globals' | 'stop' | 'archive-volume' | 'start' | 'verify' | 'encrypt' | 'commit' | 'manifest';
  detail: string;
  reason: string;
}

export interface TargetPlan {
  target: BackupTarget;
  facts: TargetFacts;
  steps: BackupStep[];
  problem?: string;
}

/** Where a target lives: the engine that runs its service (a Swarm node's, for a stack), and the facts there. */
export interface TargetPlace {
  engine: Engine;
  facts: TargetFacts;
  /** On a stack: the node that runs the service's task. */
  node?: string;
}

/**
 * On one server the target is on the engine berth uses. On a Swarm stack (`swarm`), berth finds the
 * node that runs the service's task and works through that node's engine (the manager itself, or
 * the docker context named like the node): a database dump runs where the database runs, and a
 * restore goes to the same place.
 */
export async function locateTarget(engine: Engine, project: ComposeProject, target: BackupTarget, swarm = false): Promise<TargetPlace> {
  if (!swarm) return { engine, facts: await collectFacts(engine, project, target) };
  const [{ assertSwarmManager, stackState }, { NodeEngines }] = await Promise.all([import('../engine/swarm.js'), import('../engine/nodes.js')]);
  const { nodeId } = await assertSwarmManager(engine);
  const state = await stackState(engine, project.name);
  const service = state.services.find((s) => s.Spec.Name === `${project.name}_${target.service}`);
  if (!service) return { engine, facts: { volumes: [], problem: `service ${target.service} is not deployed in stack ${project.name}` } };
  const tasks = state.tasks.filter((t) => t.ServiceID === service.ID && t.DesiredState === 'running' && t.Status.State === 'running' && t.Status.ContainerStatus?.ContainerID);
  if (tasks.length === 0) return { engine, facts: { volumes: [], problem: `no running task of ${project.name}_${target.service}: start it first` } };
  if (tasks.length > 1 && target.kind !== 'volume') return { engine, facts: { volumes: [], problem: `${project.name}_${target.service} runs ${tasks.length} tasks: a database on Swarm runs one (replicas: 1, pinned to a node with a placement constraint)` } };
  const task = tasks[0]!;
  const node = state.nodes.find((n) => n.ID === task.NodeID);
  const hostname = node?.Description?.Hostname ?? task.NodeID ?? '?';
  if (!node) return { engine, facts: { volumes: [], problem: `the node of task ${task.ID.slice(0, 12)} is unknown` } };
  const nodeEngine = await new NodeEngines(engine, nodeId).engine(node);
  if (target.kind === 'volume') {
    if (target.stopContainers) return { engine: nodeEngine, node: hostname, facts: { volumes: [], problem: 'stop_containers on Swarm: a stopped task is replaced by Swarm at once; scale the service to 0 around the snapshot instead, or back the volume up without stopping' } };
    return { engine: nodeEngine, node: hostname, facts: await collectFacts(nodeEngine, project, target) };
  }
  const info = await nodeEngine.inspectContainer(task.Status.ContainerStatus!.ContainerID!);
  return { engine: nodeEngine, node: hostname, facts: { volumes: [], container: { id: info.Id, name: info.Name.replace(/^\//, ''), image: info.Config.Image } } };
}

export async function collectFacts(engine: Engine, project: ComposeProject, target: BackupTarget): Promise<TargetFacts> {
  if (target.kind !== 'volume') {
    const containers = (await listServiceContainers(engine, project.name, { services: [target.service] })).filter((c) => c.state === 'running');
    const first = containers[0];
    if (!first) return { volumes: [], problem: `no running container for service ${target.service} (project ${project.name}): start it first` };
    return { volumes: [], container: { id: first.id, name: first.name, image: first.image } };
  }
  const volumes: VolumeFacts[] = [];
  const problems: string[] = [];
  for (const selector of target.volumes) {
    const { label, name } = volumeSelectorName(project, selector);
    let names: string[] = [];
    if (label) {
      const found = await engine.call(`list volumes labelled ${label}`, () => engine.docker.listVolumes({ filters: { label: [label] } }));
      names = (found.Volumes ?? []).map((v) => v.Name).sort();
      if (names.length === 0) problems.push(`no volume labelled ${label}`);
    } else if (name) {
      const exists = await engine.docker.getVolume(name).inspect().then(() => true, () => false);
      if (exists) names = [name];
      else problems.push(`volume ${name} does not exist`);
    }
    for (const volumeName of names) {
      if (volumes.some((v) => v.name === volumeName)) continue;
      const infos = await engine.call(`list containers using volume ${volumeName}`, () => engine.docker.listContainers({ all: true, filters: { volume: [volumeName] } }));
      const users = infos
        .filter((c) => c.Labels?.['berth.role'] !== 'backup-helper')
        .map((c) => ({
          id: c.Id,
          name: (c.Names?.[0] ?? c.Id).replace(/^\//, ''),
          running: c.State === 'running',
          mountPath: c.Mounts?.find((m) => m.Name === volumeName)?.Destination ?? '',
          stopLabel: c.Labels?.[STOP_LABEL] === 'true',
          project: c.Labels?.['com.docker.compose.project'],
          service: c.Labels?.['com.docker.compose.service'],
        }));
      volumes.push({ name: volumeName, selectedBy: selector, users });
    }
  }
  if (target.volumes.length === 0) problems.push('no volumes configured (x-berth.backup.volumes)');
  return { volumes, problem: problems.length ? problems.join('; ') : undefined };
}

/** Containers to stop for a volume target's snapshot: running users, when configured or labelled. */
export function containersToStop(target: BackupTarget, facts: TargetFacts): VolumeUser[] {
  const seen = new Map<string, VolumeUser>();
  for (const volume of facts.volumes) {
    for (const user of volume.users) {
      if (user.running && (target.stopContainers || user.stopLabel)) seen.set(user.id, user);
    }
  }
  return [...seen.values()];
}

export function planTarget(target: BackupTarget, facts: TargetFacts, destination: string, options: { ageRecipients?: number } = {}): TargetPlan {
  if (facts.problem) return { target, facts, steps: [], problem: facts.problem };
  const steps: BackupStep[] = [];
  if (target.kind === 'postgres') {
    steps.push({ action: 'dump', detail: `pg_dump -Fc ${target.database} in ${facts.container!.name}`, reason: 'consistent snapshot of one database in custom format (restorable selectively)' });
    steps.push({ action: 'dump-globals', detail: `pg_dumpall --globals-only in ${facts.container!.name}`, reason: 'roles and tablespaces are not part of a database dump' });
    steps.push({ action: 'verify', detail: 'pg_restore --list of the dump; structure of the globals', reason: 'a dump that cannot be listed cannot be restored' });
  } else if (target.kind === 'mysql') {
    steps.push({ action: 'dump', detail: `mariadb-dump|mysqldump --single-transaction ${target.database ?? '--all-databases'} in ${facts.container!.name}`, reason: 'consistent InnoDB snapshot without locking tables' });
    steps.push({ action: 'verify', detail: 'the dump ends with "-- Dump completed"', reason: 'a truncated dump lacks the completion line' });
  } else {
    const stop = containersToStop(target, facts);
    const users = facts.volumes.flatMap((v) => v.users.filter((u) => u.running).map((u) => u.name));
    if (stop.length) {
      steps.push({ action: 'stop', detail: stop.map((c) => c.name).join(', '), reason: 'consistent files: writers are stopped for the snapshot window only (journaled, restarted even after a crash)' });
    }
    for (const volume of facts.volumes) {
      steps.push({ action: 'archive-volume', detail: `${volume.name} (${volume.selectedBy}) via the engine archive API of a read-only helper`, reason: stop.length || users.length === 0 ? 'snapshot of the volume' : `snapshot while ${users.join(', ')} keep running (not stopped: set stop_containers or label ${STOP_LABEL}=true)` });
    }
    if (stop.length) steps.push({ action: 'start', detail: stop.map((c) => c.name).join(', '), reason: 'the snapshot window is over' });
    steps.push({ action: 'verify', detail: 'gunzip and list every tar archive', reason: 'a truncated archive has no end marker' });
  }
  if (options.ageRecipients) steps.push({ action: 'encrypt', detail: `age to ${options.ageRecipients} recipient(s)`, reason: 'x-berth.backup.encryption: only ciphertext reaches the destination under a final name' });
  steps.push({ action: 'commit', detail: `sha256, fsync and rename into destination ${destination}`, reason: 'only complete, verified files get their final names' });
  steps.push({ action: 'manifest', detail: 'manifest.json written last', reason: 'its presence marks the backup complete' });
  return { target, facts, steps };
}
