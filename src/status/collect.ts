import { listServiceContainers } from '../compose/containers.js';
import type { Engine } from '../engine/client.js';
import type { ContainerFacts } from './report.js';

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
