/**
 * A new replica as a copy of an existing one (pure): the container's own config, HostConfig and
 * Compose labels, with the new image, the next container-number, and berth's rollout label. What
 * the old container inherited from its old image (env, cmd, labels, healthcheck...) is left out so
 * the new image's own values apply, unless the compose model set it.
 */
import type Docker from 'dockerode';
import { ComposeLabel } from '../compose/containers.js';
import { ROLLOUT_LABEL } from './plan.js';

type ImageConfig = { Env?: string[]; Cmd?: string[] | null; Entrypoint?: string[] | string | null; Labels?: Record<string, string> | null; WorkingDir?: string; User?: string; Healthcheck?: unknown; ExposedPorts?: Record<string, unknown> | null; Volumes?: Record<string, unknown> | null; StopSignal?: string } | undefined;

export interface CloneInput {
  source: Docker.ContainerInspectInfo;
  /** Config of the image the source runs (to tell inherited values from set ones). */
  sourceImage: ImageConfig;
  image: string;
  /** ID of `image`: Compose v2 records it in com.docker.compose.image to tell when to recreate. */
  imageId?: string;
  name: string;
  number: number;
  /** Compose's config hash of the service as the model is now; default: the source's. */
  configHash?: string;
  rolloutId: string;
  /** Keys the compose model sets in `environment` (they stay even when equal to the image's). */
  modelEnvKeys: string[];
  /** Whether the model sets command / entrypoint / healthcheck / working_dir / user / stop_signal. */
  modelSets: { command: boolean; entrypoint: boolean; healthcheck: boolean; workingDir: boolean; user: boolean; stopSignal: boolean };
  /** Networks of the source the replica is not created on (its traffic networks, joined later). */
  skipNetworks?: string[];
}

const same = (a: unknown, b: unknown) => JSON.stringify(a ?? null) === JSON.stringify(b ?? null);

export function cloneCreateOptions(input: CloneInput): Docker.ContainerCreateOptions {
  const { source, sourceImage } = input;
  const config = source.Config as Docker.ContainerInspectInfo['Config'] & { Healthcheck?: unknown; StopSignal?: string; StopTimeout?: number };
  const imageEnv = new Set(sourceImage?.Env ?? []);
  const modelKeys = new Set(input.modelEnvKeys);
  const env = (config.Env ?? []).filter((entry) => !imageEnv.has(entry) || modelKeys.has(entry.split('=')[0]!));
  const imageLabels = sourceImage?.Labels ?? {};
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(config.Labels ?? {})) {
    if (k in imageLabels && imageLabels[k] === v && !k.startsWith('com.docker.compose.')) continue;
    labels[k] = v;
  }
  labels[ComposeLabel.number] = String(input.number);
  // With the hash Compose would write, a later `compose up` sees the replica as current instead of recreating it.
  if (input.configHash) labels[ComposeLabel.configHash] = input.configHash;
  if ('com.docker.compose.image' in labels && input.imageId) labels['com.docker.compose.image'] = input.imageId;
  labels[ROLLOUT_LABEL] = input.rolloutId;
  const inherited = <T>(value: T, imageValue: unknown, setByModel: boolean): T | undefined => (setByModel || !same(value, imageValue) ? value : undefined);
  const hostConfig = structuredClone(source.HostConfig) as Docker.HostConfig & Record<string, unknown>;
  const skip = new Set(input.skipNetworks ?? []);
  const networks = Object.keys(source.NetworkSettings?.Networks ?? {}).filter((n) => !skip.has(n));
  const first = hostConfig.NetworkMode && networks.includes(hostConfig.NetworkMode) ? hostConfig.NetworkMode : networks[0];
  // The source's network mode names a network it is not created on: start on the first other one.
  if (first && hostConfig.NetworkMode && skip.has(hostConfig.NetworkMode)) hostConfig.NetworkMode = first;
  const options: Docker.ContainerCreateOptions = {
    name: input.name,
    Image: input.image,
    Hostname: undefined,
    User: inherited(config.User, sourceImage?.User, input.modelSets.user) || undefined,
    Env: env,
    Cmd: inherited(config.Cmd ?? undefined, sourceImage?.Cmd, input.modelSets.command) ?? undefined,
    Entrypoint: inherited(config.Entrypoint ?? undefined, sourceImage?.Entrypoint, input.modelSets.entrypoint) ?? undefined,
    WorkingDir: inherited(config.WorkingDir, sourceImage?.WorkingDir, input.modelSets.workingDir) || undefined,
    Labels: labels,
    Tty: config.Tty,
    OpenStdin: config.OpenStdin,
    StdinOnce: config.StdinOnce,
    AttachStdin: false,
    AttachStdout: false,
    AttachStderr: false,
    Domainname: config.Domainname || undefined,
    ExposedPorts: config.ExposedPorts ?? undefined,
    Volumes: (config.Volumes as Record<string, object> | null) ?? undefined,
    StopSignal: inherited(config.StopSignal, sourceImage?.StopSignal, input.modelSets.stopSignal),
    StopTimeout: config.StopTimeout,
    Healthcheck: inherited(config.Healthcheck, sourceImage?.Healthcheck, input.modelSets.healthcheck) as Docker.ContainerCreateOptions['Healthcheck'],
    HostConfig: hostConfig,
  };
  if (first) {
    const endpoint = source.NetworkSettings.Networks[first] as { IPAMConfig?: unknown; Links?: string[] | null } | undefined;
    options.NetworkingConfig = {
      // No aliases here: the executor decides (none until the join, or the service's in control mode).
      EndpointsConfig: { [first]: { Aliases: [], Links: endpoint?.Links ?? undefined } as Docker.EndpointSettings },
    };
  }
  for (const key of Object.keys(options) as Array<keyof typeof options>) if (options[key] === undefined) delete options[key];
  return options;
}

