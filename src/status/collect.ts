import { ComposeLabel, listServiceContainers } from '../compose/containers.js';
import type { ComposeProject } from '../compose/types.js';
import type { Engine } from '../engine/client.js';
import type { ContainerFacts, DeclaredImage } from './report.js';

/**
 * Reads the engine's facts about a project's containers: one list call, then one inspect per
 * container and one per distinct image, all at once.
 */
export async function collectContainerFacts(engine: Engine, project: string, services?: string[]): Promise<ContainerFacts[]> {
  const containers = await listServiceContainers(engine, project, { services, includeStopped: true });
  const imageIds = [...new Set(containers.map((c) => c.imageId))];
  const [inspected, imageEntries] = await Promise.all([
    Promise.all(containers.map((c) => engine.inspectContainer(c.id).catch(() => undefined))),
    Promise.all(imageIds.map(async (id) => [id, await engine.inspectImage(id)] as const)),
  ]);
  const images = new Map(imageEntries);
  return containers.map((c, i): ContainerFacts => {
    const info = inspected[i];
    const running = info ? info.State.Running : c.state === 'running';
    // A stopped container keeps its last health status in the engine; it no longer means anything.
    const health = running ? info?.State.Health?.Status : 'none';
    return {
      id: c.id,
      name: c.name,
      service: c.service,
      number: c.number,
      state: info?.State.Status ?? c.state,
      // Exact statuses only: "unhealthy" must never read as "healthy".
      health: health === 'healthy' || health === 'unhealthy' || health === 'starting' ? health : running ? c.health : 'none',
      image: info?.Config.Image ?? c.image,
      imageId: c.imageId,
      repoDigest: images.get(c.imageId)?.RepoDigests?.[0],
      startedAt: info?.State.Running ? info.State.StartedAt : undefined,
      restartCount: info?.RestartCount ?? 0,
      exitCode: info && !info.State.Running ? info.State.ExitCode : undefined,
      ports: c.ports,
    };
  });
}

/** The image each service declares (services with `image:`), with its ID on this engine. */
export async function collectDeclaredImages(engine: Engine, project: ComposeProject, services: string[]): Promise<Map<string, DeclaredImage>> {
  const entries = await Promise.all(services.map(async (name) => {
    const ref = project.services[name]?.image;
    if (!ref) return undefined;
    const image = await engine.inspectImage(ref).catch(() => undefined);
    return [name, { ref, imageId: image?.Id }] as const;
  }));
  return new Map(entries.filter((e): e is NonNullable<typeof e> => e !== undefined));
}

/** The Compose projects that have containers on this engine, with their directories. */
export async function collectComposeProjects(engine: Engine): Promise<Array<{ name: string; workingDir: string | undefined }>> {
  const infos = await engine.listContainers([ComposeLabel.project], true);
  const projects = new Map<string, string | undefined>();
  for (const info of infos) {
    const name = info.Labels?.[ComposeLabel.project];
    if (name && !projects.has(name)) projects.set(name, info.Labels?.[ComposeLabel.workingDir]);
  }
  return [...projects].map(([name, workingDir]) => ({ name, workingDir })).sort((a, b) => a.name.localeCompare(b.name));
}
