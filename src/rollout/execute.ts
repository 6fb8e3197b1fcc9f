/**
 * The rollout executor: runs a plan's steps against the engine and reports progress as events.
 * A failure before cut-over removes the new replicas and leaves the old ones untouched.
 */
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import type Docker from 'dockerode';
import { listServiceContainers } from '../compose/containers.js';
import type { ComposeRunner } from '../compose/cli.js';
import type { ComposeProject, DrainConfig } from '../compose/types.js';
import { statusCode, type Engine } from '../engine/client.js';
import { formatDuration } from '../lib/duration.js';
import { BerthError, ExitCode, errorMessage } from '../lib/errors.js';
import { cloneCreateOptions, rebindMounts, joinAliases, ownAliases } from './clone.js';
import { fillHoles, PLACEHOLDER_LABEL } from './placeholder.js';
import { describeStep, type RolloutPlan, type ServicePlan, type Step } from './plan.js';

export type RolloutEvent =
  | { type: 'step'; service: string; index: number; total: number; step: Step; phase: 'start' | 'done' | 'failed'; ms?: number; error?: string }
  | { type: 'note'; service?: string; text: string }
  | { type: 'failure'; service: string; container: string; reason: string; healthLog: string[]; logs: string[] };

export interface ExecuteOptions {
  signal?: AbortSignal;
  onEvent?: (event: RolloutEvent) => void;
  /** For compose-up steps (first deploy). */
  compose?: () => Promise<ComposeRunner>;
  /** Called with replaced replicas (stopped) before they are removed: berth logs keeps their last lines. */
  beforeRemove?: (containers: Array<{ id: string; name: string }>, reason: string) => Promise<void>;
  /** Host paths whose bind mounts new replicas get from another file (a secret's new version): old -> new. */
  rebind?: Record<string, string>;
}

export interface ServiceOutcome {
  service: string;
  ok: boolean;
  /** Replicas created and put into DNS (cut over). */
  joined: string[];
  /** Replicas created then removed again because the rollout failed or was interrupted. */
  removedNew: string[];
  error?: string;
  phases: Record<string, number>;
  healthLog?: string[];
  logs?: string[];
}

export class RolloutFailure extends BerthError {
  readonly outcome: ServiceOutcome;
  constructor(message: string, outcome: ServiceOutcome, exitCode: number = ExitCode.degraded) {
    super(message, { exitCode });
    this.outcome = outcome;
  }
}

class Aborted extends Error {}

const POLL_MS = 100;

/** Sleeps, but wakes with Aborted when the signal fires. */
async function pause(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) throw new Aborted();
  try {
    await sleep(Math.max(0, ms), undefined, { signal });
  } catch {
    throw new Aborted();
  }
}

interface Runtime {
  engine: Engine;
  project: ComposeProject;
  options: ExecuteOptions;
  /** Source containers to clone, inspected before anything is removed. */
  sources: Map<string, Docker.ContainerInspectInfo>;
  imageConfigs: Map<string, Docker.ImageInspectInfo['Config'] | undefined>;
  /** name -> id of replicas this run created. */
  created: Map<string, string>;
  joined: Set<string>;
  imageIds: Map<string, string | undefined>;
  /** name -> the replica it was cloned from. */
  sourceOf: Map<string, Docker.ContainerInspectInfo>;
  /** id -> when the drain sent it its stop signal (readiness drain). */
  signalledAt: Map<string, number>;
}

export async function executePlan(engine: Engine, project: ComposeProject, plan: RolloutPlan, options: ExecuteOptions = {}): Promise<ServiceOutcome[]> {
  const rt: Runtime = { engine, project, options, sources: new Map(), imageConfigs: new Map(), created: new Map(), joined: new Set(), sourceOf: new Map(), imageIds: new Map(), signalledAt: new Map() };
  for (const s of plan.services) {
    for (const step of s.steps) {
      if (step.kind === 'create' && !rt.sources.has(step.cloneFrom)) rt.sources.set(step.cloneFrom, await engine.inspectContainer(step.cloneFrom));
    }
  }
  const outcomes: ServiceOutcome[] = [];
  for (const s of plan.services) {
    if (s.skip) options.onEvent?.({ type: 'note', service: s.service, text: `${s.service}: ${s.skip}` });
    outcomes.push(await executeService(rt, plan, s));
  }
  return outcomes;
}

