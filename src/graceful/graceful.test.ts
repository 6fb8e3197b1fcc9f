import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import * as https from 'node:https';
import { spawn, execFileSync, type ChildProcessByStdio } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { createGraceful, parseGracePeriod, resolveSettings, SECOND_SIGNAL_EXIT_CODE, type GracefulLogger } from './index.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/server.test.fixture.js', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const quiet: GracefulLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function request(port: number, path: string, agent?: http.Agent | false): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
  });
}

async function listen(server: http.Server | https.Server): Promise<number> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as { port: number }).port;
}

// ---------- settings (pure) ----------

describe('settings', () => {
  test('grace periods parse as Compose writes them', () => {
    assert.equal(parseGracePeriod('30s'), 30_000);
    assert.equal(parseGracePeriod('1m30s'), 90_000);
    assert.equal(parseGracePeriod('500ms'), 500);
    assert.equal(parseGracePeriod('10'), 10_000);
    assert.equal(parseGracePeriod(''), undefined);
    assert.equal(parseGracePeriod('soon'), undefined);
    assert.equal(parseGracePeriod('10s later'), undefined);
  });

  test('defaults stay under Docker default 10 s grace period', () => {
    const s = resolveSettings({}, {});
    assert.equal(s.hardDeadlineMs, 8000);
    assert.equal(s.drainDelayMs, 3000);
    assert.deepEqual(s.signals, ['SIGTERM', 'SIGINT']);
    assert.deepEqual(s.warnings, []);
  });

  test('a known grace period sets the deadline below it', () => {
    assert.equal(resolveSettings({}, { BERTH_STOP_GRACE_PERIOD: '30s' }).hardDeadlineMs, 28_000);
    const short = resolveSettings({}, { BERTH_STOP_GRACE_PERIOD: '2s' });
    assert.equal(short.hardDeadlineMs, 1600);
    assert.equal(short.drainDelayMs, 640);
    assert.ok(short.drainDelayMs <= short.hardDeadlineMs);
  });

  test('a deadline not below the grace period warns; impossible settings throw', () => {
    const s = resolveSettings({ hardDeadlineMs: 12_000 }, { BERTH_STOP_GRACE_PERIOD: '10s' });
    assert.equal(s.warnings.length, 1);
    assert.match(s.warnings[0]!, /SIGKILL/);
    assert.match(resolveSettings({}, { BERTH_STOP_GRACE_PERIOD: 'half a minute' }).warnings[0]!, /is not a duration/);
    assert.throws(() => resolveSettings({ drainDelayMs: 5000, hardDeadlineMs: 4000 }, {}), RangeError);
    assert.throws(() => resolveSettings({ hardDeadlineMs: -1 }, {}), RangeError);
  });
});

// ---------- in-process: probes, in-flight, hooks, deadline (exit injected, no signal handlers) ----------

