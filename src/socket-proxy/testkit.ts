/** Helpers for the socket proxy's integration tests and benchmark (not shipped behaviour). */
import { connect, createServer, type Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { createAudit, type Audit } from './audit.js';
import { loadProxyConfig, startSocketProxy, type ProxyOptions, type RunningProxy } from './index.js';
import type { AuditEntry } from './audit.js';
import type { Engine } from '../engine/client.js';
import { removeByLabel, RUN_ID, TEST_LABEL } from '../testing/engine.js';

/**
 * Everything a test file creates carries berth.test=<RUN_ID> (the run's final cleanup) and an
 * owner label, so the file's own cleanup removes only its own things: files run concurrently and
 * share the run id.
 */
export const OWNER_LABEL = 'berth.test.owner';
export function testOwner(file: string) {
  const owner = `${RUN_ID}-${file}`;
  return {
    owner,
    labels: { [TEST_LABEL]: RUN_ID, [OWNER_LABEL]: owner } as Record<string, string>,
    cli: ['--label', `${TEST_LABEL}=${RUN_ID}`, '--label', `${OWNER_LABEL}=${owner}`],
  };
}

export function removeOwned(engine: Engine, owner: string): Promise<void> {
  return removeByLabel(engine, `${OWNER_LABEL}=${owner}`);
}

export const DOCKER_SOCKET = '/var/run/docker.sock';

export interface TestProxy extends RunningProxy {
  port: number;
  entries: AuditEntry[];
  dockerHost: string;
}

/** Starts a proxy on 127.0.0.1:0 with the given env (no process env), recording audit entries. */
export async function startTestProxy(env: Record<string, string>, options: Omit<ProxyOptions, 'env' | 'listen'> = {}): Promise<TestProxy> {
  const loaded = loadProxyConfig({ ...options, env, listen: ['127.0.0.1:0'] });
  const base = createAudit({ destination: false });
  const entries: AuditEntry[] = [];
  const audit: Audit = { ...base, record: (e) => { entries.push(e); base.record(e); } };
  const proxy = await startSocketProxy({ ...loaded.config, audit });
  const port = Number(proxy.address.split(':').pop());
  return { ...proxy, port, entries, dockerHost: `tcp://127.0.0.1:${port}` };
}

/** Runs the docker CLI against DOCKER_HOST; never throws, returns code and output. */
export function dockerCli(dockerHost: string | undefined, args: string[], timeoutMs = 60_000): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = { ...process.env };
  if (dockerHost) env.DOCKER_HOST = dockerHost; else delete env.DOCKER_HOST;
  return new Promise((resolve) => {
    execFile('docker', args, { env, timeout: timeoutMs, encoding: 'utf8' }, (error, stdout, stderr) => {
      const code = error ? (typeof (error as NodeJS.ErrnoException).code === 'number' ? Number((error as NodeJS.ErrnoException).code) : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/**
 * Sends raw bytes to a TCP port or unix socket and collects what comes back until the peer
 * closes or `idleMs` passes without data.
 */
export function rawExchange(to: { port: number } | { path: string }, data: Buffer | string, idleMs = 1500): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve) => {
    const socket = 'port' in to ? connect({ host: '127.0.0.1', port: to.port }) : connect({ path: to.path });
    const chunks: Buffer[] = [];
    let timer: NodeJS.Timeout | undefined;
    let closed = false;
    const done = () => { clearTimeout(timer); socket.destroy(); resolve({ text: Buffer.concat(chunks).toString('latin1'), closed }); };
    const arm = () => { clearTimeout(timer); timer = setTimeout(done, idleMs); };
    socket.on('connect', () => { socket.write(data); arm(); });
    socket.on('data', (c) => { chunks.push(c); arm(); });
    socket.on('end', () => { closed = true; done(); });
    socket.on('error', () => { closed = true; done(); });
  });
}

/** Status codes of every response in a raw exchange, in order. */
export function statuses(text: string): number[] {
  return [...text.matchAll(/HTTP\/1\.[01] (\d{3})/g)].map((m) => Number(m[1]));
}

/**
 * A proxy in front of a fake daemon (a node:net server on a unix socket in a temporary folder):
 * framing and streaming tests that need exact control of what the "daemon" writes.
 */
export async function proxyOverFakeDaemon(onConnection: (socket: Socket) => void, env: Record<string, string>): Promise<{ proxy: RunningProxy; port: number; close: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'berth-sp-fake-'));
  const socketPath = join(dir, 'fake-docker.sock');
  const daemon = createServer(onConnection);
  await new Promise<void>((resolve) => daemon.listen(socketPath, resolve));
  const loaded = loadProxyConfig({ env, listen: ['127.0.0.1:0'], socketPath });
  const proxy = await startSocketProxy({ ...loaded.config, audit: createAudit({ destination: false }) });
  const close = async () => {
    await proxy.close();
    await new Promise<void>((resolve) => daemon.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  };
  return { proxy, port: Number(proxy.address.split(':').pop()), close };
}

/**
 * A relay in front of the daemon: a unix socket that pipes every connection to the real docker
 * socket and records what went towards the daemon, so a test sees what actually reached it (not
 * only what the proxy answered). `open` counts the daemon-side connections still open.
 */
export interface RecordingRelay {
  socketPath: string;
  /** Everything sent towards the daemon so far, all connections, as latin1 text. */
  sent(): string;
  /** The request lines the daemon received (`POST /v1.41/... HTTP/1.1`). */
  requestLines(): string[];
  /** Daemon-side connections open now (the daemon has not closed them); with `marker`, only those whose requests contained it. */
  open(marker?: string): number;
  /** Connections the proxy still holds open towards the relay (it has not ended or closed them). */
  proxySideOpen(): number;
  close(): Promise<void>;
}

export async function startRecordingRelay(target = DOCKER_SOCKET): Promise<RecordingRelay> {
  const dir = mkdtempSync(join(tmpdir(), 'berth-sp-relay-'));
  const socketPath = join(dir, 'relay.sock');
  const chunks: Buffer[] = [];
  const pairs = new Set<Socket>();
  /** What each daemon-side connection still open was sent. */
  const openConnections = new Map<Socket, Buffer[]>();
  let open = 0;
  let proxySide = 0;
  const server = createServer({ allowHalfOpen: true }, (client) => {
    proxySide++;
    let proxyCounted = true;
    const proxyDone = () => { if (proxyCounted) { proxyCounted = false; proxySide--; } };
    client.on('end', proxyDone);
    client.on('close', proxyDone);
    const daemon = connect({ path: target, allowHalfOpen: true });
    const mine: Buffer[] = [];
    openConnections.set(daemon, mine);
    daemon.on('close', () => openConnections.delete(daemon));
    client.on('data', (d: Buffer) => mine.push(d));
    open++;
    pairs.add(client).add(daemon);
    let counted = true;
    const done = () => { if (counted) { counted = false; open--; } };
    daemon.on('close', done);
    client.on('data', (d: Buffer) => chunks.push(Buffer.from(d)));
    client.pipe(daemon);
    daemon.pipe(client);
    client.on('error', () => daemon.destroy());
    daemon.on('error', () => client.destroy());
    client.on('close', () => { pairs.delete(client); daemon.destroy(); }); // nothing can go back any more
    daemon.on('close', () => { pairs.delete(daemon); client.destroy(); });
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  const sent = () => Buffer.concat(chunks).toString('latin1');
  return {
    socketPath,
    sent,
    requestLines: () => [...sent().matchAll(/(?:^|\r\n)((?:GET|HEAD|POST|PUT|DELETE) \S+ HTTP\/1\.[01])\r\n/g)].map((m) => m[1]!),
    open: (marker) => (marker === undefined ? open : [...openConnections.values()].filter((sent) => Buffer.concat(sent).toString('latin1').includes(marker)).length),
    proxySideOpen: () => proxySide,
    async close() {
      for (const s of pairs) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