async function executeService(rt: Runtime, plan: RolloutPlan, s: ServicePlan): Promise<ServiceOutcome> {
  const outcome: ServiceOutcome = { service: s.service, ok: false, joined: [], removedNew: [], phases: {} };
  const emit = rt.options.onEvent ?? (() => undefined);
  const mine = new Set<string>();
  for (const [index, step] of s.steps.entries()) {
    emit({ type: 'step', service: s.service, index, total: s.steps.length, step, phase: 'start' });
    const started = performance.now();
    try {
      if (rt.options.signal?.aborted) throw new Aborted();
      await runStep(rt, plan, s, step, mine);
      const ms = performance.now() - started;
      outcome.phases[step.kind] = Math.round((outcome.phases[step.kind] ?? 0) + ms);
      emit({ type: 'step', service: s.service, index, total: s.steps.length, step, phase: 'done', ms });
    } catch (error) {
      const interrupted = error instanceof Aborted;
      const message = interrupted ? 'interrupted' : errorMessage(error);
      emit({ type: 'step', service: s.service, index, total: s.steps.length, step, phase: 'failed', ms: performance.now() - started, error: message });
      if (error instanceof LogScanFailure) {
        outcome.logs = error.lines;
        emit({ type: 'note', service: s.service, text: `${error.lines.map((l) => `log: ${l}`).join('\n  ')}\n  ${error.hint}` });
      }
      if (error instanceof HealthGateFailure) {
        outcome.healthLog = error.healthLog;
        outcome.logs = error.logs;
        emit({ type: 'failure', service: s.service, container: error.container, reason: error.message, healthLog: error.healthLog, logs: error.logs });
      }
      // Cut-over happens replica by replica at `join`: whatever has not joined never served; remove it.
      for (const name of mine) {
        if (rt.joined.has(name)) continue;
        const id = rt.created.get(name);
        if (!id) continue;
        await rt.engine.docker.getContainer(id).remove({ force: true, v: true }).catch(() => undefined);
        outcome.removedNew.push(name);
      }
      if (outcome.removedNew.length) emit({ type: 'note', service: s.service, text: `removed the new replica(s) that never got traffic: ${outcome.removedNew.join(', ')}` });
      outcome.error = `${describeStep(step)}: ${message}`;
      throw new RolloutFailure(interrupted ? `rollout of ${s.service} interrupted during "${describeStep(step)}"` : `rollout of ${s.service} failed: ${outcome.error}`, outcome, interrupted ? ExitCode.interrupted : ExitCode.degraded);
    }
  }
  outcome.joined = [...mine].filter((n) => rt.joined.has(n));
  outcome.ok = true;
  return outcome;
}

/** Error lines in the new replicas' logs (a blocking log scan): they never get traffic. */
class LogScanFailure extends BerthError {
  constructor(message: string, readonly lines: string[], hint: string) {
    super(message, { exitCode: ExitCode.degraded, hint });
  }
}

class HealthGateFailure extends BerthError {
  constructor(message: string, readonly container: string, readonly healthLog: string[], readonly logs: string[]) {
    super(message, { exitCode: ExitCode.degraded });
  }
}