describe('in process', () => {
  test('readiness turns 503 during the drain while liveness stays 200; the app keeps serving', async () => {
    const server = http.createServer((_req, res) => res.end('app'));
    const exits: number[] = [];
    const g = createGraceful(server, { signals: [], drainDelayMs: 400, hardDeadlineMs: 3000, logger: quiet, exit: (c) => exits.push(c) });
    const port = await listen(server);
    try {
      assert.equal((await request(port, '/readyz', false)).status, 200);
      assert.equal((await request(port, '/livez', false)).status, 200);
      assert.equal((await request(port, '/anything', false)).body, 'app', 'other paths reach the app');
      const done = g.shutdown('test');
      assert.equal(g.isShuttingDown, true);
      const ready = await request(port, '/readyz?x=1', false);
      assert.equal(ready.status, 503);
      assert.deepEqual(JSON.parse(ready.body), { status: 'shutting down' });
      assert.equal((await request(port, '/livez', false)).status, 200);
      const app = await request(port, '/', false);
      assert.equal(app.body, 'app', 'still serving during the drain');
      assert.equal(app.headers.connection, 'close', 'responses during shutdown carry Connection: close');
      await done;
      assert.deepEqual(exits, [0]);
      assert.equal(server.listening, false);
    } finally {
      g.dispose();
      server.close();
    }
  });

  test('health runs the checks, each under its timeout', async () => {
    const server = http.createServer((_req, res) => res.end('app'));
    const g = createGraceful(server, {
      signals: [],
      logger: quiet,
      exit: () => undefined,
      checkTimeoutMs: 200,
      checks: { db: async () => true, cache: async () => ({ keys: 3 }) },
    });
    const port = await listen(server);
    try {
      const healthy = await request(port, '/health', false);
      assert.equal(healthy.status, 200);
      const body = JSON.parse(healthy.body);
      assert.equal(body.status, 'healthy');
      assert.deepEqual(body.checks, { db: 'ok', cache: { keys: 3 } });
      assert.equal(typeof body.uptime, 'number');
    } finally {
      g.dispose();
      server.close();
    }
    const server2 = http.createServer((_req, res) => res.end('app'));
    const g2 = createGraceful(server2, {
      signals: [],
      logger: quiet,
      exit: () => undefined,
      checkTimeoutMs: 150,
      checks: { db: () => new Promise(() => undefined), queue: async () => { throw new Error('down'); } },
    });
    const port2 = await listen(server2);
    try {
      const started = Date.now();
      const degraded = await request(port2, '/health', false);
      assert.ok(Date.now() - started < 1000, 'a hanging check is cut at its timeout');
      assert.equal(degraded.status, 503);
      const body = JSON.parse(degraded.body);
      assert.equal(body.status, 'degraded');
      assert.match(body.checks.db, /timed out after 150 ms/);
      assert.equal(body.checks.queue, 'error: down');
    } finally {
      g2.dispose();
      server2.close();
    }
  });

  test('in-flight requests complete with Connection: close; idle keep-alive sockets are ended, not reset', async () => {
    const server = http.createServer((req, res) => {
      if (req.url === '/slow') setTimeout(() => res.end('slow done'), 600);
      else res.end('fast');
    });
    const exits: number[] = [];
    const g = createGraceful(server, { signals: [], drainDelayMs: 100, hardDeadlineMs: 5000, logger: quiet, exit: (c) => exits.push(c) });
    const port = await listen(server);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    try {
      // Four pooled sockets, then idle.
      await Promise.all([1, 2, 3, 4].map(() => request(port, '/slow', agent)));
      assert.equal(g.connections, 4);
      const freeSockets = () => Object.values(agent.freeSockets).flat().length;
      assert.equal(freeSockets(), 4);
      const slow = request(port, '/slow', agent); // takes one pooled socket
      await sleep(50);
      const done = g.shutdown('test');
      const reply = await slow;
      assert.equal(reply.body, 'slow done');
      assert.equal(reply.headers.connection, 'close', 'the in-flight response told the client to reconnect');
      await done;
      assert.deepEqual(exits, [0]);
      assert.equal(g.connections, 0);
      assert.equal(freeSockets(), 0, 'the agent saw the server end its idle sockets and dropped them');
    } finally {
      agent.destroy();
      g.dispose();
      server.close();
    }
  });

  test('a response whose headers were already sent (no Connection: close possible) gets its socket ended right after it', async () => {
    const server = http.createServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      res.write('part 1 ');
      setTimeout(() => res.end('part 2'), 400);
    });
    server.keepAliveTimeout = 5000;
    const exits: number[] = [];
    const g = createGraceful(server, { signals: [], drainDelayMs: 50, hardDeadlineMs: 4000, logger: quiet, exit: (c) => exits.push(c) });
    const port = await listen(server);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const reply = request(port, '/', agent);
      await sleep(100);
      const started = Date.now();
      await g.shutdown('test');
      const took = Date.now() - started;
      const r = await reply;
      assert.equal(r.body, 'part 1 part 2');
      assert.equal(r.headers.connection, 'keep-alive', 'headers went out before the shutdown');
      assert.ok(took < 1500, `closed right after the response (${took} ms), not at the 5 s keep-alive timeout`);
      assert.deepEqual(exits, [0]);
      assert.equal(g.connections, 0);
    } finally {
      agent.destroy();
      g.dispose();
      server.close();
    }
  });

  test('works with node:https (TLS sockets tracked)', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'graceful-tls-'));
    try {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '1', '-subj', '/CN=127.0.0.1'], { stdio: 'ignore' });
    } catch {
      rmSync(dir, { recursive: true, force: true });
      t.skip('openssl not available to make a test certificate');
      return;
    }
    const { readFileSync } = await import('node:fs');
    const server = https.createServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) }, (req, res) => {
      setTimeout(() => res.end('secure'), req.url === '/slow' ? 400 : 0);
    });
    rmSync(dir, { recursive: true, force: true });
    const exits: number[] = [];
    const g = createGraceful(server, { signals: [], drainDelayMs: 50, hardDeadlineMs: 5000, logger: quiet, exit: (c) => exits.push(c) });
    const port = await listen(server);
    const agent = new https.Agent({ keepAlive: true, rejectUnauthorized: false });
    const get = (path: string) =>
      new Promise<Reply>((resolve, reject) => {
        https
          .get({ host: '127.0.0.1', port, path, agent }, (res) => {
            let body = '';
            res.on('data', (d) => (body += d));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
          })
          .on('error', reject);
      });
    try {
      assert.equal((await get('/readyz')).status, 200);
      await Promise.all([get('/'), get('/')]);
      const slow = get('/slow');
      await sleep(50);
      const done = g.shutdown('test');
      assert.equal((await slow).body, 'secure');
      await done;
      assert.deepEqual(exits, [0]);
      assert.equal(g.connections, 0);
    } finally {
      agent.destroy();
      g.dispose();
      server.close();
    }
  });

  test('long-lived responses (SSE) are ended by onConnectionClose hooks, then the shutdown completes', async () => {
    const streams = new Set<http.ServerResponse>();
    const server = http.createServer((req, res) => {
      if (req.url !== '/events') return void res.end('app');
      res.writeHead(200, { 'Content-Type': 'text/event-stream' });
      res.write('data: hello\n\n');
      streams.add(res);
      res.on('close', () => streams.delete(res));
    });
    const exits: number[] = [];
    const g = createGraceful(server, { signals: [], drainDelayMs: 50, hardDeadlineMs: 3000, logger: quiet, exit: (c) => exits.push(c) });
    const closed: string[] = [];
    g.onConnectionClose(() => {
      for (const res of streams) res.end('event: bye\ndata: shutting down\n\n');
      closed.push('sse');
    });
    const port = await listen(server);
    try {
      const body = new Promise<string>((resolve, reject) => {
        http.get({ host: '127.0.0.1', port, path: '/events', agent: false }, (res) => {
          let text = '';
          res.on('data', (d) => (text += d));
          res.on('end', () => resolve(text));
        }).on('error', reject);
      });
      await sleep(100);
      assert.equal(g.inFlight, 1);
      const started = Date.now();
      await g.shutdown('test');
      assert.ok(Date.now() - started < 1000, 'did not wait for the deadline');
      assert.deepEqual(exits, [0]);
      assert.deepEqual(closed, ['sse']);
      assert.match(await body, /data: hello[\s\S]*event: bye/);
    } finally {
      g.dispose();
      server.close();
    }
  });

  test('startup readiness: setReady(false) answers 503 starting', async () => {
    const server = http.createServer((_req, res) => res.end('app'));
    const g = createGraceful(server, { signals: [], logger: quiet, exit: () => undefined });
    const port = await listen(server);
    try {
      g.setReady(false);
      const starting = await request(port, '/readyz', false);
      assert.equal(starting.status, 503);
      assert.deepEqual(JSON.parse(starting.body), { status: 'starting' });
      assert.equal((await request(port, '/livez', false)).status, 200);
      g.setReady(true);
      assert.equal((await request(port, '/readyz', false)).status, 200);
    } finally {
      g.dispose();
      server.close();
    }
  });

  test('dispose restores the server and removes signal handlers', () => {
    const server = http.createServer();
    const emit = server.emit;
    const before = process.listenerCount('SIGTERM');
    const g = createGraceful(server, { logger: quiet, exit: () => undefined });
    assert.equal(process.listenerCount('SIGTERM'), before + 1);
    g.dispose();
    assert.equal(process.listenerCount('SIGTERM'), before);
    assert.equal(server.emit, emit);
  });
});

