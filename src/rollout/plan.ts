/**
 * The rollout planner: a pure function (compose model + engine state + options) -> steps, each
 * with a reason. No engine access here; the executor (execute.ts) runs what this decides.
 */
import type { ComposeProject, DrainConfig, LogScanConfig, ServiceModel, ServiceRolloutConfig } from '../compose/types.js';
import { replicaName } from '../compose/containers.js';
import { unknownServiceError } from '../compose/select.js';
import { trafficNetworkNames } from '../compose/networks.js';
import { formatDuration } from '../lib/duration.js';
import { BerthError, ExitCode } from '../lib/errors.js';

/** Label on every replica berth creates: the rollout that created it. */
export const ROLLOUT_LABEL = 'berth.rollout';

/** Images whose services hold state; rolling them needs --stateful. */
const STATEFUL_IMAGES = /(^|\/)(postgres|postgis|mysql|mariadb|redis|mongo|mongodb|valkey|keydb)(:|@|$)/i;

/** Margin on top of the healthcheck's own budget, for the engine's scheduling of checks. */
export const HEALTH_MARGIN_MS = 10_000;

/** Default drain: long enough for a proxy that re-resolves DNS every second (Caddy `dynamic a` refresh 1s). */
export const DEFAULT_DRAIN: DrainConfig = { strategy: 'wait', durationMs: 2000 };

export interface ReplicaState {
  id: string;
  name: string;
  number: number;
  /** Engine state: running, exited, created, restarting, dead, paused. */
  state: string;
  imageId: string;
  /** The image reference it was created from (Config.Image), when known. */
  image?: string;
  /** The berth.rollout label, when berth created this replica. */
  rolloutId?: string;
  /** Answers to the service's name in DNS on every network it is attached to. */
  inDns: boolean;
}

export interface HealthcheckFacts {
  intervalMs: number;
  timeoutMs: number;
  retries: number;
  startPeriodMs: number;
}

export interface ServiceState {
  service: string;
  replicas: ReplicaState[];
  /** The image the service should run (from the model), and its ID on this engine. */
  target: { ref: string; imageId: string | undefined };
  /** The config hash Compose computes for the service now (`compose config --hash`), when known. */
  configHash?: string;
  /** The effective healthcheck (the model's, else the image's); undefined: none. */
  healthcheck: HealthcheckFacts | undefined;
  /** Replica naming of the existing containers (or of the installed Compose when there are none). */
  naming: 'v1' | 'v2';
  /** Desired count recorded by an unfinished earlier rollout of this service. */
  unfinishedDesired?: number;
}

/** The rollout settings of x-berth (ServiceRolloutConfig: timeout, drain, batch, monitor, stateful, stop-first) plus the run's own. */
export interface RolloutOptions extends ServiceRolloutConfig {
  rolloutId: string;
  /** Replace replicas even when they already run the target image. */
  force?: boolean;
  /** A service without healthcheck: wait this long and require the replica still running. */
  assumeReadyAfterMs?: number;
  /** Test/control only: give new replicas the service's DNS name at creation (no health gate before traffic). */
  joinDnsAtCreate?: boolean;
  /** berth deploy's log scan; mode blocking: a gate after the health gate, before traffic. */
  logScan?: LogScanConfig;
}

export interface ContainerRef {
  id: string;
  name: string;
}

export type Step =
  | { kind: 'remove-leftover'; service: string; container: ContainerRef; reason: string }
  | { kind: 'compose-up'; service: string; replicas: number; reason: string }
  /** holdBack: engine networks (the traffic networks) the replica is connected to only at its join. */
  | { kind: 'create'; service: string; name: string; number: number; image: string; cloneFrom: string; joinDns: boolean; holdBack: string[]; configHash?: string; reason: string }
  | { kind: 'wait-healthy'; service: string; names: string[]; mode: 'healthcheck' | 'fixed'; timeoutMs: number; reason: string }
  /** names empty: the replicas Compose created (first deploy). */
  | { kind: 'scan-logs'; service: string; names: string[]; scan: LogScanConfig; reason: string }
  /** connect: the held-back networks, joined by one connect each; empty: every network is reconnected with the aliases. */
  | { kind: 'join'; service: string; names: string[]; connect: string[]; reason: string }
  /** networks: where the replicas leave the service's DNS name; undefined: every network. */
  | { kind: 'drain'; service: string; containers: ContainerRef[]; drain: DrainConfig; networks?: string[]; reason: string }
  | { kind: 'stop'; service: string; containers: ContainerRef[]; graceMs: number; reason: string }
  | { kind: 'remove'; service: string; containers: ContainerRef[]; reason: string }
  | { kind: 'monitor'; service: string; names: string[]; durationMs: number; reason: string };