async function runStep(rt: Runtime, plan: RolloutPlan, s: ServicePlan, step: Step, mine: Set<string>): Promise<void> {
  const { engine } = rt;
  const signal = rt.options.signal;
  switch (step.kind) {
    case 'remove-leftover': {
      const grace = Math.ceil((rt.project.services[s.service]?.stopGracePeriodMs ?? 10_000) / 1000);
      await stopContainer(engine, step.container.id, grace);
      await rt.options.beforeRemove?.([step.container], 'leftover of an interrupted rollout').catch(() => undefined);
      await removeContainer(engine, step.container.id);
      return;
    }
    case 'compose-up': {
      if (!rt.options.compose) throw new BerthError('no Compose runner for the first deploy');
      const compose = await rt.options.compose();
      const before = new Set((await listServiceContainers(engine, rt.project.name, { services: [s.service] })).map((c) => c.id));
      await compose.run(['up', '-d', '--no-deps', '--scale', `${s.service}=${step.replicas}`, s.service], { signal });
      const after = await listServiceContainers(engine, rt.project.name, { services: [s.service], includeStopped: false });
      for (const c of after) if (!before.has(c.id)) { rt.created.set(c.name, c.id); mine.add(c.name); rt.joined.add(c.name); }
      return;
    }
    case 'create': {
      const source = rt.sources.get(step.cloneFrom);
      if (!source) throw new BerthError(`no source replica ${step.cloneFrom.slice(0, 12)} to clone`);
      if (!rt.imageConfigs.has(source.Image)) rt.imageConfigs.set(source.Image, (await engine.inspectImage(source.Image))?.Config);
      const model = rt.project.services[s.service];
      const raw = model?.raw ?? {};
      const networks = Object.entries(source.NetworkSettings?.Networks ?? {});
      // Aliases from the start: in control mode, and on the networks that are not held back for the join.
      const aliasesFor = (net: string) => (step.joinDns || step.holdBack.length ? joinAliases(source, net, step.name, s.service) : []);
      const options = cloneCreateOptions({
        source,
        sourceImage: rt.imageConfigs.get(source.Image) as never,
        image: step.image,
        imageId: await imageIdOf(rt, step.image),
        name: step.name,
        number: step.number,
        configHash: step.configHash,
        rolloutId: plan.rolloutId,
        modelEnvKeys: Object.keys(model?.environment ?? {}),
        modelSets: { command: 'command' in raw, entrypoint: 'entrypoint' in raw, healthcheck: 'healthcheck' in raw, workingDir: 'working_dir' in raw, user: 'user' in raw, stopSignal: 'stop_signal' in raw },
        skipNetworks: step.holdBack,
      });
      if (rt.options.rebind) rebindMounts(options.HostConfig!, rt.options.rebind);
      const first = Object.keys(options.NetworkingConfig?.EndpointsConfig ?? {})[0];
      if (first) options.NetworkingConfig!.EndpointsConfig![first]!.Aliases = aliasesFor(first);
      const container = await engine.call(`create ${step.name}`, () => engine.docker.createContainer(options));
      rt.created.set(step.name, container.id);
      rt.sourceOf.set(step.name, source);
      mine.add(step.name);
      for (const [net] of networks) {
        if (net === first || step.holdBack.includes(net)) continue;
        await engine.call(`connect ${step.name} to ${net}`, () => engine.docker.getNetwork(net).connect({ Container: container.id, EndpointConfig: { Aliases: aliasesFor(net) } }));
      }
      await engine.call(`start ${step.name}`, () => container.start());
      // Control mode (joinDns): in DNS already, yet still removed if its gate fails.
      return;
    }
    case 'wait-healthy': {
      let names = step.names;
      if (names.length === 0) names = [...mine];
      await waitHealthy(rt, names, step.mode, step.timeoutMs, signal);
      return;
    }
    case 'scan-logs': {
      const { scanReplicaLogs, findingsMessage, LOG_SCAN_HINT } = await import('./log-scan.js');
      const findings = await scanReplicaLogs(engine, step.names.length ? step.names : [...mine], step.scan);
      if (findings.length) throw new LogScanFailure(findingsMessage(findings), findings.map((f) => `${f.container}: ${f.line}`), LOG_SCAN_HINT);
      return;
    }
    case 'join': {
      for (const name of step.names) {
        const id = rt.created.get(name) ?? name;
        const source = rt.sourceOf.get(name);
        if (step.connect.length) {
          // Traffic networks: the replica was never on them, so there is nothing to keep; one connect each.
          for (const net of step.connect) {
            const links = (source?.NetworkSettings.Networks[net] as { Links?: string[] | null } | undefined)?.Links ?? undefined;
            await engine.call(`connect ${name} to ${net}`, () => engine.docker.getNetwork(net).connect({ Container: id, EndpointConfig: { Aliases: joinAliases(source, net, name, s.service), Links: links } }));
          }
          rt.joined.add(name);
          continue;
        }
        const info = await engine.inspectContainer(id);
        for (const [net, endpoint] of Object.entries(info.NetworkSettings.Networks ?? {})) {
          const aliases = joinAliases(source, net, name, s.service);
          // Aliases cannot change on a live endpoint: reconnect, keeping the address so the
          // connections this replica opened while starting (a database pool) survive.
          await reconnect(rt, s.service, { id, name, labels: info.Config.Labels }, net, endpoint, aliases);
        }
        rt.joined.add(name);
      }
      return;
    }
    case 'drain':
      await drainReplicas(rt, s.service, step.containers, step.drain, step.networks, signal);
      return;
    case 'stop':
      await Promise.all(step.containers.map((c) => {
        const signalledAt = rt.signalledAt.get(c.id);
        // Signalled at drain (readiness): a second stop signal means "exit now" to most apps (berth/graceful exits 130).
        if (signalledAt !== undefined) return awaitExit(engine, c.id, step.graceMs - (performance.now() - signalledAt), signal);
        return stopContainer(engine, c.id, Math.ceil(step.graceMs / 1000));
      }));
      return;
    case 'remove':
      await rt.options.beforeRemove?.(step.containers, step.reason).catch(() => undefined);
      await Promise.all(step.containers.map((c) => removeContainer(engine, c.id)));
      return;
    case 'monitor':
      await monitor(rt, step.names, step.durationMs, signal);
      return;
  }
}

