/** The engine state the planner needs, read once before planning. */
import { listServiceContainers, replicaName } from '../compose/containers.js';
import { trafficNetworkNames } from '../compose/networks.js';
import { unknownServiceError } from '../compose/select.js';
import type { ComposeProject, ServiceModel } from '../compose/types.js';
import type { Engine } from '../engine/client.js';
import { BerthError, ExitCode } from '../lib/errors.js';
import { ROLLOUT_LABEL, type HealthcheckFacts, type ReplicaState, type ServiceState } from './plan.js';

/** The image Compose runs for a service: `image:`, else the name it gives a built image. */
export function serviceImageRef(project: ComposeProject, service: ServiceModel, naming: 'v1' | 'v2'): string {
  if (service.image) return service.image;
  return naming === 'v1' ? `${project.name}_${service.name}` : `${project.name}-${service.name}`;
}

/**
 * In the service's DNS: its alias on every network, or, when the service names traffic networks,
 * on every one of those (a replica that never joined them served nothing through them).
 */
export function inServiceDns(networks: Record<string, { Aliases?: string[] | null }> | undefined, service: string, trafficNetworks?: string[]): boolean {
  if (trafficNetworks) return trafficNetworks.every((net) => (networks?.[net]?.Aliases ?? []).includes(service));
  const entries = Object.values(networks ?? {});
  return entries.every((n) => (n.Aliases ?? []).includes(service));
}

const NS = 1e6;

export async function collectServiceState(
  engine: Engine,
  project: ComposeProject,
  service: string,
  options: { composeKind: () => Promise<'v1' | 'v2'>; targetRef?: string; unfinishedDesired?: number },
): Promise<ServiceState> {
  const model = project.services[service];
  if (!model) throw unknownServiceError(project, service);
  const containers = await listServiceContainers(engine, project.name, { services: [service], includeStopped: true });
  const traffic = trafficNetworkNames(project, model);
  const replicas: ReplicaState[] = [];
  for (const c of containers) {
    const info = await engine.inspectContainer(c.id).catch(() => undefined);
    if (!info) continue;
    const networkMode = info.HostConfig?.NetworkMode ?? '';
    const shared = networkMode === 'host' || networkMode === 'none' || networkMode.startsWith('container:') || networkMode.startsWith('service:');
    replicas.push({
      id: c.id,
      name: c.name,
      number: c.number,
      state: info.State.Status,
      imageId: info.Image,
      image: info.Config?.Image,
      rolloutId: c.labels[ROLLOUT_LABEL],
      inDns: shared || inServiceDns(info.NetworkSettings?.Networks as Record<string, { Aliases?: string[] }>, service, traffic),
    });
  }
  // Compose is asked (a second or more for v1's Python) only when no replica shows the naming.
  const naming = namingOf(project.name, service, replicas) ?? (await options.composeKind());
  const ref = options.targetRef ?? serviceImageRef(project, model, naming);
  const image = await engine.inspectImage(ref);
  let healthcheck: HealthcheckFacts | undefined;
  if (model.healthcheck && !model.healthcheck.disabled && model.healthcheck.test !== undefined) {
    const h = model.healthcheck;
    healthcheck = { intervalMs: h.intervalMs, timeoutMs: h.timeoutMs, retries: h.retries, startPeriodMs: h.startPeriodMs };
  } else if (!model.healthcheck?.disabled) {
    const h = (image?.Config as { Healthcheck?: { Test?: string[]; Interval?: number; Timeout?: number; Retries?: number; StartPeriod?: number } } | undefined)?.Healthcheck;
    if (h?.Test && h.Test[0] !== 'NONE') {
      healthcheck = { intervalMs: (h.Interval ?? 30_000 * NS) / NS, timeoutMs: (h.Timeout ?? 30_000 * NS) / NS, retries: h.Retries ?? 3, startPeriodMs: (h.StartPeriod ?? 0) / NS };
    }
  }
  return { service, replicas, target: { ref, imageId: image?.Id }, healthcheck, naming, unfinishedDesired: options.unfinishedDesired };
}

/** v1 (proj_svc_1) or v2 (proj-svc-1), from the names of the existing replicas. */
export function namingOf(project: string, service: string, replicas: Array<{ name: string; number: number }>): 'v1' | 'v2' | undefined {
  for (const r of replicas) {
    if (r.name === replicaName(project, service, r.number, 'v1')) return 'v1';
    if (r.name === replicaName(project, service, r.number, 'v2')) return 'v2';
  }
  return undefined;
}
