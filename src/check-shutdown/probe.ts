/**
 * The executor of the shutdown probe: starts a throwaway container of the service (or takes the
 * running one, in place), optionally streams requests at it, stops it exactly as Docker does and
 * records what happened. The verdict comes from judge().
 */
import { randomBytes } from 'node:crypto';
import * as http from 'node:http';
import type Docker from 'dockerode';
import type { Engine, EngineEvent } from '../engine/client.js';
import { statusCode } from '../engine/client.js';
import { BerthError, ExitCode, errorMessage } from '../lib/errors.js';
import { judge, signalName } from './judge.js';
import { planShutdownProbe, requestsPerSecond, stopTimeoutSeconds } from './plan.js';
import { startRequestStream, type RequestStream } from './requests.js';
import { analyzePid1, effectiveCommand, splitWords } from './spec.js';
import type { ProbeOptions, ShutdownFacts, ShutdownReport, ShutdownSpec } from './types.js';

export const PROBE_LABEL = 'berth.probe';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Engine events of one container, collected from a subscription opened before the stop. */
async function subscribeEvents(engine: Engine, containerId: string, onEvent: (event: EngineEvent) => void = () => undefined): Promise<{ events: EngineEvent[]; close(): void }> {
  const events: EngineEvent[] = [];
  const subscription = await engine.containerEvents([containerId], (event) => {
    events.push(event);
    onEvent(event);
  });
  return { events, close: subscription.close };
}

/** Docker's multiplexed log stream (no TTY) to text lines. */
export function demuxLogs(buffer: Buffer): string[] {
  const parts: string[] = [];
  let offset = 0;
  const framed = buffer.length >= 8 && (buffer[0] === 1 || buffer[0] === 2) && buffer[1] === 0 && buffer[2] === 0 && buffer[3] === 0;
  if (!framed) return buffer.toString('utf8').split('\n').filter(Boolean);
  while (offset + 8 <= buffer.length) {
    const size = buffer.readUInt32BE(offset + 4);
    parts.push(buffer.subarray(offset + 8, offset + 8 + size).toString('utf8'));
    offset += 8 + size;
  }
  return parts.join('').split('\n').filter(Boolean);
}

async function logTail(container: Docker.Container, lines = 20): Promise<string[]> {
  try {
    const out = (await container.logs({ stdout: true, stderr: true, tail: lines, follow: false })) as unknown as Buffer;
    return demuxLogs(Buffer.isBuffer(out) ? out : Buffer.from(String(out)));
  } catch {
    return [];
  }
}

function httpStatus(port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false, timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
  });
}

/**
 * Waits until the app answers HTTP (any status). `exited` when the container stopped by itself;
 * `http: false` when it runs but never answered HTTP in time (a worker, or not HTTP on that port):
 * the probe then goes on without requests. (A TCP connect proves nothing: Docker's proxy accepts it.)
 */
async function waitReady(container: Docker.Container, hostPort: number | undefined, path: string, timeoutMs: number): Promise<{ exited?: string; http: boolean }> {
  const deadline = Date.now() + timeoutMs;
  if (hostPort === undefined) await sleep(Math.min(2000, timeoutMs));
  for (;;) {
    const info = await container.inspect();
    if (!info.State.Running) return { exited: `exited with code ${info.State.ExitCode} before it was stopped`, http: false };
    if (hostPort === undefined) return { http: false };
    try {
      await httpStatus(hostPort, path);
      return { http: true };
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) return { http: false };
    await sleep(100);
  }
}

function publishedPort(info: Docker.ContainerInspectInfo, port: number): number | undefined {
  const bindings = info.NetworkSettings.Ports?.[`${port}/tcp`] ?? [];
  const local = bindings.find((b) => b.HostIp === '127.0.0.1') ?? bindings.find((b) => b.HostIp === '0.0.0.0' || b.HostIp === '' || b.HostIp === '::');
  return local ? Number(local.HostPort) : undefined;
}

interface Measured {
  facts: Partial<ShutdownFacts>;
}

/**
 * Stops a running container as Docker does and measures it: processes before, signals the engine
 * sent, time from the first signal to the exit, exit code, and the request stream's failures.
 */
