/**
 * berth maintain against a real engine, Caddy and Compose v1. No registry here: the "newer base
 * image" is a local base tag rebuilt in place (what a pull brings). Under load: the app is rebuilt
 * on it and rolled out with zero failed requests; the prune removes exactly what the dry run
 * listed, keeps the rollback target, and `berth rollback` to the previous version still works.
 * The control: Compose's recreate of the same service under the same load fails requests.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { listServiceContainers } from '../../compose/containers.js';
import { startLoad } from '../../rollout/load.js';
import { describeLoad } from '../../rollout/testing.js';
import { runBerth } from '../../testing/cli.js';
import { integrationEngine, removeLabelled, TEST_LABEL, testName, testScope } from '../../testing/engine.js';
import type { MaintainReport } from './run.js';
import type { PrunePlan } from './prune.js';

const ROLLOUT_FIXTURES = fileURLToPath(new URL('../../../src/rollout/fixtures/', import.meta.url));
const { engine, skip } = await integrationEngine();
const project = testName('maintain');
const scope = testScope('maintain');
const dir = mkdtempSync(join(tmpdir(), 'berth-maintain-'));
const base = `berthtest-maintain-base:${scope}`;
const repo = 'berthtest-maintain-app';
const appImage = `${repo}:${scope}`;
const old = [`${repo}:${scope}-old1`, `${repo}:${scope}-old2`];
const env = { BERTH_TEST_LABEL: scope, BERTH_STATE_DIR: join(dir, 'state') };
const composeFile = join(dir, 'compose.yaml');
const berth = (...args: string[]) => runBerth(['-f', composeFile, '-p', project, ...args], { env, timeoutMs: 300_000 });

/** docker build with a Dockerfile from stdin and no context. */
function buildFromText(tag: string, dockerfile: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('docker', ['build', '-q', '-t', tag, '--label', `${TEST_LABEL}=${scope}`, '-'], { env: { ...process.env, DOCKER_BUILDKIT: '0' }, stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`docker build ${tag}: ${err}`))));
    child.stdin.end(dockerfile);
  });
}

async function proxyPort(): Promise<number> {
  const [proxy] = await listServiceContainers(engine!, project, { services: ['proxy'] });
  return proxy!.ports.find((p) => p.containerPort === 80)!.hostPort;
}

async function servingVersion(version: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const got = await fetch(`http://127.0.0.1:${await proxyPort()}/`).then((r) => (r.ok ? r.headers.get('x-app-version') : null), () => null);
    if (got === version) { await sleep(1500); return; }
    if (Date.now() > deadline) throw new Error(`not serving ${version} (got ${got})`);
    await sleep(300);
  }
}

async function underLoad<T>(fn: () => Promise<T>) {
  const load = startLoad(await proxyPort(), { rps: 40, maxMs: 240_000 });
  await sleep(500);
  const value = await fn();
  load.mark();
  await sleep(1500);
  const afterward = load.snapshot();
  return { value, load: await load.stop(), after: afterward };
}

