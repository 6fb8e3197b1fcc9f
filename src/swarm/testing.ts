/**
 * A real two-node Docker Swarm on this one machine, for the swarm tests and the benchmark, built
 * entirely from dockerds of its own (the shared engine is never put into swarm mode):
 *
 *   netns <id>-1 (10.99.0.1, manager)  <== veth pair ==>  netns <id>-2 (10.99.0.2, worker)
 *
 * Each node is a dockerd in its own network and UTS namespace (its own hostname, so Swarm tells the
 * nodes apart by name), with its own data-root, exec-root, pidfile and socket under
 * /run/berth-swarm-<id>/ and /var/lib/berth-swarm-<id>/. berth and the docker CLI reach the manager
 * through DOCKER_HOST=unix://<manager socket>; load runs inside the manager's namespace
 * (`nsenter --net`), so no packet leaves the namespace pair. Images move in with
 * `docker save | docker load`. `down()` undoes everything, also after a failed start.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Engine } from '../engine/client.js';
import { errorMessage } from '../lib/errors.js';
import type { LoadResult } from '../rollout/load.js';
import { execFileAsync, RUN_ID } from '../testing/engine.js';
import { runBerth, type CliResult } from '../testing/cli.js';
import type { StackStatusReport } from '../status/stack.js';

export interface SwarmNode {
  /** 1 (manager) or 2 (worker). */
  index: number;
  /** The node's hostname (its own UTS namespace): what `docker node ls` and task placement show. */
  hostname: string;
  /** Network namespace name (`ip netns`), and its path for nsenter. */
  netns: string;
  netnsPath: string;
  address: string;
  socket: string;
  /** DOCKER_HOST of this node's engine. */
  host: string;
  dataRoot: string;
  execRoot: string;
  pidfile: string;
  log: string;
  pid?: number;
}

const SUBNET = '10.99.0';