export interface ServicePlan {
  service: string;
  image: string;
  desired: number;
  naming: 'v1' | 'v2';
  /**
   * When the service needs no rollout: why. Its steps, if any, are the reconcile steps (leftovers of
   * an interrupted rollout or a crash) and still run: the real run does what the dry run plans.
   */
  skip?: string;
  /** Names of the replicas this rollout creates (the ones to roll back if it fails). */
  newReplicas: string[];
  /** IDs of the replicas it replaces. */
  oldReplicas: string[];
  imageIdBefore: string | undefined;
  /** The reference the replicas being replaced were created from. */
  imageRefBefore: string | undefined;
  steps: Step[];
}

export interface RolloutPlan {
  project: string;
  rolloutId: string;
  services: ServicePlan[];
}

/** Services in depends_on order (dependencies first), the selection's own order otherwise. */
export function rolloutOrder(project: ComposeProject, services: string[]): string[] {
  const selected = new Set(services);
  const out: string[] = [];
  const visiting = new Set<string>();
  const visit = (name: string) => {
    if (out.includes(name) || visiting.has(name)) return;
    visiting.add(name);
    for (const dep of Object.keys(project.services[name]?.dependsOn ?? {})) if (selected.has(dep)) visit(dep);
    visiting.delete(name);
    out.push(name);
  };
  for (const name of services) visit(name);
  return out;
}

/** Why a service cannot run two replicas side by side (start-first); undefined when it can. */
export function startFirstBlocker(service: ServiceModel): string | undefined {
  if (service.containerName) return `container_name "${service.containerName}" allows one container only`;
  if (service.networkMode === 'host') return 'network_mode: host (two replicas would bind the same ports)';
  if (service.networkMode?.startsWith('service:') || service.networkMode?.startsWith('container:')) return `network_mode: ${service.networkMode} shares one network stack`;
  const fixed = service.ports.find((p) => p.published !== undefined && p.published !== '' && p.published !== '0');
  if (fixed) return `fixed host port ${fixed.hostIp ? `${fixed.hostIp}:` : ''}${fixed.published}:${fixed.target}`;
  const staticIp = Object.entries(service.networks).find(([, n]) => n.ipv4Address || n.ipv6Address);
  if (staticIp) return `a fixed address on network ${staticIp[0]}`;
  return undefined;
}

export function isStateful(service: ServiceModel): boolean {
  return service.berth.rollout.stateful ?? STATEFUL_IMAGES.test(service.image ?? '');
}

/** The health gate's default: start_period + interval × retries + a margin. */
export function defaultHealthTimeoutMs(hc: HealthcheckFacts): number {
  return hc.startPeriodMs + hc.intervalMs * Math.max(1, hc.retries) + HEALTH_MARGIN_MS;
}

export function planRollout(project: ComposeProject, states: ServiceState[], options: RolloutOptions): RolloutPlan {
  const byName = new Map(states.map((s) => [s.service, s]));
  const order = rolloutOrder(project, states.map((s) => s.service));
  return { project: project.name, rolloutId: options.rolloutId, services: order.map((name) => planService(project, byName.get(name)!, options)) };
}