// ---------- child processes with real signals ----------

interface Child {
  child: ChildProcessByStdio<null, Readable, Readable>;
  port: number;
  lines: Array<Record<string, unknown>>;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
}

async function startFixture(env: Record<string, string>): Promise<Child> {
  const child = spawn(process.execPath, [FIXTURE], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: Array<Record<string, unknown>> = [];
  let err = '';
  child.stderr.on('data', (d) => (err += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((r) => child.on('exit', (code, signal) => r({ code, signal, at: Date.now() })));
  let out = '';
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout.on('data', (d) => {
      out += d;
      let nl: number;
      while ((nl = out.indexOf('\n')) !== -1) {
        const line = JSON.parse(out.slice(0, nl)) as Record<string, unknown>;
        out = out.slice(nl + 1);
        lines.push(line);
        if (typeof line.port === 'number') resolve(line.port);
      }
    });
    void exited.then(() => reject(new Error(`fixture exited early: ${err}`)));
  });
  return { child, port, lines, stderr: () => err, exited };
}

/** Keep-alive clients sending continuously; errors split by fresh vs reused socket (the keep-alive race). */
function loadWith(port: number, clients: number) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: clients });
  const stats = { ok: 0, reusedErrors: {} as Record<string, number>, freshErrors: {} as Record<string, number>, slowOk: 0 };
  let running = true;
  const one = (path: string) =>
    new Promise<void>((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, path, agent }, (res) => {
        res.resume();
        res.on('end', () => {
          stats.ok++;
          if (path === '/slow') stats.slowOk++;
          resolve();
        });
      });
      req.on('error', (e: NodeJS.ErrnoException) => {
        const bucket = req.reusedSocket ? stats.reusedErrors : stats.freshErrors;
        bucket[e.code ?? e.message] = (bucket[e.code ?? e.message] ?? 0) + 1;
        resolve();
      });
    });
  const workers = Array.from({ length: clients }, async (_, i) => {
    while (running) {
      await one(i % 4 === 0 ? '/slow' : '/');
      await sleep(Math.random() * 20);
    }
  });
  return {
    stats,
    stop: async () => {
      running = false;
      await Promise.all(workers);
      agent.destroy();
      return stats;
    },
  };
}