/** Runs a command, failing with its stderr. */
async function run(cmd: string, args: string[], options: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<string> {
  try {
    const { stdout } = await execFileAsync(cmd, args, { env: { ...process.env, ...options.env }, timeout: options.timeoutMs ?? 60_000, maxBuffer: 64 * 1024 * 1024 });
    return String(stdout);
  } catch (error) {
    const e = error as { stderr?: string };
    throw new Error(`${cmd} ${args.join(' ')}: ${(e.stderr ?? errorMessage(error)).toString().trim()}`);
  }
}

/** Why the swarm tests cannot run here (not root, no ip/nsenter/dockerd), or false. */
export async function swarmUnavailable(): Promise<string | false> {
  if (process.getuid?.() !== 0) return 'the two-node Swarm needs root (network namespaces)';
  for (const tool of ['ip', 'nsenter', 'unshare', 'dockerd', 'docker']) {
    try { await execFileAsync('sh', ['-c', `command -v ${tool}`]); } catch { return `${tool} is not installed (scripts/engine install)`; }
  }
  return false;
}

/**
 * Skip reason for `test(..., { skip })`. Under CI=true a missing prerequisite fails instead, as
 * integrationEngine() does.
 */
export async function swarmSkip(): Promise<string | false> {
  const reason = await swarmUnavailable();
  if (!reason) return false;
  if (process.env.CI === 'true') throw new Error(`no two-node Swarm for the swarm tests: ${reason}`);
  process.stderr.write(`\n!!! SKIPPED: no two-node Swarm: ${reason}\n\n`);
  return reason;
}

export class TestSwarm {
  readonly id: string;
  readonly runDir: string;
  readonly libDir: string;
  readonly nodes: [SwarmNode, SwarmNode];
  readonly vethA: string;
  readonly vethB: string;
  private readonly children: ChildProcess[] = [];
  private engines = new Map<number, Engine>();

  private constructor(id?: string) {
    this.id = id ?? randomBytes(3).toString('hex');
    this.runDir = `/run/berth-swarm-${this.id}`;
    this.libDir = `/var/lib/berth-swarm-${this.id}`;
    this.vethA = `bsw${this.id}a`;
    this.vethB = `bsw${this.id}b`;
    const node = (index: number): SwarmNode => ({
      index,
      hostname: `berth-${this.id}-node${index}`,
      netns: `berth-swarm-${this.id}-${index}`,
      netnsPath: `/run/netns/berth-swarm-${this.id}-${index}`,
      address: `${SUBNET}.${index}`,
      socket: `${this.runDir}/node${index}.sock`,
      host: `unix://${this.runDir}/node${index}.sock`,
      dataRoot: `${this.libDir}/node${index}`,
      execRoot: `${this.runDir}/node${index}`,
      pidfile: `${this.runDir}/node${index}.pid`,
      log: `${this.runDir}/node${index}.log`,
    });
    this.nodes = [node(1), node(2)];
  }

  /**
   * Tears down every swarm a run left behind (a test process killed before its after()): each
   * /run/berth-swarm-<id>/owner names the run id and the pid that made it. With a run id, that run's;
   * without, those whose process is gone.
   */
  static async sweep(runId?: string): Promise<string[]> {
    const swept: string[] = [];
    for (const entry of readdirSync('/run').filter((e) => /^berth-swarm-[0-9a-f]{6}$/.test(e))) {
      const [owner, pid] = (() => { try { return readFileSync(`/run/${entry}/owner`, 'utf8').trim().split(' '); } catch { return []; } })();
      const ours = runId !== undefined ? owner === runId : pid !== undefined && !alive(Number(pid));
      if (!ours) continue;
      const swarm = new TestSwarm(entry.slice('berth-swarm-'.length));
      for (const n of swarm.nodes) n.pid = readPid(n.pidfile);
      await swarm.down().catch(() => undefined);
      swept.push(entry);
    }
    return swept;
  }

  get manager(): SwarmNode { return this.nodes[0]; }
  get worker(): SwarmNode { return this.nodes[1]; }

  /** Environment for berth and the docker CLI: the manager's engine. */
  env(): Record<string, string> {
    return { DOCKER_HOST: this.manager.host };
  }

  /** Starts both engines, forms the swarm (both nodes Ready) and loads the images onto the nodes. */
  static async start(options: { images?: string[]; managerImages?: string[]; workerImages?: string[] } = {}): Promise<TestSwarm> {
    const swarm = new TestSwarm();
    try {
      await swarm.network();
      await Promise.all(swarm.nodes.map((n) => swarm.startEngine(n)));
      await swarm.form();
      if (options.images?.length) await swarm.loadImages(options.images);
      if (options.managerImages?.length) await swarm.loadImages(options.managerImages, [swarm.manager]);
      if (options.workerImages?.length) await swarm.loadImages(options.workerImages, [swarm.worker]);
      return swarm;
    } catch (error) {
      const logs = swarm.nodes.map((n) => (existsSync(n.log) ? `${n.hostname}: ${readFileSync(n.log, 'utf8').split('\n').slice(-15).join('\n')}` : '')).join('\n');
      await swarm.down();
      throw new Error(`the two-node Swarm did not start: ${errorMessage(error)}\n${logs}`);
    }
  }

  private async network(): Promise<void> {
    mkdirSync(this.runDir, { recursive: true });
    mkdirSync(this.libDir, { recursive: true });
    // Written first, so a sweep after a crash knows what this swarm made.
    writeFileSync(`${this.runDir}/owner`, `${RUN_ID} ${process.pid}\n`);
    for (const n of this.nodes) await run('ip', ['netns', 'add', n.netns]);
    await run('ip', ['link', 'add', this.vethA, 'type', 'veth', 'peer', 'name', this.vethB]);
    await run('ip', ['link', 'set', this.vethA, 'netns', this.manager.netns]);
    await run('ip', ['link', 'set', this.vethB, 'netns', this.worker.netns]);
    for (const [n, dev] of [[this.manager, this.vethA], [this.worker, this.vethB]] as const) {
      await run('ip', ['-n', n.netns, 'addr', 'add', `${n.address}/24`, 'dev', dev]);
      await run('ip', ['-n', n.netns, 'link', 'set', dev, 'up']);
      await run('ip', ['-n', n.netns, 'link', 'set', 'lo', 'up']);
    }
  }

  private async startEngine(n: SwarmNode): Promise<void> {
    mkdirSync(n.dataRoot, { recursive: true });
    mkdirSync(n.execRoot, { recursive: true });
    const out = openSync(n.log, 'a');
    // nsenter, not `ip netns exec` (which remounts /sys: dockerd then finds no cgroups); a UTS
    // namespace of its own gives the node its own hostname. iptables stays on: its rules live in the
    // node's own namespace, and without them Docker's DNS (127.0.0.11, tasks.SERVICE) answers nothing.
    const dockerd = ['dockerd', '-H', n.host, '--data-root', n.dataRoot, '--exec-root', n.execRoot, '--pidfile', n.pidfile,
      '--bridge', 'none', '--ip6tables=false', '--log-level', 'warn'].join(' ');
    const child = spawn('nsenter', [`--net=${n.netnsPath}`, 'unshare', '--uts', 'sh', '-c', `hostname ${n.hostname} && exec ${dockerd}`], { stdio: ['ignore', out, out], detached: true });
    closeSync(out);
    child.unref();
    this.children.push(child);
    n.pid = child.pid;
    const deadline = performance.now() + 60_000;
    for (;;) {
      try {
        await run('docker', ['-H', n.host, 'info', '--format', '{{.ID}}'], { timeoutMs: 5_000 });
        return;
      } catch (error) {
        if (child.exitCode !== null) throw new Error(`dockerd of ${n.hostname} exited (${child.exitCode})`);
        if (performance.now() > deadline) throw new Error(`dockerd of ${n.hostname} did not answer in 60 s: ${errorMessage(error)}`);
        await sleep(200);
      }
    }
  }

  private async form(): Promise<void> {
    const m = this.manager;
    await run('docker', ['-H', m.host, 'swarm', 'init', '--advertise-addr', m.address, '--listen-addr', `${m.address}:2377`]);
    const token = (await run('docker', ['-H', m.host, 'swarm', 'join-token', '-q', 'worker'])).trim();
    await run('docker', ['-H', this.worker.host, 'swarm', 'join', '--token', token, '--advertise-addr', this.worker.address, `${m.address}:2377`]);
    const deadline = performance.now() + 60_000;
    for (;;) {
      const ready = (await run('docker', ['-H', m.host, 'node', 'ls', '--format', '{{.Hostname}} {{.Status}}'])).trim().split('\n').filter((l) => l.endsWith(' Ready'));
      if (ready.length === 2) return;
      if (performance.now() > deadline) throw new Error(`the nodes did not become Ready: ${ready.join(', ')}`);
      await sleep(300);
    }
  }

  /** `docker save IMAGES | docker load` into each node (default: both), from the shared engine. */
  async loadImages(images: string[], nodes: SwarmNode[] = this.nodes): Promise<void> {
    for (const n of nodes) {
      await run('sh', ['-c', `docker save ${images.map((i) => `'${i}'`).join(' ')} | docker -H '${n.host}' load -q`], { timeoutMs: 300_000 });
    }
  }

  /** The engine of one node (berth's client, as berth would connect to it). */
  async engine(n: SwarmNode = this.manager): Promise<Engine> {
    let engine = this.engines.get(n.index);
    if (!engine) {
      engine = await Engine.connect({ host: n.host });
      this.engines.set(n.index, engine);
    }
    return engine;
  }

  /** The docker CLI against one node. */
  docker(args: string[], n: SwarmNode = this.manager, options: { timeoutMs?: number } = {}): Promise<string> {
    return run('docker', ['-H', n.host, ...args], options);
  }

  /** argv that runs a command inside a node's network namespace. */
  inNamespace(n: SwarmNode, argv: string[]): string[] {
    return ['nsenter', `--net=${n.netnsPath}`, ...argv];
  }

  /**
   * A docker CLI config with one context per node, named by the node's hostname: how berth finds the
   * engine of the node a task runs on (`DOCKER_CONFIG=<dir>`).
   */
  async contexts(): Promise<string> {
    const dir = `${this.runDir}/docker-config`;
    if (existsSync(dir)) return dir;
    mkdirSync(dir, { recursive: true });
    for (const n of this.nodes) await run('docker', ['context', 'create', n.hostname, '--docker', `host=${n.host}`], { env: { DOCKER_CONFIG: dir } });
    return dir;
  }

  /** Bounded load inside the manager's namespace against 127.0.0.1:port there. */
  startLoad(port: number, options: { rps?: number; maxMs?: number; path?: string } = {}): NamespaceLoad {
    return new NamespaceLoad(this.inNamespace(this.manager, [process.execPath, LOADGEN, String(port), String(options.rps ?? 40), String(options.maxMs ?? 120_000), options.path ?? '/']));
  }

  /** Leaves the swarm, stops both dockerds by pid, deletes the veth pair, namespaces and data roots. */
  async down(): Promise<void> {
    const problems: string[] = [];
    this.engines.clear();
    for (const n of [...this.nodes].reverse()) {
      if (n.pid === undefined) continue;
      await run('docker', ['-H', n.host, 'swarm', 'leave', '--force'], { timeoutMs: 30_000 }).catch(() => undefined);
    }
    for (const n of this.nodes) {
      const pid = n.pid ?? readPid(n.pidfile);
      if (pid !== undefined) await stopProcess(pid, 30_000).catch((e) => problems.push(`${n.hostname}: ${errorMessage(e)}`));
      // A dockerd killed hard leaves its containerd (pidfile under the exec-root) behind.
      const containerd = readPid(`${n.execRoot}/containerd/containerd.pid`);
      if (containerd !== undefined) await stopProcess(containerd, 10_000).catch(() => undefined);
    }
    await unmountUnder([this.runDir, this.libDir]);
    await run('ip', ['-n', this.manager.netns, 'link', 'del', this.vethA]).catch(() => undefined);
    for (const n of this.nodes) await run('ip', ['netns', 'del', n.netns]).catch(() => undefined);
    rmSync(this.libDir, { recursive: true, force: true });
    rmSync(this.runDir, { recursive: true, force: true });
    if (problems.length) throw new Error(`swarm teardown: ${problems.join('; ')}`);
  }
}

function readPid(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch { return undefined; }
}

function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

/** SIGTERM, wait, SIGKILL: one process, by its pid. */
async function stopProcess(pid: number, graceMs: number): Promise<void> {
  if (!alive(pid)) return;
  process.kill(pid, 'SIGTERM');
  const deadline = performance.now() + graceMs;
  while (alive(pid) && performance.now() < deadline) await sleep(100);
  if (alive(pid)) {
    process.kill(pid, 'SIGKILL');
    await sleep(200);
  }
  // A zombie of ours counts as gone.
  if (alive(pid) && !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ')) throw new Error(`pid ${pid} did not exit`);
}

/** Unmounts (lazily, deepest first) whatever a dockerd left mounted under these directories. */
async function unmountUnder(dirs: string[]): Promise<void> {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4] ?? '').filter((m) => dirs.some((d) => m === d || m.startsWith(`${d}/`)));
  for (const m of mounts.sort((a, b) => b.length - a.length)) await run('umount', ['-l', m]).catch(() => undefined);
}