async function imageIdOf(rt: Runtime, ref: string): Promise<string | undefined> {
  if (!rt.imageIds.has(ref)) rt.imageIds.set(ref, (await rt.engine.inspectImage(ref))?.Id);
  return rt.imageIds.get(ref);
}

async function stopContainer(engine: Engine, id: string, seconds: number): Promise<void> {
  try {
    await engine.docker.getContainer(id).stop({ t: seconds });
  } catch (error) {
    const code = statusCode(error);
    if (code === 304 || code === 404) return; // already stopped / gone
    throw error;
  }
}

/** Waits for a container that already has its stop signal to exit; SIGKILL at the end of its grace period, as `docker stop` does. */
async function awaitExit(engine: Engine, id: string, remainingMs: number, signal?: AbortSignal): Promise<void> {
  const deadline = performance.now() + Math.max(0, remainingMs);
  for (;;) {
    const info = await engine.docker.getContainer(id).inspect().catch((error: unknown) => {
      if (statusCode(error) === 404) return undefined;
      throw error;
    });
    if (!info?.State.Running) return;
    if (performance.now() >= deadline) break;
    await pause(Math.min(POLL_MS, deadline - performance.now()), signal);
  }
  try {
    await engine.docker.getContainer(id).kill({ signal: 'SIGKILL' });
  } catch (error) {
    const code = statusCode(error);
    if (code === 404 || code === 409) return; // gone, or exited just now
    throw error;
  }
}

async function removeContainer(engine: Engine, id: string): Promise<void> {
  try {
    await engine.docker.getContainer(id).remove({ force: true, v: true });
  } catch (error) {
    if (statusCode(error) === 404) return;
    throw error;
  }
}

/**
 * Out of the service's DNS name first, without cutting what is in flight: the replica is reconnected
 * without the service's aliases, keeping its address (see `reconnect`). Replicas leave one at a time
 * (a freed address must not go to the next reconnect); each one's drain starts as soon as it is out
 * of DNS, while its reconnect and the address check still run.
 */
async function drainReplicas(rt: Runtime, service: string, containers: Array<{ id: string; name: string }>, drain: DrainConfig, networks: string[] | undefined, signal?: AbortSignal): Promise<void> {
  const draining: Array<Promise<void>> = [];
  try {
    for (const container of containers) {
      await leaveDns(rt, service, container, networks, (info) => {
        const drained = drainOne(rt, service, container, info, drain, signal);
        drained.catch(() => undefined); // awaited below; a leave failing first must not leave it unhandled
        draining.push(drained);
      });
    }
  } finally {
    await Promise.allSettled(draining);
  }
  await Promise.all(draining);
}

/**
 * Takes the replica out of the service's DNS name on `only` (default: every network); `outOfDns`
 * is called the moment it is out (before the reconnect).
 */
