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
  /** Runs another image than the compose file declares for its service (after a rollback, say). */
  drift?: string;
}

/** The image a service's compose file declares, and its ID on this engine (undefined: not there). */
export interface DeclaredImage {
  ref: string;
  imageId: string | undefined;
}

/** Facts beyond the containers: what the compose file declares, and other projects on the engine. */
export interface StatusContext {
  declared?: Map<string, DeclaredImage>;
  /** When the project has no container at all: the Compose projects this engine does run. */
  otherProjects?: Array<{ name: string; workingDir: string | undefined }>;
  /** The project's directory, to recognise it running under another name. */
  workingDir?: string;
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
  /** No container of the project at all: which project was looked for, and what runs instead. */
  notFound?: { project: string; runningAs?: string; otherProjects: string[] };
  ok: boolean;
}

/**
 * The status of a project (pure): desired vs running replicas per service, and per container
 * health, image, uptime, restarts and ports. Not ok when a service runs below its desired count
 * or any container is unhealthy.
 */
export function buildStatusReport(project: ComposeProject, services: string[], containers: ContainerFacts[], now: Date, facts: StatusContext = {}): StatusReport {
  const toStatus = (c: ContainerFacts): ContainerStatus => {
    const running = c.state === 'running';
    const uptimeMs = running && c.startedAt ? Math.max(0, now.getTime() - Date.parse(c.startedAt)) : undefined;
    let problem: string | undefined;
    if (c.health === 'unhealthy') problem = 'unhealthy';
    else if (c.state === 'restarting') problem = 'restarting';
    else if (!running) problem = c.exitCode !== undefined && c.state === 'exited' ? `exited (${c.exitCode})` : c.state;
    const declared = facts.declared?.get(c.service);
    const drift = running && declared && declared.imageId !== c.imageId
      ? `runs ${c.image} (${shortId(c.imageId)}), the compose file declares ${declared.ref} (${declared.imageId ? shortId(declared.imageId) : 'not on this engine'})`
      : undefined;
    return { ...c, uptimeMs, problem, ...(drift ? { drift } : {}) };
  };
  const reported = services.map((name): ServiceStatus => {
    const desired = project.services[name]!.replicas;
    const own = containers.filter((c) => c.service === name).map(toStatus);
    const running = own.filter((c) => c.state === 'running').length;
    const problems: string[] = [];
    if (running < desired) problems.push(`${running} of ${desired} replicas running`);
    // More than desired is not fine either: leftovers of an interrupted rollout, or a scale by hand.
    if (running > desired) problems.push(`${running} replicas running, ${desired} desired (${running - desired} extra)`);
    const drifted = own.filter((c) => c.drift);
    if (drifted.length) problems.push(`${drifted.length === own.filter((c) => c.state === 'running').length ? 'every replica' : `${drifted.length} replica(s)`} ${drifted[0]!.drift}`);
    const unhealthy = own.filter((c) => c.health === 'unhealthy');
    if (unhealthy.length) problems.push(`${unhealthy.length} unhealthy`);
    return { name, desired, running, containers: own, problems, ok: problems.length === 0 };
  });
  const known = new Set(Object.keys(project.services));
  const orphans = containers.filter((c) => !known.has(c.service)).map(toStatus);
  let notFound: StatusReport['notFound'];
  if (containers.length === 0 && facts.otherProjects) {
    const others = facts.otherProjects.filter((p) => p.name !== project.name);
    const runningAs = facts.workingDir ? others.find((p) => p.workingDir === facts.workingDir)?.name : undefined;
    notFound = { project: project.name, ...(runningAs ? { runningAs } : {}), otherProjects: others.map((p) => p.name) };
  }
  return { project: project.name, services: reported, orphans, ...(notFound ? { notFound } : {}), ok: reported.every((s) => s.ok) };
}

function shortId(id: string): string {
  return id.replace('sha256:', '').slice(0, 12);
}