const LOADGEN = fileURLToPath(new URL('./loadgen.js', import.meta.url));

/** The load generator of src/rollout/load.ts, run in a node's namespace (loadgen.ts), driven over stdin. */
export class NamespaceLoad {
  private readonly child: ChildProcess;
  private buffer = '';
  private waiting: Array<(r: LoadResult) => void> = [];
  private exited: Promise<void>;
  private stderr = '';

  constructor(argv: string[]) {
    this.child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout!.on('data', (d) => {
      this.buffer += d;
      let i;
      while ((i = this.buffer.indexOf('\n')) >= 0) {
        const line = this.buffer.slice(0, i);
        this.buffer = this.buffer.slice(i + 1);
        this.waiting.shift()?.(JSON.parse(line) as LoadResult);
      }
    });
    this.child.stderr!.on('data', (d) => (this.stderr += d));
    this.exited = new Promise((resolve) => this.child.on('close', () => resolve()));
  }

  private ask(command: string): Promise<LoadResult> {
    return new Promise((resolve, reject) => {
      if (this.child.exitCode !== null) return reject(new Error(`the load generator exited: ${this.stderr}`));
      this.waiting.push(resolve);
      this.child.stdin!.write(`${command}\n`);
    });
  }

  mark(): Promise<LoadResult> { return this.ask('mark'); }
  snapshot(): Promise<LoadResult> { return this.ask('snapshot'); }
  async stop(): Promise<LoadResult> {
    const result = await this.ask('stop');
    await this.exited;
    return result;
  }
  kill(): void { if (this.child.exitCode === null) this.child.kill('SIGKILL'); }
}