async function leaveDns(rt: Runtime, service: string, container: { id: string; name: string }, only: string[] | undefined, outOfDns: (info: Docker.ContainerInspectInfo) => void): Promise<void> {
  const info = await rt.engine.inspectContainer(container.id);
  const networks = Object.entries(info.NetworkSettings.Networks ?? {}).filter(([net, endpoint]) => (endpoint.Aliases ?? []).includes(service) && (!only || only.includes(net)));
  if (networks.length === 0) outOfDns(info);
  for (const [index, [net, endpoint]] of networks.entries()) {
    const last = index === networks.length - 1;
    await reconnect(rt, service, { ...container, labels: info.Config.Labels }, net, endpoint, ownAliases(endpoint.Aliases, container), last ? () => outOfDns(info) : undefined);
  }
}

/**
 * Disconnects a replica from `net` and connects it again with `aliases` (the only way to change an
 * endpoint's aliases), keeping its address: the engine hands a reconnect the lowest free address, so
 * free addresses below this one are held by placeholders for the moment. Measured on Engine 20.10:
 * established TCP connections, in both directions, survive when the address stays the same; when it
 * changes they hang until TCP gives up, which berth reports. `disconnected` runs between the two calls.
 */
async function reconnect(rt: Runtime, service: string, container: { id: string; name: string; labels?: Record<string, string> | null }, net: string, endpoint: Docker.NetworkInfo, aliases: string[], disconnected?: () => void): Promise<void> {
  const { engine } = rt;
  const before = endpoint.IPAddress;
  const labels: Record<string, string> = { [`${PLACEHOLDER_LABEL}.project`]: rt.project.name };
  const testLabel = container.labels?.['berth.test'];
  if (testLabel) labels['berth.test'] = testLabel;
  const holes = before ? await fillHoles(engine, net, before, labels).catch(() => ({ filled: 0, release: async () => undefined })) : undefined;
  if (holes?.filled) rt.options.onEvent?.({ type: 'note', service, text: `held ${holes.filled} free address(es) below ${before} on ${net} so ${container.name} keeps its address` });
  try {
    await engine.call(`disconnect ${container.name} from ${net}`, () => engine.docker.getNetwork(net).disconnect({ Container: container.id, Force: false }));
    disconnected?.();
    await engine.call(`connect ${container.name} to ${net}`, () => engine.docker.getNetwork(net).connect({ Container: container.id, EndpointConfig: { Aliases: aliases, Links: (endpoint as { Links?: string[] }).Links ?? undefined } }));
  } finally {
    await holes?.release();
  }
  const after = (await engine.inspectContainer(container.id)).NetworkSettings.Networks?.[net]?.IPAddress;
  if (before && after && before !== after) {
    rt.options.onEvent?.({ type: 'note', service, text: `${container.name} came back on ${net} as ${after} (was ${before}): its connections on ${net} were cut` });
  }
}

async function drainOne(rt: Runtime, service: string, container: { id: string; name: string }, info: Docker.ContainerInspectInfo, drain: DrainConfig, signal?: AbortSignal): Promise<void> {
  const { engine } = rt;
  switch (drain.strategy) {
    case 'wait':
      await pause(drain.durationMs, signal);
      return;
    case 'readiness': {
      // The app turns its readiness to 503 on SIGTERM and keeps serving through its drain delay.
      const signalName = (info.Config as { StopSignal?: string }).StopSignal || 'SIGTERM';
      await engine.call(`signal ${container.name}`, () => engine.docker.getContainer(container.id).kill({ signal: signalName }));
      rt.signalledAt.set(container.id, performance.now());
      await pause(drain.durationMs, signal);
      return;
    }
    case 'file': {
      const exec = await engine.call(`exec in ${container.name}`, () => engine.docker.getContainer(container.id).exec({ Cmd: ['touch', drain.path], AttachStdout: false, AttachStderr: false }));
      const started = await engine.call(`touch ${drain.path} in ${container.name}`, () => exec.start({ Detach: true }) as Promise<unknown>);
      // A detached start still answers with a response stream: read it to its end, or its open
      // socket keeps berth from exiting after the rollout (seen: the CLI hung after a file drain).
      (started as { resume?: () => void } | undefined)?.resume?.();
      await pause(drain.durationMs, signal);
      return;
    }
    case 'hook':
      await runHook(drain.command, drain.timeoutMs, { BERTH_SERVICE: service, BERTH_CONTAINER: container.name, BERTH_CONTAINER_ID: container.id }, signal);
      return;
  }
}