const sum = (o: Record<string, number>) => Object.values(o).reduce((a, b) => a + b, 0);

describe('real signals (child processes)', () => {
  test('SIGTERM: an in-flight request completes, then exit 0; a naive close+exit drops it (control)', async () => {
    const good = await startFixture({ MODE: 'graceful', DRAIN_MS: '200', SLOW_MS: '800' });
    const slow = request(good.port, '/slow', false);
    await sleep(100);
    good.child.kill('SIGTERM');
    assert.equal((await slow).body, 'slow done');
    assert.equal((await good.exited).code, 0, good.stderr());

    const naive = await startFixture({ MODE: 'naive', SLOW_MS: '800' });
    const dropped = request(naive.port, '/slow', false);
    await sleep(100);
    naive.child.kill('SIGTERM');
    await assert.rejects(dropped, /socket hang up|ECONNRESET/);
    assert.equal((await naive.exited).code, 0);
  });

  test('keep-alive clients under load see no error on reused sockets; naive shutdowns reset them (control)', async () => {
    const run = async (mode: string) => {
      const f = await startFixture({ MODE: mode, DRAIN_MS: '500', SLOW_MS: '300', DEADLINE_MS: '3000' });
      const load = loadWith(f.port, 20);
      await sleep(500);
      const signalled = Date.now();
      f.child.kill('SIGTERM');
      const exit = await f.exited;
      const stats = await load.stop();
      return { stats, exit, ms: exit.at - signalled, stderr: f.stderr() };
    };
    const good = await run('graceful');
    assert.equal(good.exit.code, 0, good.stderr);
    assert.ok(good.stats.ok > 100, `served under load (${good.stats.ok})`);
    assert.deepEqual(good.stats.reusedErrors, {}, 'no ECONNRESET / hang-up on pooled keep-alive sockets');
    assert.ok(good.ms >= 500, `kept serving through the drain (${good.ms} ms)`);

    // Controls: exiting at once, and the bare server.close(callback) pattern, both break pooled sockets.
    const naive = await run('naive');
    const closeOnly = await run('close-callback');
    assert.ok(sum(naive.stats.reusedErrors) > 0, `naive exit shows the failure: ${JSON.stringify(naive.stats)}`);
    assert.ok(sum(closeOnly.stats.reusedErrors) > 0 || closeOnly.exit.code !== 0, `close(cb) shows a failure: ${JSON.stringify(closeOnly.stats)} exit ${closeOnly.exit.code}`);
  });

  test('the hard deadline forces exit 1 at about the right time', async () => {
    const f = await startFixture({ MODE: 'graceful', DRAIN_MS: '100', DEADLINE_MS: '1200', SLOW_MS: '10000' });
    const stuck = request(f.port, '/slow', false).catch((e: Error) => e);
    await sleep(100);
    const signalled = Date.now();
    f.child.kill('SIGTERM');
    const exit = await f.exited;
    const elapsed = exit.at - signalled;
    assert.equal(exit.code, 1);
    assert.ok(elapsed >= 1150 && elapsed < 2500, `exited after ${elapsed} ms (deadline 1200)`);
    assert.match(f.stderr(), /hard deadline 1200 ms passed in phase closing \(1 requests in flight/);
    assert.ok((await stuck) instanceof Error);
  });

  test('hooks run in order, each under its timeout; a hanging or failing hook does not stop the next', async () => {
    const hooks = [
      { name: 'first', sleepMs: 100 },
      { name: 'hangs', hang: true, timeoutMs: 300 },
      { name: 'fails', fail: true },
      { name: 'last', sleepMs: 10 },
    ];
    const f = await startFixture({ MODE: 'graceful', DRAIN_MS: '0', DEADLINE_MS: '5000', HOOKS: JSON.stringify(hooks) });
    f.child.kill('SIGTERM');
    const exit = await f.exited;
    assert.equal(exit.code, 0, f.stderr());
    const events = f.lines.filter((l) => l.hook).map((l) => `${l.hook}:${l.event}`);
    assert.deepEqual(events, ['first:start', 'first:end', 'hangs:start', 'fails:start', 'last:start', 'last:end']);
    const at = (name: string) => Number(f.lines.find((l) => l.hook === name && l.event === 'start')!.at);
    const cut = at('fails') - at('hangs');
    assert.ok(cut >= 290 && cut < 1000, `the hanging hook was cut at its 300 ms timeout (${cut} ms)`);
    assert.match(f.stderr(), /hook hangs timed out after 300 ms/);
    assert.match(f.stderr(), /hook fails failed: fails failed on purpose/);
  });

  test('a second signal exits at once with 130; SIGINT starts the same shutdown', async () => {
    const f = await startFixture({ MODE: 'graceful', DRAIN_MS: '3000', DEADLINE_MS: '6000' });
    f.child.kill('SIGINT');
    await sleep(200);
    assert.equal((await request(f.port, '/readyz', false)).status, 503);
    const second = Date.now();
    f.child.kill('SIGTERM');
    const exit = await f.exited;
    assert.equal(exit.code, SECOND_SIGNAL_EXIT_CODE);
    assert.ok(exit.at - second < 500, `exited ${exit.at - second} ms after the second signal`);
    assert.ok(f.lines.some((l) => l.shutdown === 'SIGINT'));
  });
});
