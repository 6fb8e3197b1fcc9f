/**
 * berth deploy --swarm / up --swarm and status --swarm on a real two-node Swarm (src/swarm/testing.ts):
 * the example stack with tasks on both nodes, convergence, history, the full task errors of a
 * version that cannot start, and the fields Swarm would silently drop refused at file:line.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RUN_ID } from '../testing/engine.js';
import { fileURLToPath } from 'node:url';
import { buildSwarmApp, removeSwarmApps, swarmSkip, SwarmStack, SWARM_FIXTURE, TestSwarm } from './testing.js';

const skip = await swarmSkip();
let swarm: TestSwarm;
let v1 = '';
let stack: SwarmStack;

before(async () => {
  if (skip) return;
  v1 = await buildSwarmApp('1');
  // local/busybox on the manager: the base of the image the build test builds there.
  swarm = await TestSwarm.start({ images: [v1], managerImages: ['local/caddy:latest', 'local/busybox:latest'] });
  stack = new SwarmStack(swarm, `berthtest-swarm-${RUN_ID}`.toLowerCase().replace(/[^a-z0-9_-]/g, '').slice(0, 40), [SWARM_FIXTURE], { APP_IMAGE: v1 });
}, { timeout: 300_000 });

after(async () => {
  if (skip) return;
  await stack?.down();
  await swarm?.down();
  await removeSwarmApps([v1]);
}, { timeout: 120_000 });

test('berth deploy --swarm: the stack converges with app tasks on both nodes, status shows each task, history records it', { skip, timeout: 300_000 }, async () => {
  const dry = await stack.berth(['deploy', '--swarm', '--dry-run']);
  assert.equal(dry.code, 0, dry.stderr);
  // depends_on: the app first, the proxy after it converged; restart mapped; update config filled in.
  assert.match(dry.stdout, /1\. docker stack deploy app .*\n.*2\. wait until app converged[\s\S]*3\. docker stack deploy proxy/);
  assert.match(dry.stdout, /proxy: restart: always → deploy\.restart_policy\.condition: any/);
  assert.match(dry.stdout, /app: update_config\.order: start-first, update_config\.failure_action: rollback/);

  const started = performance.now();
  const deploy = await stack.berth(['deploy', '--swarm']);
  assert.equal(deploy.code, 0, `${deploy.stdout}\n${deploy.stderr}`);
  assert.match(deploy.stdout, /app: succeeded \(deploy #\d+\), .*, 2\/2 tasks/);
  assert.match(deploy.stdout, /proxy: succeeded/);
  process.stderr.write(`# deploy --swarm took ${Math.round(performance.now() - started)} ms\n`);

  const status = await stack.status();
  assert.equal(status.ok, true, JSON.stringify(status, null, 2));
  const app = status.services.find((s) => s.name === 'app')!;
  assert.equal(app.running, 2);
  assert.deepEqual(app.tasks.map((t) => t.node).sort(), [swarm.manager.hostname, swarm.worker.hostname].sort(), 'one app task on each node');
  for (const t of app.tasks) {
    assert.equal(t.state, 'running');
    assert.equal(t.health, 'healthy');
    assert.equal(t.image, v1);
  }
  // Without a docker context for the worker, its task's health is Swarm's; on the manager berth reads the container.
  assert.equal(app.tasks.find((t) => t.node === swarm.manager.hostname)!.healthFrom, 'container');
  assert.match(app.tasks.find((t) => t.node === swarm.manager.hostname)!.digest ?? '', /^sha256:/);
  assert.equal(app.tasks.find((t) => t.node === swarm.worker.hostname)!.healthFrom, 'swarm');
  // With contexts named like the nodes, both are read from their engines.
  const dockerConfig = await swarm.contexts();
  const withContexts = JSON.parse((await stack.berth(['--json', 'status', '--swarm', 'app'], { env: { DOCKER_CONFIG: dockerConfig } })).stdout);
  assert.deepEqual(withContexts.services[0].tasks.map((t: { healthFrom: string }) => t.healthFrom), ['container', 'container']);

  const port = await stack.proxyPort();
  await stack.waitServing(port, '1');
  const text = await stack.berth(['status', '--swarm']);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, new RegExp(`app +2/2 .*${swarm.manager.hostname}|app +2/2 .*${swarm.worker.hostname}`));

  const history = await stack.berth(['--json', 'history']);
  const records = JSON.parse(history.stdout) as Array<{ service: string; result: string; kind: string; detail: { target?: string } }>;
  assert.deepEqual(records.filter((r) => r.detail?.target === 'swarm').map((r) => `${r.service} ${r.kind} ${r.result}`).sort(), ['app deploy succeeded', 'proxy deploy succeeded']);
});

test('a version whose image no node has: deploy --swarm fails with the full task error, status exits 1 and names the node', { skip, timeout: 300_000 }, async () => {
  const missing = `berthtest-swarm-app:${RUN_ID}-never-built`;
  const deploy = await stack.berth(['deploy', '--swarm', 'app', '--timeout', '40s'], { env: { APP_IMAGE: missing } });
  assert.notEqual(deploy.code, 0, deploy.stdout);
  assert.match(`${deploy.stdout}${deploy.stderr}`, /No such image|not found|does not exist/i);
  assert.match(`${deploy.stdout}${deploy.stderr}`, new RegExp(missing.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
  const status = await stack.berth(['status', '--swarm', 'app']);
  assert.equal(status.code, 1, status.stdout);
  // The failed tasks' errors in full (docker service ps cuts them at ~30 characters), with their node.
  assert.match(status.stdout, new RegExp(`on berth-${swarm.id}-node[12]: No such image: ${missing.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  // Back to the good version: converges again.
  const back = await stack.berth(['deploy', '--swarm', 'app']);
  assert.equal(back.code, 0, `${back.stdout}\n${back.stderr}`);
});

test('what docker stack deploy would silently drop is refused at file:line', { skip: skip || false, timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-swarm-refuse-'));
  try {
    writeFileSync(join(dir, 'compose.yaml'), [
      'services:',
      '  web:',
      '    image: local/busybox:latest',
      '    container_name: web',
      '    ports: ["127.0.0.1:8080:80"]',
      '  builder:',
      '    build: .',
      '',
    ].join('\n'));
    const stackInDir = new SwarmStack(swarm, 'refused', [join(dir, 'compose.yaml')]);
    const r = await stackInDir.berth(['deploy', '--swarm', '--dry-run']);
    assert.equal(r.code, 2, r.stdout);
    assert.match(r.stderr, /compose\.yaml:4:\d+: web: container_name is not supported on Swarm/);
    assert.match(r.stderr, /compose\.yaml:5:\d+: web: port 80 is bound to 127\.0\.0\.1/);
    assert.match(r.stderr, /compose\.yaml:7:\d+: builder: build is not done by docker stack deploy/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('build: berth builds on the manager and loads the image on every node (no registry), then deploys', { skip, timeout: 300_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-swarm-build-'));
  try {
    const appDir = fileURLToPath(new URL('../../src/swarm/fixtures/app', import.meta.url));
    writeFileSync(join(dir, 'compose.yaml'), [
      'services:',
      '  web:',
      `    build: { context: ${appDir}, args: { APP_VERSION: built } }`,
      `    image: berthtest-swarm-built:${RUN_ID.toLowerCase()}`,
      '    healthcheck: { test: ["CMD", "sh", "-c", "test -f /tmp/healthy"], interval: 1s, retries: 3, start_period: 10s }',
      '    deploy: { replicas: 2, placement: { max_replicas_per_node: 1 } }',
      '',
    ].join('\n'));
    const built = new SwarmStack(swarm, `${stack.project.slice(0, 30)}-built`, [join(dir, 'compose.yaml')], { DOCKER_CONFIG: await swarm.contexts() });
    try {
      const dry = await built.berth(['deploy', '--swarm', '--dry-run']);
      assert.equal(dry.code, 0, dry.stderr);
      assert.match(dry.stdout, /1\. build web[\s\S]*2\. load the images of web on every node[\s\S]*3\. docker stack deploy web/);
      const deploy = await built.berth(['deploy', '--swarm']);
      assert.equal(deploy.code, 0, `${deploy.stdout}\n${deploy.stderr}`);
      assert.match(deploy.stderr, new RegExp(`loaded on ${swarm.worker.hostname}`));
      const status = await built.status();
      assert.deepEqual(status.services[0]!.tasks.map((t) => t.node).sort(), [swarm.manager.hostname, swarm.worker.hostname].sort(), 'the built image runs on both nodes');
      // Without --build the file's build: is refused (the image is not known to be on the nodes).
      const refused = await built.berth(['up', '--swarm', '--no-build', '--dry-run']);
      assert.equal(refused.code, 2);
      assert.match(refused.stderr, /compose\.yaml:3:\d+: web: build is not done by docker stack deploy/);
    } finally {
      await built.down();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
