// Real clients through the proxy under a permissive policy: ps, logs -f, events, exec, run;
// streams stay open by default and are cut by the compat idle timeout when configured.
import { spawn } from 'node:child_process';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { integrationEngine, testName } from '../testing/engine.js';
import { dockerCli, startTestProxy, type TestProxy, removeOwned, testOwner, OWNER_LABEL } from './testkit.js';

const { engine, skip } = await integrationEngine();
const own = testOwner('clients');
const label = `${OWNER_LABEL}=${own.owner}`;
const permissive = { CONTAINERS: '1', IMAGES: '1', NETWORKS: '1', VOLUMES: '1', EXEC: '1', INFO: '1', POST: '1', DELETE: '1' };
let proxy: TestProxy;
let containerId = '';

before(async () => {
  if (skip) return;
  proxy = await startTestProxy(permissive);
  // Prints one line, then stays silent: a log stream that goes idle.
  const r = await dockerCli(undefined, ['run', '-d', '--name', testName('spcli'), ...own.cli, 'local/busybox:latest', 'sh', '-c', 'echo first-line; sleep 600']);
  assert.equal(r.code, 0, r.stderr);
  containerId = r.stdout.trim();
});
after(async () => {
  await proxy?.close();
  if (engine) await removeOwned(engine, own.owner);
});

/** Starts a long-running docker command; resolves lines as they come. */
function stream(dockerHost: string, args: string[]) {
  const child = spawn('docker', args, { env: { ...process.env, DOCKER_HOST: dockerHost }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d));
  child.stderr.on('data', (d: Buffer) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return {
    child,
    exited,
    output: () => out,
    async waitFor(re: RegExp, ms = 15_000) {
      const end = Date.now() + ms;
      while (!re.test(out)) {
        if (Date.now() > end) throw new Error(`timed out waiting for ${re} in ${JSON.stringify(out)}`);
        await sleep(50);
      }
    },
  };
}

test('docker ps, inspect, run and exec through the proxy', { skip }, async () => {
  const ps = await dockerCli(proxy.dockerHost, ['ps', '--filter', `label=${label}`, '--format', '{{.ID}}']);
  assert.equal(ps.code, 0, ps.stderr);
  assert.ok(containerId.startsWith(ps.stdout.trim().split('\n')[0]!));
  const run = await dockerCli(proxy.dockerHost, ['run', '--rm', ...own.cli, 'local/busybox:latest', 'sh', '-c', 'echo run-$((6*7))']);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout.trim(), 'run-42');
  const exec = await dockerCli(proxy.dockerHost, ['exec', containerId, 'sh', '-c', 'echo exec-ok; echo to-stderr >&2; exit 3']);
  assert.equal(exec.code, 3);
  assert.equal(exec.stdout.trim(), 'exec-ok');
  assert.equal(exec.stderr.trim(), 'to-stderr');
  // Large output through an exec hijack arrives complete.
  const big = await dockerCli(proxy.dockerHost, ['exec', containerId, 'sh', '-c', 'i=0; while [ $i -lt 20000 ]; do echo line-$i; i=$((i+1)); done']);
  assert.equal(big.stdout.trim().split('\n').length, 20000);
  assert.ok(proxy.entries.some((e) => e.path.endsWith('/start') && e.status === 101), 'exec start was a 101 hijack');
});

test('docker events streams', { skip }, async () => {
  const events = stream(proxy.dockerHost, ['events', '--filter', `label=${label}`, '--format', '{{.Action}}']);
  try {
    await sleep(500);
    const name = testName('spev');
    const r = await dockerCli(proxy.dockerHost, ['create', '--name', name, ...own.cli, 'local/busybox:latest', 'true']);
    assert.equal(r.code, 0, r.stderr);
    await dockerCli(proxy.dockerHost, ['rm', name]);
    await events.waitFor(/create[^]*destroy/);
  } finally {
    events.child.kill();
  }
});

test('logs -f stays open by default; the compat idle timeout cuts it', { skip }, async () => {
  const open = stream(proxy.dockerHost, ['logs', '-f', containerId]);
  const cutProxy = await startTestProxy(permissive, { compat: true, idleTimeoutMs: 1000 });
  const cut = stream(cutProxy.dockerHost, ['logs', '-f', containerId]);
  try {
    await open.waitFor(/first-line/);
    await cut.waitFor(/first-line/);
    const started = Date.now();
    const code = await Promise.race([cut.exited, sleep(10_000).then(() => 'still running')]);
    assert.notEqual(code, 'still running', 'the idle stream was cut');
    assert.ok(Date.now() - started < 5000);
    const cutLogged = () => cutProxy.entries.some((e) => e.path.endsWith('/logs') && e.status === 408 && /idle/.test(e.reason ?? ''));
    for (let i = 0; i < 40 && !cutLogged(); i++) await sleep(50);
    assert.ok(cutLogged(), `the cut is logged as the idle timeout's: ${JSON.stringify(cutProxy.entries)}`);
    await sleep(1500);
    assert.equal(open.child.exitCode, null, 'the default stream is still open after the idle period');
    // ...and still delivers: a new log line arrives (exec appends to PID 1's stdout).
    await dockerCli(undefined, ['exec', containerId, 'sh', '-c', 'echo later-line > /proc/1/fd/1']);
    await open.waitFor(/later-line/);
  } finally {
    open.child.kill();
    cut.child.kill();
    await cutProxy.close();
  }
});

test('audit entries: one per request, with verdict, rule, status and duration', { skip }, async () => {
  const entry = proxy.entries.find((e) => e.method === 'GET' && e.path.endsWith('/containers/json'));
  assert.ok(entry);
  assert.equal(entry.verdict, 'allow');
  assert.equal(entry.rule, 'CONTAINERS');
  assert.equal(entry.status, 200);
  assert.equal(typeof entry.durationMs, 'number');
  const metrics = await proxy.audit.registry.metrics();
  assert.match(metrics, /berth_socket_proxy_requests_total\{verdict="allow",rule="CONTAINERS"\} \d+/);
});