async function stopAndMeasure(
  engine: Engine,
  container: Docker.Container,
  spec: ShutdownSpec,
  options: ProbeOptions,
  hostPort: number | undefined,
): Promise<Measured> {
  const progress = options.onProgress ?? (() => undefined);
  const facts: Partial<ShutdownFacts> = {};
  const top = await container.top({ ps_args: '-o pid,args' }).catch(() => undefined);
  facts.processes = ((top?.Processes ?? []) as string[][]).map((p) => p[p.length - 1] ?? '').filter(Boolean);

  let stream: RequestStream | undefined;
  // Once the container is gone nothing answers: requests sent after that say nothing about its shutdown.
  const subscription = await subscribeEvents(engine, container.id, (event) => {
    if ((event.Action ?? event.status) === 'die') stream?.halt();
  });
  try {
    const rps = requestsPerSecond(spec, options);
    if (rps > 0 && hostPort !== undefined) {
      stream = await startRequestStream({
        port: hostPort,
        path: spec.path ?? '/',
        readinessPath: spec.readinessPath ?? '/readyz',
        requestsPerSecond: rps,
        readinessPollMs: options.readinessPollMs ?? 1000,
      });
      // Let the stream reach a steady state (keep-alive sockets open, requests in flight).
      await sleep(500);
    }
    const t = stopTimeoutSeconds(spec.stopGracePeriodMs);
    progress(`stopping (t=${t}s)`);
    stream?.markStop();
    const stopAt = Date.now();
    try {
      await container.stop({ t });
    } catch (error) {
      if (statusCode(error) !== 304) throw error; // 304: it had already stopped
    }
    const stoppedAt = Date.now();
    if (stream) facts.requests = await stream.finish();
    stream = undefined;
    // The die event may trail the stop response by a moment.
    for (let i = 0; i < 20 && !subscription.events.some((e) => (e.Action ?? e.status) === 'die'); i++) await sleep(50);
    const kills = subscription.events.filter((e) => (e.Action ?? e.status) === 'kill');
    const die = subscription.events.find((e) => (e.Action ?? e.status) === 'die');
    facts.signalsSent = kills.map((e) => signalName(e.Actor?.Attributes?.signal ?? '?'));
    facts.sigkill = facts.signalsSent.includes('SIGKILL');
    // Both times from the engine's clock when it reported them (no skew with a remote engine).
    const firstKill = kills[0]?.timeNano;
    facts.timeToExitMs = Math.round(firstKill && die?.timeNano ? (die.timeNano - firstKill) / 1e6 : stoppedAt - stopAt);
    const info = await container.inspect();
    facts.exitCode = die?.Actor?.Attributes?.exitCode !== undefined ? Number(die.Actor.Attributes.exitCode) : info.State.ExitCode;
    if (facts.sigkill || (facts.exitCode ?? 0) !== 0) facts.logTail = await logTail(container);
    return { facts };
  } finally {
    if (stream) await stream.finish().catch(() => undefined);
    subscription.close();
  }
}

function asArray(value: string[] | string | undefined): string[] | undefined {
  return value === undefined ? undefined : typeof value === 'string' ? splitWords(value) : value;
}

function baseFacts(spec: ShutdownSpec, image: Docker.ImageInspectInfo, mode: ShutdownFacts['mode']): ShutdownFacts {
  const { argv, source } = effectiveCommand(spec, image.Config);
  return {
    service: spec.service,
    image: spec.image,
    mode,
    pid1: analyzePid1(argv, source),
    processes: [],
    init: spec.init ?? false,
    stopSignal: signalName(spec.stopSignal ?? (image.Config as { StopSignal?: string }).StopSignal ?? 'SIGTERM'),
    gracePeriodMs: spec.stopGracePeriodMs,
    ...(spec.appDeadlineMs !== undefined ? { appDeadlineMs: spec.appDeadlineMs } : {}),
    started: false,
    signalsSent: [],
    sigkill: false,
    notes: [],
  };
}

async function inspectImageOrFail(engine: Engine, ref: string): Promise<Docker.ImageInspectInfo> {
  const image = await engine.inspectImage(ref);
  if (!image) {
    throw new BerthError(`image ${ref} not found on the engine`, { exitCode: ExitCode.usage, hint: 'build or pull it first (berth compose build / pull)' });
  }
  return image;
}

/**
 * Probes the shutdown of a throwaway container made from the spec. The container is labelled
 * berth.probe (plus options.labels) and always removed, also when something fails.
 */