/** Runs a hook command on this host with a timeout; non-zero exit fails. */
export function runHook(command: string[] | string, timeoutMs: number, env: Record<string, string> = {}, signal?: AbortSignal): Promise<string> {
  const argv = typeof command === 'string' ? ['sh', '-c', command] : command;
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs, signal });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('error', (error) => reject(new BerthError(`hook ${argv.join(' ')}: ${error.message}`)));
    child.on('close', (code, sig) => {
      if (code === 0) resolve(out);
      else reject(new BerthError(`hook ${argv.join(' ')} ${sig ? `was stopped (${sig}; timeout ${formatDuration(timeoutMs)}?)` : `exited ${code}`}: ${out.trim().split('\n').pop() ?? ''}`));
    });
  });
}

interface Probe {
  name: string;
  state: string;
  health: string | undefined;
  restarts: number;
  exitCode: number;
  healthLog: string[];
}

async function probe(engine: Engine, id: string, name: string): Promise<Probe> {
  const info = await engine.inspectContainer(id);
  const state = info.State as Docker.ContainerInspectInfo['State'] & { Health?: { Status: string; Log?: Array<{ ExitCode: number; Output: string; End: string }> } };
  return {
    name,
    state: state.Status,
    health: state.Health?.Status,
    restarts: info.RestartCount ?? 0,
    exitCode: state.ExitCode,
    healthLog: (state.Health?.Log ?? []).map((l) => `${l.End?.slice(11, 19) ?? ''} exit ${l.ExitCode}: ${l.Output.trim().replace(/\s+/g, ' ').slice(0, 200)}`),
  };
}

/** Health status is matched exactly: only "healthy" passes; "unhealthy", an exit or a restart fails. */
function verdict(p: Probe, mode: 'healthcheck' | 'fixed'): 'ok' | 'waiting' | string {
  if (p.state === 'exited' || p.state === 'dead') return `exited with code ${p.exitCode}`;
  if (p.state === 'restarting' || p.restarts > 0) return `restarted (${p.restarts} restart${p.restarts === 1 ? '' : 's'})`;
  if (p.state !== 'running') return 'waiting';
  if (mode === 'fixed') return 'ok';
  if (p.health === 'healthy') return 'ok';
  if (p.health === 'unhealthy') return 'unhealthy';
  if (p.health === undefined) return 'has no healthcheck';
  return 'waiting';
}

async function waitHealthy(rt: Runtime, names: string[], mode: 'healthcheck' | 'fixed', timeoutMs: number, signal?: AbortSignal): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  const ids = names.map((n) => rt.created.get(n) ?? n);
  if (mode === 'fixed') await pause(timeoutMs, signal);
  // The engine's events wake the gate the moment a health status changes (a poll would add half its period).
  const wake = mode === 'healthcheck' ? await wakeOnEvents(rt.engine, ids) : undefined;
  const started = performance.now();
  let beat = started + HEARTBEAT_MS;
  try {
    for (;;) {
      const probes = await Promise.all(ids.map((id, i) => probe(rt.engine, id, names[i]!)));
      const verdicts = probes.map((p) => verdict(p, mode));
      // A long wait says it is alive: how many are healthy, how long so far, the budget.
      if (performance.now() >= beat) {
        beat += HEARTBEAT_MS;
        const healthy = verdicts.filter((v) => v === 'ok').length;
        rt.options.onEvent?.({ type: 'note', text: `still waiting: ${healthy} of ${names.length} healthy (${probes.map((p) => p.health ?? 'no health yet').join(', ')}), ${formatDuration(performance.now() - started)} of ≤ ${formatDuration(timeoutMs)}` });
      }
      const bad = verdicts.findIndex((v) => v !== 'ok' && v !== 'waiting');
      if (bad >= 0) throw await gateFailure(rt, ids[bad]!, probes[bad]!, verdicts[bad]!);
      if (verdicts.every((v) => v === 'ok')) return;
      if (performance.now() >= deadline) {
        const waiting = verdicts.findIndex((v) => v === 'waiting');
        const p = probes[waiting]!;
        throw await gateFailure(rt, ids[waiting]!, p, `not healthy after ${formatDuration(timeoutMs)} (health: ${p.health ?? 'none'})`);
      }
      const waitMs = Math.min(wake ? WAKE_FALLBACK_MS : POLL_MS, Math.max(0, deadline - performance.now()));
      if (wake) await wake.next(waitMs, signal);
      else await pause(waitMs, signal);
    }
  } finally {
    wake?.close();
  }
}

