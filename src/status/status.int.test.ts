import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { runBerth } from '../testing/cli.js';
import { integrationEngine, removeComposeProject, testName, testScope } from '../testing/engine.js';
import type { StatusReport } from './report.js';

const fixture = fileURLToPath(new URL('../../src/status/fixtures/compose.yaml', import.meta.url));
const { engine, skip } = await integrationEngine();
const project = testName('status');
// The fixture labels what it creates berth.test=$BERTH_TEST_RUN: this file's own scope.
const env = { BERTH_TEST_RUN: testScope('status') };
const berth = (...args: string[]) => runBerth(['-f', fixture, '-p', project, ...args], { env });

async function status(...services: string[]): Promise<{ code: number; report: StatusReport }> {
  const profile = services.includes('sick') ? ['--profile', 'sick'] : [];
  const result = await berth(...profile, 'status', '--json', ...services);
  assert.equal(result.stderr, '', 'status --json writes nothing to stderr');
  return { code: result.code, report: JSON.parse(result.stdout) as StatusReport };
}

describe('berth status against the real engine (Compose v1 here)', { skip }, () => {
  before(async () => {
    const up = await berth('up', 'web', 'worker');
    assert.equal(up.code, 0, up.stderr);
  });
  after(async () => {
    await berth('--profile', 'sick', 'compose', '--', 'down', '-v', '--remove-orphans');
    if (engine) await removeComposeProject(engine, project);
  });

  test('a running, healthy stack: desired = running, health, image, ports; exit 0', async () => {
    const { code, report } = await status();
    assert.equal(code, 0);
    assert.equal(report.ok, true);
    const web = report.services.find((s) => s.name === 'web')!;
    assert.equal(web.desired, 2);
    assert.equal(web.running, 2);
    assert.deepEqual(web.containers.map((c) => c.health), ['healthy', 'healthy']);
    assert.deepEqual(web.containers.map((c) => c.name), [`${project}_web_1`, `${project}_web_2`]);
    assert.ok(web.containers.every((c) => c.image === 'local/busybox:latest' && c.imageId.startsWith('sha256:')));
    assert.ok(web.containers.every((c) => c.ports.length === 1 && c.ports[0]!.hostIp === '127.0.0.1' && c.ports[0]!.containerPort === 8080));
    assert.ok(web.containers.every((c) => (c.uptimeMs ?? -1) >= 0 && c.restartCount === 0));
    const worker = report.services.find((s) => s.name === 'worker')!;
    assert.deepEqual(worker.containers.map((c) => c.health), ['none']);
  });

  test('text output names every container and ends with the verdict', async () => {
    const result = await berth('status');
    assert.equal(result.code, 0);
    assert.match(result.stdout, new RegExp(`${project}_web_1\\s+healthy`));
    assert.match(result.stdout, /✓ .*all services at their desired replicas and healthy/);
  });

  test('a partly running stack: exit 1, the stopped replica is named', async () => {
    await engine!.docker.getContainer(`${project}_web_2`).stop({ t: 1 });
    const { code, report } = await status('web');
    assert.equal(code, 1);
    const web = report.services[0]!;
    assert.equal(web.running, 1);
    assert.deepEqual(web.problems, ['1 of 2 replicas running']);
    assert.match(web.containers.find((c) => c.name === `${project}_web_2`)!.problem ?? '', /^exited/);
    await engine!.docker.getContainer(`${project}_web_2`).start();
  });

  test('an unhealthy container: exit 1 and "unhealthy", never read as healthy', async () => {
    const up = await berth('--profile', 'sick', 'compose', '--', 'up', '-d', 'sick');
    assert.equal(up.code, 0, up.stderr);
    let last: { code: number; report: StatusReport } | undefined;
    for (let i = 0; i < 40; i++) {
      last = await status('sick');
      if (last.report.services[0]!.containers[0]?.health === 'unhealthy') break;
      await new Promise((r) => setTimeout(r, 500));
    }
    assert.equal(last!.report.services[0]!.containers[0]!.health, 'unhealthy');
    assert.equal(last!.code, 1);
    const text = await berth('--profile', 'sick', 'status', 'sick');
    assert.equal(text.code, 1);
    assert.match(text.stdout, /unhealthy/);
    assert.doesNotMatch(text.stdout, /\shealthy\s/);
  });

  test('a stopped stack: every service at zero, exit 1', async () => {
    const down = await berth('--profile', 'sick', 'compose', '--', 'down', '-v');
    assert.equal(down.code, 0, down.stderr);
    const { code, report } = await status();
    assert.equal(code, 1);
    assert.deepEqual(report.services.map((s) => [s.name, s.running, s.desired]), [['web', 0, 2], ['worker', 0, 1]]);
  });
});
