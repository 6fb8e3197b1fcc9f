// Tecnativa's behaviour table with the real docker CLI, in compat and in strict mode.
import { spawn } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { integrationEngine, testName } from '../testing/engine.js';
import { DOCKER_SOCKET, dockerCli, rawExchange, startRecordingRelay, startTestProxy, statuses, type TestProxy, removeOwned, testOwner } from './testkit.js';

const { engine, skip } = await integrationEngine();
const own = testOwner('compat');
const proxies: TestProxy[] = [];
const proxy = async (env: Record<string, string>, compat: boolean) => {
  const p = await startTestProxy(env, { compat });
  proxies.push(p);
  return p;
};
let containerId = '';

before(async () => {
  if (skip) return;
  const name = testName('spcompat');
  const r = await dockerCli(undefined, ['run', '-d', '--name', name, ...own.cli, 'local/busybox:latest', 'sh', '-c', 'echo hello-from-log; sleep 300']);
  assert.equal(r.code, 0, r.stderr);
  containerId = r.stdout.trim();
});
after(async () => {
  await Promise.all(proxies.map((p) => p.close()));
  if (engine) await removeOwned(engine, own.owner);
});

for (const compat of [true, false]) {
  describe(`behaviour table (${compat ? 'compat' : 'strict'} mode)`, () => {
    test('defaults: docker version allowed, everything else denied', { skip }, async () => {
      const p = await proxy({}, compat);
      const version = await dockerCli(p.dockerHost, ['version', '--format', '{{.Server.APIVersion}}']);
      assert.equal(version.code, 0, version.stderr);
      assert.equal(version.stdout.trim(), '1.41');
      for (const args of [['ps'], ['images'], ['info'], ['network', 'ls'], ['volume', 'ls'], ['inspect', containerId]]) {
        const r = await dockerCli(p.dockerHost, args);
        assert.notEqual(r.code, 0, `docker ${args.join(' ')} should be denied`);
        assert.match(r.stderr + r.stdout, /berth socket-proxy|403|Forbidden|denied/i, args.join(' '));
      }
      // Negative control: the same command works on the raw socket.
      assert.equal((await dockerCli(undefined, ['ps'])).code, 0);
    });

    test('CONTAINERS=1: logs and inspect allowed; run, rm and restart denied (daemon state unchanged)', { skip }, async () => {
      const p = await proxy({ CONTAINERS: '1' }, compat);
      const logs = await dockerCli(p.dockerHost, ['logs', containerId]);
      assert.equal(logs.code, 0, logs.stderr);
      assert.match(logs.stdout, /hello-from-log/);
      const inspect = await dockerCli(p.dockerHost, ['inspect', '--format', '{{.Id}}', containerId]);
      assert.equal(inspect.stdout.trim(), containerId);
      const startedAt = (await engine!.docker.getContainer(containerId).inspect()).State.StartedAt;
      const runName = testName('sprun');
      const run = await dockerCli(p.dockerHost, ['run', '--rm', '--name', runName, ...own.cli, 'local/busybox:latest', 'true']);
      assert.notEqual(run.code, 0);
      assert.match(run.stderr, /berth socket-proxy/);
      const rm = await dockerCli(p.dockerHost, ['rm', '-f', containerId]);
      assert.notEqual(rm.code, 0);
      const restart = await dockerCli(p.dockerHost, ['restart', containerId]);
      assert.notEqual(restart.code, 0);
      const after = await engine!.docker.getContainer(containerId).inspect();
      assert.equal(after.State.Running, true, 'container still running');
      assert.equal(after.State.StartedAt, startedAt, 'container not restarted');
      assert.equal((await engine!.docker.listContainers({ all: true, filters: { name: [runName] } })).length, 0, 'no container created');
    });

    test(`POST=1 NETWORKS=1: network ls and create allowed; rm ${compat ? 'too (Tecnativa)' : 'only with DELETE=1'}`, { skip }, async () => {
      const p = await proxy({ POST: '1', NETWORKS: '1' }, compat);
      const name = testName('spnet');
      assert.equal((await dockerCli(p.dockerHost, ['network', 'ls'])).code, 0);
      const create = await dockerCli(p.dockerHost, ['network', 'create', ...own.cli, name]);
      assert.equal(create.code, 0, create.stderr);
      assert.equal((await engine!.docker.listNetworks({ filters: { name: [name] } })).length, 1);
      let remover = p;
      if (!compat) {
        const denied = await dockerCli(p.dockerHost, ['network', 'rm', name]);
        assert.notEqual(denied.code, 0, 'strict: POST=1 does not grant removing');
        assert.match(denied.stderr, /DELETE=1/);
        assert.equal((await engine!.docker.listNetworks({ filters: { name: [name] } })).length, 1);
        remover = await proxy({ POST: '1', NETWORKS: '1', DELETE: '1' }, compat);
      }
      const rm = await dockerCli(remover.dockerHost, ['network', 'rm', name]);
      assert.equal(rm.code, 0, rm.stderr);
      assert.equal((await engine!.docker.listNetworks({ filters: { name: [name] } })).length, 0);
      assert.notEqual((await dockerCli(p.dockerHost, ['ps'])).code, 0, 'containers still denied');
    });

    test('CONTAINERS=1 EXEC=1 POST=1: docker exec works', { skip }, async () => {
      const p = await proxy({ CONTAINERS: '1', EXEC: '1', POST: '1' }, compat);
      const r = await dockerCli(p.dockerHost, ['exec', containerId, 'sh', '-c', 'echo exec-$((40+2))']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.trim(), 'exec-42');
      const stdin = await new Promise<string>((resolve, reject) => {
        const child = dockerSpawn(p.dockerHost, ['exec', '-i', containerId, 'sh', '-c', 'cat; echo done']);
        let out = '';
        child.stdout!.on('data', (d: Buffer) => (out += d));
        child.on('error', reject);
        child.on('close', () => resolve(out));
        child.stdin!.end('piped-through\n');
      });
      assert.equal(stdin, 'piped-through\ndone\n');
    });
  });
}