/** How often a long health wait reports that it is still waiting. */
export const HEARTBEAT_MS = 5000;

/** Between events the gate still looks this often (a stream a proxy cuts stays silent); with events denied it polls every POLL_MS. */
const WAKE_FALLBACK_MS = 500;

/**
 * A wake-up on any engine event of these containers (health_status, die, restart...): the state is
 * still read by inspect. An event that arrives while nobody waits is kept for the next wait.
 */
async function wakeOnEvents(engine: Engine, ids: string[]): Promise<{ next: (ms: number, signal?: AbortSignal) => Promise<void>; close: () => void } | undefined> {
  let pending = false;
  let waiter: (() => void) | undefined;
  const subscription = await engine
    .containerEvents(ids, () => {
      pending = true;
      waiter?.();
    })
    .catch(() => undefined);
  if (!subscription) return undefined;
  return {
    next: (ms, signal) => {
      if (pending) {
        pending = false;
        return Promise.resolve();
      }
      return new Promise<void>((resolve, reject) => {
        const cleanup = () => {
          clearTimeout(timer);
          waiter = undefined;
          signal?.removeEventListener('abort', onAbort);
        };
        const done = () => {
          cleanup();
          pending = false;
          resolve();
        };
        const onAbort = () => {
          cleanup();
          reject(new Aborted());
        };
        const timer = setTimeout(done, Math.max(0, ms));
        waiter = done;
        if (signal?.aborted) onAbort();
        else signal?.addEventListener('abort', onAbort, { once: true });
      });
    },
    close: subscription.close,
  };
}

async function monitor(rt: Runtime, names: string[], durationMs: number, signal?: AbortSignal): Promise<void> {
  const end = performance.now() + durationMs;
  const ids = names.map((n) => rt.created.get(n) ?? n);
  while (performance.now() < end) {
    const probes = await Promise.all(ids.map((id, i) => probe(rt.engine, id, names[i]!)));
    for (const [i, p] of probes.entries()) {
      const v = p.health === undefined && p.state === 'running' && p.restarts === 0 ? 'ok' : verdict(p, 'healthcheck');
      if (v !== 'ok') throw await gateFailure(rt, ids[i]!, p, `during the monitor window: ${v === 'waiting' ? p.health ?? p.state : v}`);
    }
    await pause(Math.min(500, Math.max(0, end - performance.now())), signal);
  }
}

async function gateFailure(rt: Runtime, id: string, p: Probe, why: string): Promise<HealthGateFailure> {
  return new HealthGateFailure(`${p.name} ${why}`, p.name, p.healthLog, await lastLogLines(rt.engine, id, 20));
}

/** The last lines a container wrote (stdout and stderr), demultiplexed. */
export async function lastLogLines(engine: Engine, id: string, tail: number): Promise<string[]> {
  try {
    const raw = (await engine.docker.getContainer(id).logs({ stdout: true, stderr: true, tail, follow: false })) as unknown as Buffer;
    return demux(Buffer.isBuffer(raw) ? raw : Buffer.from(String(raw))).split('\n').filter(Boolean).slice(-tail);
  } catch {
    return [];
  }
}

/** Docker's multiplexed log stream (8-byte frame headers) to text; plain text passes through. */
export function demux(buf: Buffer): string {
  let out = '';
  let i = 0;
  while (i + 8 <= buf.length && (buf[i] === 1 || buf[i] === 2) && buf[i + 1] === 0 && buf[i + 2] === 0 && buf[i + 3] === 0) {
    const len = buf.readUInt32BE(i + 4);
    out += buf.subarray(i + 8, i + 8 + len).toString('utf8');
    i += 8 + len;
  }
  return i === 0 ? buf.toString('utf8') : out;
}