function planService(project: ComposeProject, state: ServiceState, options: RolloutOptions): ServicePlan {
  const service = project.services[state.service];
  if (!service) throw unknownServiceError(project, state.service);
  const config = service.berth.rollout;
  const steps: Step[] = [];
  const blocker = startFirstBlocker(service);
  const stopFirst = options.stopFirst ?? config.stopFirst ?? false;
  if (!state.target.imageId) {
    throw new BerthError(`image ${state.target.ref} of ${state.service} is not on this engine`, { exitCode: ExitCode.usage, hint: 'pull or build it first (berth deploy does both)' });
  }
  // Refusals apply only when there is something to roll (checked below, once that is known).
  const refuse = () => {
    if (blocker && !stopFirst) {
      throw new BerthError(`cannot roll out ${state.service} without downtime: ${blocker}`, {
        exitCode: ExitCode.usage,
        hint: 'remove it from the service, or pass --stop-first to accept a short outage (old stopped before the new one starts)',
      });
    }
    if (isStateful(service) && !options.stateful) {
      throw new BerthError(`${state.service} is stateful (${config.stateful ? 'x-berth rollout.stateful' : `image ${service.image}`}): two replicas must not share its data`, {
        exitCode: ExitCode.usage,
        hint: 'pass --stateful (usually with --stop-first) when you know this is safe',
      });
    }
    return healthGate(state, options);
  };
  const drain = options.drain ?? config.drain ?? DEFAULT_DRAIN;
  const graceMs = service.stopGracePeriodMs;
  // Traffic networks: new replicas stay off them until healthy, then one connect each joins them.
  const traffic = trafficNetworkNames(project, service);
  const holdBack = options.joinDnsAtCreate ? [] : traffic ?? [];
  const join = (names: string[], them: string): Step => ({
    kind: 'join', service: state.service, names, connect: holdBack,
    reason: holdBack.length ? `healthy: connect ${them} to ${holdBack.join(', ')} with the service's DNS name, so the proxy sends ${them} traffic` : `healthy: give ${them} the service's DNS name so the proxy sends ${them} traffic`,
  });
  const offTraffic = holdBack.length ? `, not on ${holdBack.join(', ')} (traffic) until healthy` : ', without the service DNS name until healthy';
  const ref = (r: ReplicaState): ContainerRef => ({ id: r.id, name: r.name });
  const scan = options.logScan?.mode === 'blocking' ? options.logScan : undefined;
  const scanLogs = (names: string[]) => {
    if (scan) steps.push({ kind: 'scan-logs', service: state.service, names, scan, reason: `log scan (blocking): no error line in the first ${scan.lines} log lines, before any traffic reaches ${names.length === 1 ? 'it' : 'them'}` });
  };

  // 1. Reconcile: what an interrupted rollout or a crash left behind.
  const live: ReplicaState[] = [];
  for (const r of state.replicas) {
    if (r.state === 'running' && r.inDns) live.push(r);
    else if (r.state === 'running' || r.state === 'restarting' || r.state === 'paused') {
      steps.push({ kind: 'remove-leftover', service: state.service, container: ref(r), reason: r.rolloutId ? `left by interrupted rollout ${r.rolloutId}: running, but not in ${state.service}'s DNS (it serves nothing)` : `running, but not in ${state.service}'s DNS (drained by an interrupted rollout)` });
    } else {
      steps.push({ kind: 'remove-leftover', service: state.service, container: ref(r), reason: `${r.state} container of the service (crashed or interrupted)` });
    }
  }
  const desired = state.unfinishedDesired ?? Math.max(service.replicas, live.length);
  const onTarget = options.force ? [] : live.filter((r) => r.imageId === state.target.imageId);
  const old = live.filter((r) => !onTarget.includes(r));
  const base: Omit<ServicePlan, 'steps' | 'newReplicas' | 'oldReplicas'> = {
    service: state.service,
    image: state.target.ref,
    desired,
    naming: state.naming,
    imageIdBefore: old[0]?.imageId ?? live[0]?.imageId,
    imageRefBefore: old[0]?.image ?? live[0]?.image,
  };

  // First deploy: nothing to clone from; Compose creates the replicas, then the health gate.
  if (live.length === 0) {
    const health = refuse();
    steps.push({ kind: 'compose-up', service: state.service, replicas: desired, reason: `no running replica to clone: Compose creates ${desired}` });
    steps.push({ kind: 'wait-healthy', service: state.service, names: [], ...health, reason: `every new replica ${health.mode === 'healthcheck' ? 'must report "healthy"' : `must still run after ${formatDuration(health.timeoutMs)}`}` });
    scanLogs([]);
    return { ...base, steps, newReplicas: [], oldReplicas: [] };
  }

  const surplus = onTarget.slice(desired);
  const need = Math.max(0, desired - onTarget.length);
  if (need === 0 && old.length === 0 && surplus.length === 0) {
    return { ...base, skip: `already runs ${state.target.ref} (${desired} of ${desired} replicas)`, steps, newReplicas: [], oldReplicas: [] };
  }

  const health = refuse();
  const cloneFrom = (old[0] ?? live[0])!.id;
  let nextNumber = Math.max(0, ...state.replicas.map((r) => r.number)) + 1;
  const batch = Math.max(1, options.batch ?? config.batch ?? Math.max(need, 1));
  const newNames: string[] = [];
  // A batch's old replicas all leave DNS before any stops: a stopped one frees its address, and the
  // engine hands the lowest free address to the next reconnect, which would cut its connections.
  const retire = (rs: ReplicaState[], why: string) => {
    if (!rs.length) return;
    const containers = rs.map(ref);
    steps.push({ kind: 'drain', service: state.service, containers, drain, ...(traffic ? { networks: traffic } : {}), reason: `${why}: out of DNS${traffic ? ` on ${traffic.join(', ')}` : ''} first, then ${describeDrain(drain)} so the proxy stops choosing ${rs.length === 1 ? 'it' : 'them'} while in-flight requests finish` });
    steps.push({ kind: 'stop', service: state.service, containers, graceMs, reason: `stop_grace_period ${formatDuration(graceMs)}` });
    steps.push({ kind: 'remove', service: state.service, containers, reason: 'replaced' });
  };

  const remainingOld = [...old];
  let created = 0;
  if (stopFirst) {
    // One at a time: the old replica goes before its replacement starts (a short outage, by request).
    while (created < need || remainingOld.length) {
      const gone = remainingOld.shift();
      if (gone) retire([gone], `stop-first (${blocker ?? 'requested'})`);
      if (created < need) {
        const name = service.containerName ?? replicaName(project.name, state.service, nextNumber, state.naming);
        steps.push({ kind: 'create', service: state.service, name, number: nextNumber, image: state.target.ref, cloneFrom, joinDns: Boolean(options.joinDnsAtCreate), holdBack, configHash: state.configHash, reason: `replica ${created + 1} of ${need} on ${state.target.ref}` });
        steps.push({ kind: 'wait-healthy', service: state.service, names: [name], ...health, reason: 'health gate before it gets traffic' });
        scanLogs([name]);
        if (!options.joinDnsAtCreate) steps.push(join([name], 'it'));
        newNames.push(name);
        nextNumber++;
        created++;
      }
    }
  } else {
    while (created < need || remainingOld.length) {
      const count = Math.min(batch, need - created);
      const names: string[] = [];
      for (let i = 0; i < count; i++) {
        const name = replicaName(project.name, state.service, nextNumber, state.naming);
        steps.push({ kind: 'create', service: state.service, name, number: nextNumber, image: state.target.ref, cloneFrom, joinDns: Boolean(options.joinDnsAtCreate), holdBack, configHash: state.configHash, reason: `replica ${created + i + 1} of ${need} on ${state.target.ref}, beside the old ones${options.joinDnsAtCreate ? ' (in DNS at creation: control mode, no gate before traffic)' : offTraffic}` });
        names.push(name);
        nextNumber++;
      }
      if (names.length) {
        steps.push({ kind: 'wait-healthy', service: state.service, names, ...health, reason: health.mode === 'healthcheck' ? `every new replica must report "healthy" within ${formatDuration(health.timeoutMs)}; a crash, restart, exit or "unhealthy" fails the rollout` : `no healthcheck: must still run after ${formatDuration(health.timeoutMs)} (--assume-ready-after)` });
        scanLogs(names);
        if (!options.joinDnsAtCreate) steps.push(join(names, names.length === 1 ? 'it' : 'them'));
      }
      created += count;
      newNames.push(...names);
      // The last batch retires every old replica left; earlier ones as many as they added.
      const retiring = created >= need ? remainingOld.splice(0) : remainingOld.splice(0, count);
      retire(retiring, `replaced by ${state.target.ref}`);
    }
  }
  retire(surplus, `more than the desired ${desired} replicas`);
  const monitorMs = options.monitorMs ?? config.monitorMs ?? 0;
  if (monitorMs > 0 && newNames.length) {
    steps.push({ kind: 'monitor', service: state.service, names: newNames, durationMs: monitorMs, reason: `the new replicas must stay healthy for ${formatDuration(monitorMs)}, else roll back to the previous image` });
  }
  return { ...base, steps, newReplicas: newNames, oldReplicas: old.map((r) => r.id) };
}