test('compat mode keeps HAProxy truthiness: CONTAINERS=true is OFF', { skip }, async () => {
  const p = await proxy({ CONTAINERS: 'true' }, true);
  assert.notEqual((await dockerCli(p.dockerHost, ['ps'])).code, 0);
  const strict = await proxy({ CONTAINERS: 'true' }, false);
  assert.equal((await dockerCli(strict.dockerHost, ['ps'])).code, 0);
});

function dockerSpawn(dockerHost: string, args: string[]) {
  return spawn('docker', args, { env: { ...process.env, DOCKER_HOST: dockerHost }, stdio: ['pipe', 'pipe', 'inherit'] });
}

// The README's table "--compat: where it differs from Tecnativa on purpose", row by row: the
// request, what berth --compat answers, and (the control) what the daemon answers to the same
// bytes, which is what Tecnativa's HAProxy would have forwarded them to. None of these requests
// is one a Docker client sends; the docker CLI cases above and in clients.int.test pass.
describe('--compat: the deliberate differences from Tecnativa, each with its request', () => {
  const get = (target: string, extra = '') => `GET ${target} HTTP/1.1\r\nHost: d\r\n${extra}Connection: close\r\n\r\n`;
  const rows: [string, () => string, number, number | undefined][] = [
    ['non-canonical path (encoded dot segments)', () => get('/v1.41/containers/%2e%2e/images/json'), 400, 301],
    ['case: /CONTAINERS (HAProxy matches -i)', () => get('/v1.41/CONTAINERS/json'), 403, 404],
    ['prefix without a segment boundary: /containersjson', () => get('/v1.41/containersjson'), 403, 404],
    ['malformed version prefix /v1..41', () => get('/v1..41/containers/json'), 400, undefined],
    ['methods beyond the five: PATCH with POST=1', () => `PATCH /v1.41/containers/${containerId}/json HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n`, 405, 404],
    ['HTTP/2 prior knowledge (PRI *)', () => 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 400, undefined],
    ['Upgrade: h2c', () => get('/v1.41/containers/json', 'Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n').replace('Connection: close\r\n', ''), 400, undefined],
    ['Upgrade where the endpoint does not hijack', () => get('/v1.41/containers/json', 'Connection: Upgrade\r\nUpgrade: tcp\r\n').replace('Connection: close\r\n', ''), 400, 200],
    ['framing ambiguity: Content-Length and Transfer-Encoding', () => `POST /v1.41/containers/${containerId}/json HTTP/1.1\r\nHost: d\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n`, 400, undefined],
  ];
  for (const [what, bytes, berth, daemon] of rows) {
    test(what, { skip }, async () => {
      const relay = await startRecordingRelay();
      const p = await proxy({ CONTAINERS: '1', POST: '1' }, true);
      const viaRelay = await startTestProxy({ CONTAINERS: '1', POST: '1' }, { compat: true, socketPath: relay.socketPath });
      try {
        const r = await rawExchange({ port: viaRelay.port }, bytes());
        assert.equal(statuses(r.text)[0], berth, r.text.slice(0, 300));
        assert.equal(relay.sent(), '', 'nothing reached the daemon');
        assert.equal(statuses((await rawExchange({ port: p.port }, bytes())).text)[0], berth);
        if (daemon !== undefined) assert.equal(statuses((await rawExchange({ path: DOCKER_SOCKET }, bytes())).text)[0], daemon, 'the daemon\'s own answer to the same bytes');
      } finally {
        await viaRelay.close();
        await relay.close();
      }
    });
  }
  test('a malformed chunked body: refused before the head reaches the daemon (HAProxy streams the head first)', { skip }, async () => {
    const relay = await startRecordingRelay();
    const p = await startTestProxy({ CONTAINERS: '1', POST: '1' }, { compat: true, socketPath: relay.socketPath });
    try {
      const r = await rawExchange({ port: p.port }, `POST /v1.41/containers/${containerId}/stop HTTP/1.1\r\nHost: d\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\nzz\r\n`);
      assert.equal(statuses(r.text)[0], 400);
      assert.equal(relay.sent(), '');
      assert.equal((await engine!.docker.getContainer(containerId).inspect()).State.Running, true);
    } finally {
      await p.close();
      await relay.close();
    }
  });
});