export const SWARM_FIXTURE = fileURLToPath(new URL('../../src/swarm/fixtures/compose.yaml', import.meta.url));
const SWARM_APP_DIR = fileURLToPath(new URL('../../src/swarm/fixtures/app', import.meta.url));

/** Builds the swarm test app (busybox, 2 MB) on the shared engine, labelled for cleanup. */
export async function buildSwarmApp(version: string, options: { broken?: boolean } = {}): Promise<string> {
  const tag = `berthtest-swarm-app:${RUN_ID}-${version}`;
  await execFileAsync('docker', ['build', '-q', '-t', tag, '--label', `berth.test=${RUN_ID}`, '--build-arg', `APP_VERSION=${version}`, '--build-arg', `APP_BROKEN=${options.broken ? 1 : 0}`, SWARM_APP_DIR], { env: { ...process.env, DOCKER_BUILDKIT: '0' } });
  return tag;
}

/** Removes the app images this run built on the shared engine. */
export async function removeSwarmApps(tags: string[]): Promise<void> {
  for (const tag of tags) await execFileAsync('docker', ['image', 'rm', '-f', tag]).catch(() => undefined);
}

/** One stack on the test swarm, driven through the real berth CLI with DOCKER_HOST = the manager. */
export class SwarmStack {
  readonly stateDir = mkdtempSync(join(tmpdir(), 'berth-swarm-state-'));
  constructor(readonly swarm: TestSwarm, readonly project: string, readonly files: string[] = [SWARM_FIXTURE], public env: Record<string, string> = {}) {}