function healthGate(state: ServiceState, options: RolloutOptions): { mode: 'healthcheck' | 'fixed'; timeoutMs: number } {
  if (state.healthcheck) return { mode: 'healthcheck', timeoutMs: options.timeoutMs ?? defaultHealthTimeoutMs(state.healthcheck) };
  if (options.assumeReadyAfterMs !== undefined) return { mode: 'fixed', timeoutMs: options.assumeReadyAfterMs };
  throw new BerthError(`${state.service} has no healthcheck: berth cannot tell when a new replica is ready for traffic`, {
    exitCode: ExitCode.usage,
    hint: 'add a healthcheck to the service, or pass --assume-ready-after 10s to wait a fixed time',
  });
}

export function describeDrain(drain: DrainConfig): string {
  switch (drain.strategy) {
    case 'wait': return `wait ${formatDuration(drain.durationMs)}`;
    case 'readiness': return `SIGTERM (readiness turns 503, the app keeps serving) and wait ${formatDuration(drain.durationMs)}`;
    case 'file': return `touch ${drain.path} in the container and wait ${formatDuration(drain.durationMs)}`;
    case 'hook': return `run the drain hook (timeout ${formatDuration(drain.timeoutMs)})`;
  }
}

/** One line per step, for --dry-run and logs. */
export function renderPlan(plan: RolloutPlan): string {
  const lines: string[] = [];
  for (const s of plan.services) {
    lines.push(`${s.service}: ${s.skip ?? `${s.desired} replica(s) of ${s.image} (${s.naming} naming)`}`);
    s.steps.forEach((step, i) => lines.push(`  ${String(i + 1).padStart(2)}. ${describeStep(step)}\n      ${step.reason}`));
  }
  return lines.join('\n');
}

