/**
 * The facts doctor judges, read from the engine: inspects, one-shot stats, the engine's past
 * kill/die/oom events, logs since the last start, reachability probes from inside each
 * container's network namespace, and the host (disks, volumes, logs, engine warnings, clock).
 */
import { execFile } from 'node:child_process';
import { stat, statfs } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { promisify } from 'node:util';
import type Docker from 'dockerode';
import { listServiceContainers } from '../../compose/containers.js';
import { engineNetworkName } from '../../compose/networks.js';
import type { ComposeProject } from '../../compose/types.js';
import type { Engine } from '../../engine/client.js';
import { errorMessage } from '../../lib/errors.js';
import type { StateStore } from '../../state/store.js';
import { demux, helperImage, runInNetworkOf } from '../helper.js';
import { isErrorLine, parseLine } from '../logs/parse.js';
import type { ContainerFacts, DiskUse, DoctorFacts, HostFacts, KillEvent, ReachResult, ServiceFacts } from './types.js';

export interface CollectOptions {
  services: string[];
  host: boolean;
  reach: boolean;
  store?: StateStore;
  /** Re-measure volume sizes even when a recent measure is cached. */
  refresh?: boolean;
}

export async function collectDoctorFacts(engine: Engine, project: ComposeProject, options: CollectOptions): Promise<DoctorFacts> {
  const containers = await listServiceContainers(engine, project.name, { services: options.services, includeStopped: true });
  const inspects = new Map<string, Docker.ContainerInspectInfo>();
  await Promise.all(containers.map(async (c) => { const i = await engine.inspectContainer(c.id).catch(() => undefined); if (i) inspects.set(c.id, i); }));
  const canProbe = options.reach && (await engine.inspectImage(helperImage()).catch(() => undefined)) !== undefined;
  const services: ServiceFacts[] = [];
  for (const name of options.services) {
    const model = project.services[name]!;
    const mine = containers.filter((c) => c.service === name && inspects.has(c.id));
    const deps = await dependencyPorts(engine, project, name, containers, inspects);
    const facts = await Promise.all(mine.map(async (c) => {
      const info = inspects.get(c.id)!;
      const f = await containerFacts(engine, info, name, Object.keys(model.networks).map((k) => engineNetworkName(project, k)), model.networkMode);
      if (deps.length && info.State.Running) {
        if (!options.reach) return f;
        if (!canProbe) f.reachSkipped = `the helper image ${helperImage()} is not on this engine`;
        else f.reach = await probeReach(engine, info, deps).catch((error) => { f.reachSkipped = errorMessage(error); return undefined; });
      }
      return f;
    }));
    services.push({ name, desired: model.replicas, running: facts.filter((f) => f.running).length, dependsOn: Object.keys(model.dependsOn), containers: facts });
  }
  const host = options.host ? await collectHost(engine, project, [...inspects.values()], options) : undefined;
  return { project: project.name, services, host, collectedAt: new Date().toISOString() };
}