/** The aliases a replica gets on `net` once it joins: the source's there, or the service name when the source was not on it. */
export function joinAliases(source: Docker.ContainerInspectInfo | undefined, net: string, newName: string, service: string): string[] {
  const endpoint = source?.NetworkSettings.Networks[net];
  if (!source || !endpoint) return [service];
  return serviceAliases(endpoint.Aliases ?? [service], { id: source.Id, name: source.Name.replace(/^\//, '') }, newName);
}

/** The aliases a replica gets on a network once it joins: the source's, minus what named the source itself. */
export function serviceAliases(sourceAliases: string[] | null | undefined, source: { id: string; name: string }, newName: string): string[] {
  const own = new Set([source.id.slice(0, 12), source.name]);
  const out = (sourceAliases ?? []).filter((a) => !own.has(a));
  // Compose v2 puts the container name among the aliases; keep that for the new one.
  if ((sourceAliases ?? []).includes(source.name)) out.push(newName);
  return [...new Set(out)];
}

/** The aliases an old replica keeps while draining: only the ones that name itself. */
export function ownAliases(aliases: string[] | null | undefined, self: { id: string; name: string }): string[] {
  return (aliases ?? []).filter((a) => a === self.name || a === self.id.slice(0, 12));
}

/** Points bind mounts (Binds and Mounts) of these host paths at other files: old path -> new path. */
export function rebindMounts(hostConfig: Docker.HostConfig, rebind: Record<string, string>): void {
  hostConfig.Binds = hostConfig.Binds?.map((bind) => {
    const [source, ...rest] = bind.split(':');
    const to = rebind[source!];
    return to ? [to, ...rest].join(':') : bind;
  });
  for (const mount of (hostConfig as { Mounts?: Array<{ Type?: string; Source?: string }> }).Mounts ?? []) {
    if (mount.Type === 'bind' && mount.Source && rebind[mount.Source]) mount.Source = rebind[mount.Source];
  }
}
