import assert from 'node:assert/strict';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { statSync } from 'node:fs';
import { runBerth } from '../testing/cli.js';
import { integrationEngine, removeComposeProject, testName } from '../testing/engine.js';
import type { StatusReport } from './report.js';

const compose = fileURLToPath(new URL('../../examples/production/compose.yaml', import.meta.url));
const { engine, skip } = await integrationEngine();
const project = testName('example');
// An ephemeral port on 127.0.0.1 for the proxy; the socket proxy gets the socket's group.
const env = { PROXY_BIND: '127.0.0.1:', DOCKER_GID: String(statSync('/var/run/docker.sock', { throwIfNoEntry: false })?.gid ?? 0) };
const berth = (...args: string[]) => runBerth(['-f', compose, '-p', project, ...args], { env, timeoutMs: 400_000 });

function get(port: number): Promise<{ status: number; version: string | undefined }> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/' }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, version: res.headers['x-app-version'] as string | undefined }));
    }).on('error', reject);
  });
}

describe('the example production stack, brought up with the installed Compose (v1 here)', { skip }, () => {
  before(async () => {
    const up = await berth('up');
    assert.equal(up.code, 0, `berth up failed:\n${up.stderr}`);
  });
  after(async () => {
    await berth('--profile', 'backup', '--profile', 'migrate', 'compose', '--', 'down', '-v', '--remove-orphans');
    if (engine) await removeComposeProject(engine, project);
  });

  test('berth status: every service at its desired replicas and healthy, exit 0', async () => {
    const result = await berth('status', '--json');
    assert.equal(result.code, 0, result.stdout);
    const report = JSON.parse(result.stdout) as StatusReport;
    const byName = Object.fromEntries(report.services.map((s) => [s.name, s]));
    assert.deepEqual(Object.keys(byName).sort(), ['app', 'db', 'proxy', 'socket-proxy']);
    assert.equal(byName.app!.desired, 2);
    assert.equal(byName.app!.running, 2);
    for (const name of ['app', 'db', 'proxy']) assert.ok(byName[name]!.containers.every((c) => c.health === 'healthy'), `${name} healthy`);
    assert.equal(byName['socket-proxy']!.running, 1);
  });

  test('traffic flows through the proxy to the app, only via 127.0.0.1', async () => {
    const result = await berth('status', '--json', 'proxy');
    const report = JSON.parse(result.stdout) as StatusReport;
    const port = report.services[0]!.containers[0]!.ports.find((p) => p.containerPort === 80)!;
    assert.equal(port.hostIp, '127.0.0.1');
    const response = await get(port.hostPort);
    assert.equal(response.status, 200);
    assert.equal(response.version, '1');
    const app = JSON.parse((await berth('status', '--json', 'app')).stdout) as StatusReport;
    assert.deepEqual(app.services[0]!.containers.flatMap((c) => c.ports), [], 'the app publishes no host port');
  });
});
