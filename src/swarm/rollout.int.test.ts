/**
 * berth rollout / rollback --swarm under load through a real proxy (Caddy resolving tasks.app every
 * second, endpoint_mode dnsrr) on the two-node fixture: Swarm's own start-first, health-gated update
 * loses no request; a version that never becomes healthy serves none and Swarm rolls it back; the
 * negative control, a plain `docker service update --update-order stop-first`, fails requests.
 * The app tasks report whether Swarm's DNS listed them before they were healthy and at SIGTERM.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { describeLoad } from '../rollout/testing.js';
import type { LoadResult } from '../rollout/load.js';
import { execFileAsync, RUN_ID } from '../testing/engine.js';
import { buildSwarmApp, removeSwarmApps, swarmSkip, SwarmStack, SWARM_FIXTURE, TestSwarm } from './testing.js';

const skip = await swarmSkip();
let swarm: TestSwarm;
let stack: SwarmStack;
let port = 0;
const images: Record<string, string> = {};

before(async () => {
  if (skip) return;
  for (const v of ['1', '2', '3']) images[v] = await buildSwarmApp(v);
  images.broken = await buildSwarmApp('9', { broken: true });
  swarm = await TestSwarm.start({ images: Object.values(images), managerImages: ['local/caddy:latest'] });
  stack = new SwarmStack(swarm, `berthtest-swarmroll-${RUN_ID}`.toLowerCase().replace(/[^a-z0-9_-]/g, '').slice(0, 40), [SWARM_FIXTURE], { APP_IMAGE: images['1']! });
  const deploy = await stack.berth(['deploy', '--swarm']);
  if (deploy.code !== 0) throw new Error(`deploy --swarm failed: ${deploy.stdout}\n${deploy.stderr}`);
  port = await stack.proxyPort();
  await stack.waitServing(port, '1');
}, { timeout: 300_000 });

after(async () => {
  if (skip) return;
  await stack?.down();
  await swarm?.down();
  await removeSwarmApps(Object.values(images));
}, { timeout: 120_000 });

/** Runs fn while 40 requests/s go through the proxy inside the manager's namespace; then 2 s more. */
async function underLoad<T>(fn: () => Promise<T>): Promise<{ value: T; load: LoadResult; after: LoadResult }> {
  const load = swarm.startLoad(port, { rps: 40, maxMs: 180_000, path: '/cgi-bin/v' });
  try {
    await sleep(1000);
    const value = await fn();
    await load.mark();
    await sleep(2000);
    const after = await load.snapshot();
    return { value, load: await load.stop(), after };
  } finally {
    load.kill();
  }
}

const probes = async (): Promise<string[]> => (await stack.logs('app')).split('\n').filter((l) => l.includes('berth-probe'));