async function containerFacts(engine: Engine, info: Docker.ContainerInspectInfo, service: string, expectedNetworks: string[], networkMode: string | undefined): Promise<ContainerFacts> {
  const state = info.State as Docker.ContainerInspectInfo['State'] & { Health?: { Status: string; FailingStreak: number; Log?: Array<{ ExitCode: number; Output: string; End: string }> } };
  const running = state.Running;
  const startedAt = state.StartedAt && !state.StartedAt.startsWith('0001') ? state.StartedAt : undefined;
  const finishedAt = state.FinishedAt && !state.FinishedAt.startsWith('0001') ? state.FinishedAt : undefined;
  const hc = info.HostConfig as Docker.ContainerInspectInfo['HostConfig'] & { PidsLimit?: number | null };
  const facts: ContainerFacts = {
    id: info.Id,
    name: info.Name.replace(/^\//, ''),
    service,
    state: state.Status,
    running,
    startedAt,
    finishedAt: running ? undefined : finishedAt,
    exitCode: running ? undefined : state.ExitCode,
    oomKilled: Boolean(state.OOMKilled),
    restartCount: info.RestartCount ?? 0,
    restartPolicy: hc.RestartPolicy?.Name || 'no',
    stopTimeoutS: (info.Config as { StopTimeout?: number }).StopTimeout ?? 10,
    stopSignal: (info.Config as { StopSignal?: string }).StopSignal || 'SIGTERM',
    health: state.Health ? { status: state.Health.Status, failingStreak: state.Health.FailingStreak, log: (state.Health.Log ?? []).map((h) => ({ exitCode: h.ExitCode, output: h.Output, end: h.End })), ...healthcheckOf(info) } : undefined,
    networks: Object.keys(info.NetworkSettings.Networks ?? {}),
    // network_mode (host, container:, service:) gives no networks to compare.
    expectedNetworks: networkMode ? [] : expectedNetworks,
    errorLines: [],
    errorLineCount: 0,
  };
  const work: Array<Promise<unknown>> = [];
  if (running) {
    work.push((async () => {
      const stats = (await engine.docker.getContainer(info.Id).stats({ stream: false, 'one-shot': true } as { stream: false })) as unknown as { memory_stats?: { usage?: number; limit?: number; stats?: { cache?: number; total_inactive_file?: number; inactive_file?: number } }; pids_stats?: { current?: number; limit?: number } };
      const mem = stats.memory_stats;
      // As docker stats: usage minus the page cache the kernel can drop.
      const cache = mem?.stats?.total_inactive_file ?? mem?.stats?.inactive_file ?? 0;
      if (mem?.usage !== undefined && hc.Memory) facts.memory = { usage: mem.usage - cache, limit: hc.Memory };
      if (stats.pids_stats?.current !== undefined) facts.pids = { current: stats.pids_stats.current, limit: hc.PidsLimit && hc.PidsLimit > 0 ? hc.PidsLimit : undefined };
    })().catch(() => undefined));
  } else if (hc.Memory) facts.memory = { usage: 0, limit: hc.Memory };
  // The engine keeps its last 256 events only: what is there says how the last exit happened.
  const since = Math.floor(Date.parse(startedAt ?? info.Created) / 1000) - 1;
  work.push(engine.pastEvents({ type: ['container'], container: [info.Id], event: ['kill', 'die', 'oom'] }, since).then((events) => {
    const kills: KillEvent[] = [];
    const dies: Array<{ at: string; exitCode: number }> = [];
    for (const e of events) {
      const at = new Date((e.timeNano ?? (e.time ?? 0) * 1e9) / 1e6).toISOString();
      const attrs = e.Actor?.Attributes ?? {};
      if (e.Action === 'kill') kills.push({ at, signal: Number(attrs.signal) });
      if (e.Action === 'die') dies.push({ at, exitCode: Number(attrs.exitCode) });
    }
    facts.dies = dies;
    // Kills of the last run only (since its start; a stopped container's run ended at finishedAt).
    facts.kills = events.length || !finishedAt ? kills : undefined;
  }).catch(() => undefined));
  work.push(scanLogs(engine, info.Id, startedAt).then((r) => { facts.errorLines = r.samples; facts.errorLineCount = r.count; }).catch(() => undefined));
  await Promise.all(work);
  return facts;
}

/** The check as a command line (CMD / CMD-SHELL) and its timeout, for the advice. */
function healthcheckOf(info: Docker.ContainerInspectInfo): { test?: string; timeoutS?: number } {
  const hc = (info.Config as { Healthcheck?: { Test?: string[]; Timeout?: number } }).Healthcheck;
  const [kind, ...rest] = hc?.Test ?? [];
  const test = kind === 'CMD-SHELL' ? rest.join(' ') : kind === 'CMD' ? rest.map((a) => (/[^\w@%+=:,./-]/.test(a) ? `'${a.replace(/'/g, `'\\''`)}'` : a)).join(' ') : undefined;
  return { test, timeoutS: hc?.Timeout ? hc.Timeout / 1e9 : 30 };
}

/** Error lines the container wrote since its last start (at most the last 5000 lines read). */
async function scanLogs(engine: Engine, id: string, since: string | undefined): Promise<{ count: number; samples: string[] }> {
  const raw = (await engine.docker.getContainer(id).logs({ stdout: true, stderr: true, follow: false, tail: 5000, since: since ? Math.floor(Date.parse(since) / 1000) : 0 })) as unknown as Buffer;
  let count = 0;
  const samples: string[] = [];
  for (const line of demux(Buffer.isBuffer(raw) ? raw : Buffer.from(String(raw))).split('\n')) {
    if (!line.trim()) continue;
    if (isErrorLine(parseLine(line))) {
      count++;
      samples.push(line.length > 300 ? `${line.slice(0, 300)}…` : line);
      if (samples.length > 5) samples.shift();
    }
  }
  return { count, samples };
}

/** Each depends_on name of a service with the TCP port it answers on (ports, expose, the image's EXPOSE). */
async function dependencyPorts(engine: Engine, project: ComposeProject, service: string, containers: Array<{ id: string; service: string }>, inspects: Map<string, Docker.ContainerInspectInfo>): Promise<Array<{ name: string; port?: number }>> {
  const result: Array<{ name: string; port?: number }> = [];
  for (const dep of Object.keys(project.services[service]!.dependsOn)) {
    const model = project.services[dep];
    if (!model) continue;
    let port: number | undefined = model.ports.find((p) => p.protocol === 'tcp')?.target;
    const expose = (model.raw.expose as unknown[] | undefined)?.map((e) => Number.parseInt(String(e), 10)).find(Number.isFinite);
    port ??= expose;
    if (port === undefined) {
      const one = containers.find((c) => c.service === dep);
      const image = one ? inspects.get(one.id)?.Image : model.image;
      const exposed = image ? Object.keys((await engine.inspectImage(image).catch(() => undefined))?.Config?.ExposedPorts ?? {}) : [];
      port = exposed.map((p) => /^(\d+)\/tcp$/.exec(p)?.[1]).filter(Boolean).map(Number)[0];
    }
    result.push({ name: dep, port });
  }
  return result;
}

const REACH_SCRIPT = `
probe() {
  a=$(busybox nslookup "$1" 2>/dev/null | busybox awk '/^Name:/{f=1;next} f&&/^Address/{sub(/^Address:? */,""); print}' | busybox tr '\\n' ' ')
  if [ -z "$a" ]; then echo "dns $1 failed"; return; fi
  echo "dns $1 ok $a"
  [ -n "$2" ] || return 0
  if busybox timeout 5 busybox nc -w 3 "$1" "$2" -e true 2>/dev/null; then echo "tcp $1 $2 ok"; else echo "tcp $1 $2 failed"; fi
}
while [ $# -gt 1 ]; do probe "$1" "$2"; shift 2; done
`;

/** DNS of each dependency and a TCP connect to its port, from a helper inside the container's network namespace. */
export async function probeReach(engine: Engine, target: Docker.ContainerInspectInfo, deps: Array<{ name: string; port?: number }>): Promise<ReachResult[]> {
  const { output } = await runInNetworkOf(engine, target, REACH_SCRIPT, deps.flatMap((d) => [d.name, d.port === undefined ? '' : String(d.port)]));
  return parseReach(output, deps);
}

export function parseReach(output: string, deps: Array<{ name: string; port?: number }>): ReachResult[] {
  const lines = output.split('\n').map((l) => l.trim().split(/\s+/));
  return deps.map((d): ReachResult => {
    const dns = lines.find((l) => l[0] === 'dns' && l[1] === d.name);
    const tcp = lines.find((l) => l[0] === 'tcp' && l[1] === d.name);
    return {
      name: d.name,
      port: d.port,
      dns: dns?.[2] === 'ok' ? 'ok' : 'failed',
      addresses: dns?.[2] === 'ok' ? dns.slice(3).filter(Boolean) : [],
      tcp: d.port === undefined || dns?.[2] !== 'ok' ? undefined : tcp?.[3] === 'ok' ? 'ok' : 'failed',
      detail: dns ? undefined : 'the probe said nothing',
    };
  });
}

async function collectHost(engine: Engine, project: ComposeProject, inspects: Docker.ContainerInspectInfo[], options: CollectOptions): Promise<HostFacts> {
  const unknown: string[] = [];
  const info = (await engine.call('read the engine info', () => engine.docker.info())) as { DockerRootDir?: string; Warnings?: string[] | null; SystemTime?: string };
  const disks: DiskUse[] = [];
  const disk = async (what: string, path: string) => {
    try {
      const s = await statfs(path);
      const total = s.blocks * s.bsize;
      const free = s.bavail * s.bsize;
      // As df: used / (used + available to unprivileged users); blocks reserved for root do not count.
      const used = (s.blocks - s.bfree) * s.bsize;
      disks.push({ what, path, totalBytes: total, freeBytes: free, usedPercent: used + free ? Math.ceil((100 * used) / (used + free)) : 0 });
    } catch {
      unknown.push(`the disk use of ${what} (${path} is not readable here)`);
    }
  };
  if (info.DockerRootDir) await disk('the Docker root', info.DockerRootDir);
  for (const [name, dest] of Object.entries(project.berth.backup.destinations)) {
    if (dest.type === 'local') await disk(`backup destination ${name}`, isAbsolute(dest.path) ? dest.path : resolve(project.workingDir, dest.path));
  }
  const logs = { totalBytes: 0, unrotated: [] as string[], largest: [] as Array<{ name: string; bytes: number }> };
  let unreadable = 0;
  for (const c of inspects) {
    const lc = c.HostConfig.LogConfig;
    if (lc?.Type === 'json-file' && !lc.Config?.['max-size']) logs.unrotated.push(c.Name.replace(/^\//, ''));
    if (!c.LogPath) continue;
    const size = await stat(c.LogPath).then((s) => s.size, () => undefined);
    if (size === undefined) { unreadable++; continue; }
    logs.totalBytes += size;
    logs.largest.push({ name: c.Name.replace(/^\//, ''), bytes: size });
  }
  logs.largest.sort((a, b) => b.bytes - a.bytes).splice(5);
  if (unreadable) unknown.push(`the size of ${unreadable} container log file(s) (not readable by this user)`);
  const volumes = await volumeUse(engine, project, options).catch((error) => { unknown.push(`volume sizes (${errorMessage(error)})`); return undefined; });
  const clock = await clockState(info.SystemTime);
  if (clock.synchronized === undefined) unknown.push(`clock synchronisation (${clock.source})`);
  return { disks, unknown, volumes, containerLogs: logs, engineWarnings: info.Warnings ?? [], clock };
}

const VOLUME_CACHE_MS = 3_600_000;

/** Sizes of the project's volumes from /system/df (slow: tens of seconds on a big host), cached an hour in the state store. */
async function volumeUse(engine: Engine, project: ComposeProject, options: CollectOptions): Promise<HostFacts['volumes']> {
  const key = `doctor:volumes:${engine.host}:${project.name}`;
  const cached = options.store?.fact(key);
  if (cached && !options.refresh) {
    const value = JSON.parse(cached) as NonNullable<HostFacts['volumes']>;
    if (Date.now() - Date.parse(value.measuredAt) < VOLUME_CACHE_MS) return { ...value, cached: true };
  }
  const df = (await engine.call('read disk usage (/system/df)', () => engine.docker.df())) as { Volumes?: Array<{ Name: string; Labels?: Record<string, string> | null; UsageData?: { Size: number } }> };
  const mine = (df.Volumes ?? []).filter((v) => v.Labels?.['com.docker.compose.project'] === project.name).map((v) => ({ name: v.Name, bytes: Math.max(0, v.UsageData?.Size ?? 0) }));
  const value = { totalBytes: mine.reduce((s, v) => s + v.bytes, 0), largest: mine.sort((a, b) => b.bytes - a.bytes).slice(0, 5), measuredAt: new Date().toISOString(), cached: false };
  options.store?.remember(key, JSON.stringify(value));
  return value;
}

async function clockState(engineTime: string | undefined): Promise<HostFacts['clock']> {
  const skewMs = engineTime ? Date.parse(engineTime) - Date.now() : undefined;
  try {
    const { stdout } = await promisify(execFile)('timedatectl', ['show', '-p', 'NTPSynchronized', '--value'], { timeout: 3000 });
    const value = stdout.trim();
    return { synchronized: value === 'yes' ? true : value === 'no' ? false : undefined, source: 'timedatectl', skewMs };
  } catch (error) {
    return { source: (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'timedatectl is not installed' : `timedatectl failed: ${errorMessage(error)}`, skewMs };
  }
}