describe('berth maintain (real engine, Caddy, Compose v1)', { skip }, () => {
  before(async () => {
    mkdirSync(join(dir, 'app'));
    copyFileSync(join(ROLLOUT_FIXTURES, 'Caddyfile'), join(dir, 'Caddyfile'));
    copyFileSync(join(ROLLOUT_FIXTURES, 'app', 'server.mjs'), join(dir, 'app', 'server.mjs'));
    writeFileSync(join(dir, 'app', 'Dockerfile'), `FROM ${base}\nWORKDIR /app\nCOPY server.mjs /app/\nCMD ["node", "server.mjs"]\n`);
    writeFileSync(composeFile, `services:
  proxy:
    image: local/caddy:latest
    ports: ["127.0.0.1::80"]
    volumes: ["./Caddyfile:/etc/caddy/Caddyfile:ro"]
    labels: { ${TEST_LABEL}: "${scope}" }
  app:
    image: ${appImage}
    build: { context: ./app, labels: { ${TEST_LABEL}: "${scope}" } }
    init: true
    stop_grace_period: 10s
    labels: { ${TEST_LABEL}: "${scope}" }
    healthcheck:
      test: ["CMD", "node", "-e", "fetch('http://127.0.0.1:3000/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
      interval: 1s
      timeout: 5s
      retries: 3
      start_period: 3s
networks:
  default:
    labels: { ${TEST_LABEL}: "${scope}" }
`);
    // The base as a registry had it yesterday: b1.
    await buildFromText(base, 'FROM local/node:latest\nENV APP_VERSION=b1\n');
    const up = await berth('compose', '--', 'up', '-d', '--build');
    assert.equal(up.code, 0, up.stderr);
    await servingVersion('b1');
    // Two older builds of the app, no longer used: what the prune is for.
    for (const [i, tag] of old.entries()) await buildFromText(tag, `FROM ${base}\nLABEL old=${i + 1}\n`);
  });
  after(async () => {
    await berth('compose', '--', 'down', '-v', '-t', '1').catch(() => undefined);
    if (engine) {
      await removeLabelled(engine, scope);
      for (const ref of [`berth-keep/${project}-*`, `${repo}:${scope}*`, base]) {
        for (const i of await engine.docker.listImages({ filters: { reference: [ref] } })) for (const t of i.RepoTags ?? []) await engine.docker.getImage(t).remove({ force: true }).catch(() => undefined);
      }
    }
    rmSync(dir, { recursive: true, force: true });
  });

  test('a newer base: rebuilt and rolled out under load with zero failed requests; the prune keeps the rollback target; rollback works', async () => {
    const firstId = (await engine!.inspectImage(appImage))!.Id;
    // The base is updated (the registry's new image, as a pull would bring it).
    await buildFromText(base, 'FROM local/node:latest\nENV APP_VERSION=b2\n');

    const dry = await berth('maintain', '--keep', '1', '--no-build-cache', '--dry-run', '--json');
    assert.equal(dry.code, 0, dry.stderr);
    const dryPlan = JSON.parse(dry.stdout) as { refresh: { steps: Array<{ kind: string; image?: string }> }; prune: PrunePlan };
    assert.deepEqual(dryPlan.refresh.steps.map((s) => `${s.kind} ${s.image ?? ''}`.trim()), ['pull local/caddy:latest', `pull-base ${base}`, 'build', 'rollout-changed']);
    assert.deepEqual(dryPlan.prune.remove.flatMap((r) => r.tags).sort(), [...old].sort(), 'the dry run lists exactly the two old builds');
    const text = await berth('maintain', '--keep', '1', '--no-build-cache', '--dry-run');
    assert.match(text.stdout, new RegExp(`keep ${appImage.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\n {3}used by container \\S+_app_1\\n {3}the image the compose file names for app`));
    assert.match(text.stdout, /remove \S+-old1 \(\d+\.\d MiB\)\n {3}an older version of app: not among the last 1 versions, no rollback target, no container uses it/);

    const { value: result, load, after: afterward } = await underLoad(() => berth('maintain', '--keep', '1', '--no-build-cache', '--json'));
    assert.equal(result.code, 0, result.stderr + result.stdout);
    assert.equal(load.failed, 0, describeLoad(load));
    assert.deepEqual(Object.keys(afterward.byVersion), ['b2'], `only the new base's build serves afterwards: ${describeLoad(afterward)}`);
    const report = JSON.parse(result.stdout) as MaintainReport;
    assert.deepEqual(report.refresh!.rolledOut, ['app']);
    assert.deepEqual(report.refresh!.unchanged, ['proxy'], 'only the service whose image changed is rolled out');
    assert.match(report.refresh!.done[0]!.result, /not pulled .*the local image is used as it is/, 'no registry: said so');
    assert.deepEqual(report.prune!.removed.sort(), [...old].sort(), 'the run removed what the dry run listed');
    const rollbackTarget = report.prune!.keep.find((k) => k.id === firstId);
    assert.ok(rollbackTarget, 'the previous version is kept');
    assert.ok(rollbackTarget.reasons.some((r) => /^rollback target: berth-keep\/\S+:\d+-before \(the image before deploy #\d+\)$/.test(r)), rollbackTarget.reasons.join('; '));
    for (const tag of old) assert.equal(await engine!.inspectImage(tag), undefined, `${tag} is gone`);

    const again = await berth('maintain', '--keep', '1', '--no-build-cache', '--no-refresh', '--dry-run');
    assert.match(again.stdout, /^prune\nnothing to remove\n/, 'a second run has nothing to remove');

    const back = await underLoad(() => berth('rollback', 'app'));
    assert.equal(back.value.code, 0, back.value.stderr);
    assert.equal(back.load.failed, 0, describeLoad(back.load));
    assert.deepEqual(Object.keys(back.after.byVersion), ['b1'], `the rollback serves the previous version: ${describeLoad(back.after)}`);

    // Control: Compose recreating the same service under the same load fails requests.
    const control = await underLoad(() => berth('compose', '--', 'up', '-d', '--force-recreate', '--no-deps', 'app'));
    assert.equal(control.value.code, 0, control.value.stderr);
    assert.ok(control.load.failed > 0, `the control fails requests: ${describeLoad(control.load)}`);
  });
});
