/**
 * The monitoring part of `berth agent`: a WatchState kept by the watcher, the probes, and the
 * /metrics exposition over them. The state is the reusable part: built-in alerting and a status
 * page read `monitor.state` (and `monitor.watcher.health`) without going through Prometheus.
 */
import { isOneOff } from '../check/rules/util.js';
import type { ComposeProject } from '../compose/types.js';
import type { Engine } from '../engine/client.js';
import type { StateStore } from '../state/store.js';
import { createExposition, type Exposition } from './metrics.js';
import { probeTargets, startProbes, type ProbeResult } from './probes.js';
import { WatchState } from './state.js';
import { startWatcher, type Watcher } from './watcher.js';

export interface MonitorOptions {
  engine: Engine;
  store?: StateStore;
  project: ComposeProject;
  /** Resource stats interval (ms); 0: none. Default 15 s. */
  statsIntervalMs?: number;
  resyncIntervalMs?: number;
  /** cAdvisor-named per-container series; false where cAdvisor runs. Default true. */
  containerResources?: boolean;
  /** Host series (node_* names); false where node_exporter runs. Default true. */
  hostMetrics?: boolean;
  /** The engine's data root, for the disk series. Default /var/lib/docker. */
  dockerRoot?: string;
  /** Probe the x-berth monitor URLs. Default true. */
  probes?: boolean;
  log?: (line: Record<string, unknown>) => void;
}

export interface Monitor {
  state: WatchState;
  watcher: Watcher;
  exposition: Exposition;
  /** The latest result of each probe (alerting and the status page read them). */
  probeResults(): ProbeResult[];
  stop(): Promise<void>;
}

/** Pure: the paths whose filesystems are reported: the Docker root and each local backup destination. */
export function hostPaths(project: ComposeProject, dockerRoot = '/var/lib/docker'): string[] {
  const paths = [dockerRoot];
  for (const d of Object.values(project.berth.backup.destinations)) if (d.type === 'local') paths.push(d.path);
  return [...new Set(paths)];
}

/**
 * Pure: desired replicas of the project's active long-running services. Jobs are left out (they
 * exit by design): one-off services as berth check sees them (berth's migrate service, a profile
 * without restarts) and services that say `restart: "no"`.
 */
export function desiredReplicas(project: ComposeProject): Record<string, number> {
  return Object.fromEntries(Object.values(project.services).filter((s) => !isOneOff(s, project) && s.restart !== 'no').map((s) => [s.name, s.replicas]));
}

export function startMonitor(options: MonitorOptions): Monitor {
  const { project } = options;
  const state = new WatchState();
  state.setDesired(project.name, desiredReplicas(project));
  let exposition: Exposition | undefined;
  const watcher = startWatcher({
    engine: options.engine,
    state,
    statsIntervalMs: options.statsIntervalMs,
    resyncIntervalMs: options.resyncIntervalMs,
    log: options.log,
    onApiCall: (call, seconds, ok) => exposition?.observeApiCall(call, seconds, ok),
  });
  const targets = options.probes === false ? [] : probeTargets(project);
  const probes = targets.length > 0 ? startProbes(targets) : undefined;
  exposition = createExposition({
    state,
    watcher,
    containerResources: options.containerResources,
    hostPaths: options.hostMetrics === false ? false : hostPaths(project, options.dockerRoot),
    probes: probes ? () => probes.results() : undefined,
    store: options.store,
    project,
  });
  return {
    state,
    watcher,
    exposition,
    probeResults: () => probes?.results() ?? [],
    stop: async () => {
      probes?.stop();
      await watcher.stop();
      exposition?.close();
    },
  };
}