  berth(args: string[], options: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<CliResult> {
    return runBerth([...this.files.flatMap((f) => ['-f', f]), '-p', this.project, ...args], { env: { ...this.swarm.env(), BERTH_STATE_DIR: this.stateDir, ...this.env, ...options.env }, timeoutMs: options.timeoutMs ?? 240_000 });
  }

  async status(): Promise<StackStatusReport> {
    const r = await this.berth(['--json', 'status', '--swarm']);
    try { return JSON.parse(r.stdout) as StackStatusReport; } catch { throw new Error(`berth status --swarm gave no JSON (exit ${r.code}): ${r.stderr}`); }
  }

  /** The host-mode port the proxy task publishes inside the manager's namespace. */
  async proxyPort(): Promise<number> {
    const proxy = (await this.status()).services.find((s) => s.name === 'proxy');
    const port = proxy?.tasks.find((t) => t.state === 'running')?.ports.find((p) => p.target === 80)?.published;
    if (!port) throw new Error('the proxy task publishes no port');
    return port;
  }

  /** One request through the proxy from inside the manager's namespace: the x-app-version that answered, or the error. */
  async version(port: number): Promise<string> {
    // node, not busybox wget (whose static build segfaults here).
    const script = `fetch('http://127.0.0.1:${port}/cgi-bin/v', { signal: AbortSignal.timeout(5000) }).then((r) => console.log(r.ok ? r.headers.get('x-app-version') ?? 'no version header' : 'failed: HTTP ' + r.status), (e) => console.log('failed: ' + (e.cause?.code ?? e.message)))`;
    const [cmd, ...args] = this.swarm.inNamespace(this.swarm.manager, [process.execPath, '-e', script]);
    try {
      return String((await execFileAsync(cmd!, args)).stdout).trim();
    } catch (error) {
      return `failed: ${errorMessage(error)}`;
    }
  }

  /** Until the proxy answers with this version (Caddy has resolved the tasks). */
  async waitServing(port: number, version: string, timeoutMs = 30_000): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    let last = '';
    while ((last = await this.version(port)) !== version) {
      if (performance.now() > deadline) throw new Error(`the proxy did not serve version ${version} in time: ${last}`);
      await sleep(300);
    }
  }

  /** Service logs of the stack's app (every node's tasks, through the manager). */
  logs(service: string): Promise<string> {
    return this.swarm.docker(['service', 'logs', '--raw', `${this.project}_${service}`]);
  }

  async down(): Promise<void> {
    await this.swarm.docker(['stack', 'rm', this.project]).catch(() => undefined);
    rmSync(this.stateDir, { recursive: true, force: true });
  }
}