export function describeStep(step: Step): string {
  switch (step.kind) {
    case 'remove-leftover': return `remove ${step.container.name}`;
    case 'compose-up': return `compose up ${step.service} (${step.replicas} replica${step.replicas === 1 ? '' : 's'})`;
    case 'create': return `start ${step.name} from ${step.image}`;
    case 'wait-healthy': return `wait until ${step.names.length ? step.names.join(', ') : step.service} ${step.mode === 'healthcheck' ? 'healthy' : 'still running'} (≤ ${formatDuration(step.timeoutMs)})`;
    case 'scan-logs': return `scan the logs of ${step.names.length ? step.names.join(', ') : step.service} for /${step.scan.patterns.join('|')}/i`;
    case 'join': return `put ${step.names.join(', ')} into ${step.service}'s DNS${step.connect.length ? ` (connect to ${step.connect.join(', ')})` : ''}`;
    case 'drain': return `drain ${names(step.containers)}`;
    case 'stop': return `stop ${names(step.containers)}`;
    case 'remove': return `remove ${names(step.containers)}`;
    case 'monitor': return `monitor ${step.names.join(', ')} for ${formatDuration(step.durationMs)}`;
  }
}

const names = (cs: ContainerRef[]) => cs.map((c) => c.name).join(', ');