export async function probeShutdown(engine: Engine, spec: ShutdownSpec, options: ProbeOptions = {}): Promise<ShutdownReport> {
  const progress = options.onProgress ?? (() => undefined);
  const plan = planShutdownProbe(spec, options, 'throwaway');
  const image = await inspectImageOrFail(engine, spec.image);
  const facts = baseFacts(spec, image, 'throwaway');

  const existingNetworks: string[] = [];
  for (const name of spec.networks) {
    const found = await engine.docker.getNetwork(name).inspect().then(() => true, () => false);
    if (found) existingNetworks.push(name);
    else facts.notes.push(`network ${name} does not exist (is the project up?): the probe runs without it`);
  }
  const portKey = spec.port !== undefined ? `${spec.port}/tcp` : undefined;
  const name = `berth-probe-${spec.service.replace(/[^a-zA-Z0-9_.-]/g, '-')}-${randomBytes(3).toString('hex')}`;
  const createOptions: Docker.ContainerCreateOptions = {
    name,
    Image: spec.image,
    ...(spec.entrypoint !== undefined ? { Entrypoint: asArray(spec.entrypoint) } : {}),
    ...(spec.command !== undefined ? { Cmd: asArray(spec.command) } : {}),
    Env: Object.entries(spec.env).map(([k, v]) => `${k}=${v}`),
    Labels: { ...spec.labels, [PROBE_LABEL]: spec.labels[PROBE_LABEL] ?? spec.service, ...options.labels },
    ...(spec.workingDir ? { WorkingDir: spec.workingDir } : {}),
    ...(spec.user ? { User: spec.user } : {}),
    ...(spec.stopSignal ? { StopSignal: spec.stopSignal } : {}),
    StopTimeout: stopTimeoutSeconds(spec.stopGracePeriodMs),
    ...(portKey ? { ExposedPorts: { [portKey]: {} } } : {}),
    HostConfig: {
      ...(spec.init !== undefined ? { Init: spec.init } : {}),
      ...(portKey ? { PortBindings: { [portKey]: [{ HostIp: '127.0.0.1', HostPort: '' }] } } : {}),
      ...(spec.binds?.length ? { Binds: spec.binds } : {}),
      NetworkMode: existingNetworks[0] ?? 'bridge',
      RestartPolicy: { Name: 'no' },
    },
  };
  progress(`creating ${name} from ${spec.image}`);
  const container = await engine.call(`create the probe container ${name}`, () => engine.docker.createContainer(createOptions));
  try {
    for (const network of existingNetworks.slice(1)) {
      await engine.call(`connect ${name} to ${network}`, () => engine.docker.getNetwork(network).connect({ Container: container.id }));
    }
    await engine.call(`start ${name}`, () => container.start());
    const info = await container.inspect();
    facts.init = info.HostConfig.Init === true;
    facts.pid1 = analyzePid1([info.Path, ...info.Args], facts.pid1.source);
    const hostPort = spec.port !== undefined ? publishedPort(info, spec.port) : undefined;
    progress('waiting for the app to answer');
    const startTimeoutMs = options.startTimeoutMs ?? 30_000;
    const ready = await waitReady(container, hostPort, spec.path ?? '/', startTimeoutMs);
    if (ready.exited) {
      facts.startError = ready.exited;
      facts.logTail = await logTail(container);
      return { facts, verdict: judge(facts), plan };
    }
    if (hostPort !== undefined && !ready.http) {
      facts.notes.push(`port ${spec.port} did not answer HTTP within ${Math.round(startTimeoutMs / 1000)}s: stopped without requests`);
    }
    facts.started = true;
    const measured = await stopAndMeasure(engine, container, spec, options, ready.http ? hostPort : undefined);
    Object.assign(facts, measured.facts);
    return { facts, verdict: judge(facts), plan };
  } finally {
    await container.remove({ force: true, v: true }).catch((error: unknown) => {
      if (statusCode(error) !== 404) progress(`could not remove ${name}: ${errorMessage(error)}`);
    });
  }
}

/**
 * Probes the service's own running container (`--in-place`): stops it as Docker does, measures,
 * and starts it again. The service is down meanwhile; the CLI says so before it starts.
 */
export async function probeShutdownInPlace(engine: Engine, spec: ShutdownSpec, containerId: string, options: ProbeOptions = {}): Promise<ShutdownReport> {
  const plan = planShutdownProbe(spec, options, 'in-place');
  const container = engine.docker.getContainer(containerId);
  const info = await engine.inspectContainer(containerId);
  if (!info.State.Running) throw new BerthError(`container ${info.Name.replace(/^\//, '')} is not running`, { exitCode: ExitCode.degraded, hint: 'start the service first, or probe without --in-place' });
  const image = await inspectImageOrFail(engine, info.Image);
  // The running container is the truth: its command, init and stop settings, whatever the file says now.
  const config = info.Config as typeof info.Config & { StopSignal?: string; StopTimeout?: number };
  const actual: ShutdownSpec = {
    ...spec,
    image: info.Config.Image,
    entrypoint: undefined,
    command: undefined,
    init: info.HostConfig.Init === true,
    stopSignal: config.StopSignal ?? spec.stopSignal,
    stopGracePeriodMs: config.StopTimeout !== undefined ? config.StopTimeout * 1000 : spec.stopGracePeriodMs,
  };
  const facts = baseFacts(actual, image, 'in-place');
  facts.pid1 = analyzePid1([info.Path, ...info.Args], 'image');
  const hostPort = spec.port !== undefined ? publishedPort(info, spec.port) : undefined;
  if (spec.port !== undefined && hostPort === undefined) facts.notes.push(`port ${spec.port} is not published on the host: no requests sent`);
  facts.started = true;
  try {
    const measured = await stopAndMeasure(engine, container, actual, options, hostPort);
    Object.assign(facts, measured.facts);
  } finally {
    await engine.call(`start ${info.Name.replace(/^\//, '')} again`, () => container.start()).catch((error: unknown) => {
      if (statusCode(error) !== 304) throw error;
    });
  }
  return { facts, verdict: judge(facts), plan };
}
