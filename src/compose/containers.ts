import type Docker from 'dockerode';
import type { Engine } from '../engine/client.js';

/** Compose's labels: the same for v1 and v2, which is how berth finds a service's containers. */
export const ComposeLabel = {
  project: 'com.docker.compose.project',
  service: 'com.docker.compose.service',
  number: 'com.docker.compose.container-number',
  oneoff: 'com.docker.compose.oneoff',
  configHash: 'com.docker.compose.config-hash',
  version: 'com.docker.compose.version',
  workingDir: 'com.docker.compose.project.working_dir',
  configFiles: 'com.docker.compose.project.config_files',
} as const;

export type Health = 'healthy' | 'unhealthy' | 'starting' | 'none';

export interface ServiceContainer {
  id: string;
  name: string;
  project: string;
  service: string;
  /** container-number label; 0 when absent. */
  number: number;
  oneoff: boolean;
  /** Engine state: running, exited, created, restarting, paused, dead. */
  state: string;
  /** Human status from the engine ("Up 3 minutes (healthy)"). */
  status: string;
  health: Health;
  image: string;
  imageId: string;
  created: Date;
  labels: Record<string, string>;
  ports: Array<{ hostIp: string; hostPort: number; containerPort: number; protocol: string }>;
}

/** Health as the engine's list reports it ("Up 2s (health: starting)"); exact matches only. */
export function healthFromStatus(status: string): Health {
  const m = /\((healthy|unhealthy|health: starting)\)/.exec(status);
  if (!m) return 'none';
  return m[1] === 'health: starting' ? 'starting' : (m[1] as Health);
}

export function toServiceContainer(info: Docker.ContainerInfo): ServiceContainer {
  const labels = info.Labels ?? {};
  return {
    id: info.Id,
    name: (info.Names?.[0] ?? info.Id).replace(/^\//, ''),
    project: labels[ComposeLabel.project] ?? '',
    service: labels[ComposeLabel.service] ?? '',
    number: Number(labels[ComposeLabel.number] ?? 0),
    oneoff: (labels[ComposeLabel.oneoff] ?? 'False').toLowerCase() === 'true',
    state: info.State,
    status: info.Status,
    health: healthFromStatus(info.Status),
    image: info.Image,
    imageId: info.ImageID,
    created: new Date(info.Created * 1000),
    labels,
    ports: (info.Ports ?? [])
      .filter((p) => p.PublicPort !== undefined)
      .map((p) => ({ hostIp: p.IP ?? '', hostPort: p.PublicPort, containerPort: p.PrivatePort, protocol: p.Type })),
  };
}

/**
 * The containers of a project (optionally of some services), found by Compose's labels,
 * whichever Compose version named them (v1 proj_svc_1, v2 proj-svc-1). One-off `run`
 * containers are left out unless asked for. Sorted by service, then container number.
 */
export async function listServiceContainers(
  engine: Engine,
  project: string,
  options: { services?: string[]; includeStopped?: boolean; includeOneoff?: boolean } = {},
): Promise<ServiceContainer[]> {
  const labels = [`${ComposeLabel.project}=${project}`];
  if (options.services?.length === 1) labels.push(`${ComposeLabel.service}=${options.services[0]}`);
  const infos = await engine.listContainers(labels, options.includeStopped ?? true);
  const wanted = options.services ? new Set(options.services) : undefined;
  return infos
    .map(toServiceContainer)
    .filter((c) => (options.includeOneoff ?? false) || !c.oneoff)
    .filter((c) => !wanted || wanted.has(c.service))
    .sort((a, b) => compareNames(a.service, b.service) || a.number - b.number || a.created.getTime() - b.created.getTime());
}

/**
 * `a.localeCompare(b)`, without its first call's ~5 ms of setting up ICU collation when the
 * answer is plain: where the names first differ, both have a lowercase letter or a digit, and
 * there (after an identical prefix) collation orders as code points do; so does it when one
 * name is the other plus more. Anything else (case, `.`, `_`, `-` at the difference) asks ICU.
 */
export function compareNames(a: string, b: string): number {
  if (a === b) return 0;
  let i = 0;
  while (i < a.length && i < b.length && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  const plain = (s: string) => i >= s.length || /[a-z0-9]/.test(s[i]!);
  if (/^[a-z0-9._-]*$/.test(a.slice(0, i)) && plain(a) && plain(b)) {
    if (i >= a.length) return -1;
    if (i >= b.length) return 1;
    return a.charCodeAt(i) < b.charCodeAt(i) ? -1 : 1;
  }
  return a.localeCompare(b);
}

/** The name Compose gives a replica: v1 `proj_svc_1`, v2 `proj-svc-1`. */
export function replicaName(project: string, service: string, number: number, style: 'v1' | 'v2'): string {
  const sep = style === 'v1' ? '_' : '-';
  return `${project}${sep}${service}${sep}${number}`;
}
