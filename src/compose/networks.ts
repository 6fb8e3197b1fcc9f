/** Engine names of a project's networks, from the compose model alone. */
import type { ComposeProject, ServiceModel } from './types.js';

/** The engine names of a project's networks, as Compose names them (`name:` wins, external keeps its key). */
export function projectNetworkNames(project: ComposeProject): Record<string, string> {
  const networks = (project.model.networks ?? {}) as Record<string, { name?: unknown; external?: unknown } | null>;
  const names: Record<string, string> = {};
  for (const [key, value] of Object.entries(networks)) {
    if (typeof value?.name === 'string') names[key] = value.name;
    else if (value?.external) names[key] = key;
    else names[key] = `${project.name}_${key}`;
  }
  return names;
}

/** The engine name of one of the project's networks (the implicit `default` included). */
export function engineNetworkName(project: ComposeProject, key: string): string {
  return projectNetworkNames(project)[key] ?? `${project.name}_${key}`;
}

/** Engine names of a service's x-berth rollout.traffic_networks; undefined when it names none. */
export function trafficNetworkNames(project: ComposeProject, service: ServiceModel): string[] | undefined {
  return service.berth.rollout.trafficNetworks?.map((key) => engineNetworkName(project, key));
}