test('rollout --swarm under load: Swarm\'s start-first update loses no request, history records it', { skip, timeout: 300_000 }, async () => {
  const { value: rollout, load, after } = await underLoad(() => stack.berth(['rollout', '--swarm', 'app'], { env: { APP_IMAGE: images['2']! } }));
  process.stderr.write(`# rollout v1 -> v2: ${describeLoad(load)}\n`);
  assert.equal(rollout.code, 0, `${rollout.stdout}\n${rollout.stderr}`);
  assert.match(rollout.stdout, /app: succeeded \(deploy #\d+\)/);
  assert.equal(load.failed, 0, describeLoad(load));
  assert.ok(load.sent > 100, `load ran: ${load.sent}`);
  assert.ok((load.byVersion['2'] ?? 0) > 0);
  assert.deepEqual(Object.keys(after.byVersion), ['2'], `after the rollout only v2 answers: ${describeLoad(after)}`);
  // Measured: what Swarm's DNS said about each task before it was healthy, and when it got SIGTERM.
  const lines = await probes();
  process.stderr.write(`# app task probes:\n${lines.map((l) => `#   ${l}`).join('\n')}\n`);
  assert.ok(lines.some((l) => l.includes('sigterm')), 'the old tasks reported their SIGTERM');
  assert.equal(lines.filter((l) => /before-healthy in-dns=yes|seen-before-healthy=yes/.test(l)).length, 0, 'no task was in DNS before it was healthy');
  assert.equal(lines.filter((l) => /sigterm in-dns=yes/.test(l)).length, 0, 'every old task had left DNS when SIGTERM came');
  const history = JSON.parse((await stack.berth(['--json', 'history', 'app'])).stdout) as Array<{ kind: string; result: string; imageBefore: string; imageAfter: string }>;
  assert.deepEqual({ ...history[0], detail: undefined, id: undefined }, { ...history[0], detail: undefined, id: undefined, kind: 'rollout', result: 'succeeded', imageBefore: images['1'], imageAfter: images['2'] });
});

test('a version that never becomes healthy serves no request: Swarm rolls it back, berth says so and exits 1', { skip, timeout: 300_000 }, async () => {
  const { value: rollout, load, after } = await underLoad(() => stack.berth(['rollout', '--swarm', 'app'], { env: { APP_IMAGE: images.broken! } }));
  process.stderr.write(`# rollout v2 -> broken: ${describeLoad(load)}\n${rollout.stdout}${rollout.stderr}\n`);
  assert.equal(rollout.code, 1, `${rollout.stdout}\n${rollout.stderr}`);
  assert.match(rollout.stdout, /app: rolled-back/);
  assert.match(`${rollout.stdout}${rollout.stderr}`, /rolled the update back/);
  assert.equal(load.byVersion['9'] ?? 0, 0, `the broken version served no request: ${describeLoad(load)}`);
  assert.equal(load.failed, 0, describeLoad(load));
  assert.deepEqual(Object.keys(after.byVersion), ['2']);
  const status = await stack.status();
  const app = status.services.find((s) => s.name === 'app')!;
  assert.equal(app.image, images['2'], 'Swarm rolled the spec back to v2');
  const history = JSON.parse((await stack.berth(['--json', 'history', 'app'])).stdout) as Array<{ result: string; imageAfter: string }>;
  assert.equal(history[0]!.result, 'rolled-back');
});

test('rollback --swarm brings the image before the last deploy back through the same update, under load', { skip, timeout: 300_000 }, async () => {
  const { value: rollback, load } = await underLoad(() => stack.berth(['rollback', '--swarm', 'app']));
  process.stderr.write(`# rollback v2 -> v1: ${describeLoad(load)}\n`);
  assert.equal(rollback.code, 0, `${rollback.stdout}\n${rollback.stderr}`);
  assert.match(rollback.stderr, new RegExp(`rolling app back to ${images['1']!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  assert.equal(load.failed, 0, describeLoad(load));
  await stack.waitServing(port, '1');
});

test('negative control: a plain docker service update with order stop-first fails requests', { skip, timeout: 300_000 }, async () => {
  const service = `${stack.project}_app`;
  const { load } = await underLoad(() => swarm.docker(['service', 'update', '--quiet', '--update-order', 'stop-first', '--update-parallelism', '0', '--image', images['3']!, service], swarm.manager, { timeoutMs: 120_000 }));
  process.stderr.write(`# control, stop-first v1 -> v3: ${describeLoad(load)}\n`);
  assert.ok(load.failed > 0, `stop-first lost requests: ${describeLoad(load)}`);
});

test('a changed secret rolls out with deploy --swarm (content-hashed name) under load; plain docker stack deploy fails on it', { skip, timeout: 300_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-swarm-secret-'));
  try {
    const token = join(dir, 'token');
    writeFileSync(token, 'token-2\n');
    const { value: deploy, load } = await underLoad(() => stack.berth(['deploy', '--swarm', 'app'], { env: { APP_IMAGE: images['3']!, APP_TOKEN_FILE: token } }));
    process.stderr.write(`# secret change: ${describeLoad(load)}\n`);
    assert.equal(deploy.code, 0, `${deploy.stdout}\n${deploy.stderr}`);
    assert.equal(load.failed, 0, describeLoad(load));
    // Every app task mounts the new version; the old version, no longer used, is gone.
    const engine = await swarm.engine(swarm.manager);
    const service = await engine.docker.getService(`${stack.project}_app`).inspect() as { Spec: { TaskTemplate: { ContainerSpec: { Secrets: Array<{ SecretName: string }> } } } };
    const name = service.Spec.TaskTemplate.ContainerSpec.Secrets[0]!.SecretName;
    assert.match(name, new RegExp(`^${stack.project}_token_[0-9a-f]{12}$`));
    // Every app task, on whichever node Swarm placed it, reads the new content.
    const mounted: string[] = [];
    for (const node of swarm.nodes) {
      const tasks = await (await swarm.engine(node)).docker.listContainers({ filters: { label: [`com.docker.swarm.service.name=${stack.project}_app`] } });
      for (const task of tasks) mounted.push((await swarm.docker(['exec', task.Id, 'cat', '/run/secrets/token'], node)).trim());
    }
    assert.deepEqual(mounted, ['token-2', 'token-2']);
    const secrets = (await swarm.docker(['secret', 'ls', '--format', '{{.Name}}'])).trim().split('\n').filter((n) => n.startsWith(`${stack.project}_token_`));
    assert.deepEqual(secrets, [name], 'the old version was removed once unused');

    // Control: the same compose file straight to docker stack deploy, then a changed secret.
    const control = `${stack.project.slice(0, 30)}-ctl`;
    const env = { ...process.env, ...swarm.env(), APP_IMAGE: images['3']!, APP_TOKEN_FILE: token };
    await execFileAsync('docker', ['stack', 'deploy', '--resolve-image', 'never', '-c', SWARM_FIXTURE, control], { env });
    writeFileSync(token, 'token-3\n');
    const second = await execFileAsync('docker', ['stack', 'deploy', '--resolve-image', 'never', '-c', SWARM_FIXTURE, control], { env }).then(() => 'deployed', (e: { stderr?: string }) => String(e.stderr));
    assert.match(second, /only updates to Labels are allowed|immutable/i, `plain docker stack deploy: ${second}`);
    await swarm.docker(['stack', 'rm', control]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
