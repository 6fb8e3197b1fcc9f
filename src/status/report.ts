import type { ComposeProject } from '../compose/types.js';
import type { Health } from '../compose/containers.js';
import { BerthError } from '../lib/errors.js';

/** What the engine says about one container of a service (gathered by collect.ts). */
export interface ContainerFacts {
  id: string;
  name: string;
  service: string;
  number: number;
  state: string;
  health: Health;
  image: string;
  imageId: string;
  /** Repo digest (name@sha256:…) when the image came from a registry; else undefined. */
  repoDigest: string | undefined;
  startedAt: string | undefined;
  restartCount: number;
  exitCode: number | undefined;
  ports: Array<{ hostIp: string; hostPort: number; containerPort: number; protocol: string }>;
}

export interface ContainerStatus extends ContainerFacts {
  uptimeMs: number | undefined;
  problem: string | undefined;
}

export interface ServiceStatus {
  name: string;
  desired: number;
  running: number;
  containers: ContainerStatus[];
  problems: string[];
  ok: boolean;
}

export interface StatusReport {
  project: string;
  services: ServiceStatus[];
  /** Containers labelled with the project whose service is not in the model (removed or profile-disabled). */
  orphans: ContainerStatus[];
  ok: boolean;
}

/** Picks the services to report; an unknown name is bad input. */
export function selectServices(project: ComposeProject, names: string[]): string[] {
  const all = Object.keys(project.services);
  if (names.length === 0) return all;
  for (const name of names) {
    if (!project.services[name]) {
      const inactive = project.inactiveServices.includes(name) ? ` (it is in an inactive profile; pass --profile)` : '';
      throw new BerthError(`no such service: ${name}${inactive}`, { hint: `services: ${all.join(', ') || 'none'}` });
    }
  }
  return names;
}

/**
 * The status of a project (pure): desired vs running replicas per service, and per container
 * health, image, uptime, restarts and ports. Not ok when a service runs below its desired count
 * or any container is unhealthy.
 */
export function buildStatusReport(project: ComposeProject, services: string[], containers: ContainerFacts[], now: Date): StatusReport {
  const toStatus = (c: ContainerFacts): ContainerStatus => {
    const running = c.state === 'running';
    const uptimeMs = running && c.startedAt ? Math.max(0, now.getTime() - Date.parse(c.startedAt)) : undefined;
    let problem: string | undefined;
    if (c.health === 'unhealthy') problem = 'unhealthy';
    else if (c.state === 'restarting') problem = 'restarting';
    else if (!running) problem = c.exitCode !== undefined && c.state === 'exited' ? `exited (${c.exitCode})` : c.state;
    return { ...c, uptimeMs, problem };
  };
  const reported = services.map((name): ServiceStatus => {
    const desired = project.services[name]!.replicas;
    const own = containers.filter((c) => c.service === name).map(toStatus);
    const running = own.filter((c) => c.state === 'running').length;
    const problems: string[] = [];
    if (running < desired) problems.push(`${running} of ${desired} replicas running`);
    const unhealthy = own.filter((c) => c.health === 'unhealthy');
    if (unhealthy.length) problems.push(`${unhealthy.length} unhealthy`);
    return { name, desired, running, containers: own, problems, ok: problems.length === 0 };
  });
  const known = new Set(Object.keys(project.services));
  const orphans = containers.filter((c) => !known.has(c.service)).map(toStatus);
  return { project: project.name, services: reported, orphans, ok: reported.every((s) => s.ok) };
}
