/**
 * berth secrets rotate of a database password, under load through Caddy, real Postgres, Compose v1:
 * zero failed requests; afterwards the new password connects and the old one is refused. The
 * control: the reference's way (the new file, then `compose up -d`) fails requests. Bad input
 * (unknown secret, a service without it, a file in a directory berth cannot write): one line,
 * exit 2, nothing changed.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { listServiceContainers } from '../../compose/containers.js';
import { execInContainer } from '../../backup/exec.js';
import { describeLoad } from '../../rollout/testing.js';
import { startLoad } from '../../rollout/load.js';
import { runBerth } from '../../testing/cli.js';
import { execFileAsync, integrationEngine, removeLabelled, TEST_LABEL, testName, testScope } from '../../testing/engine.js';

const FIXTURES = fileURLToPath(new URL('../../../src/runbook/fixtures/', import.meta.url));
const { engine, skip } = await integrationEngine();
const project = testName('secrets');
const scope = testScope('secrets');
const dir = mkdtempSync(join(tmpdir(), 'berth-secrets-'));
const lockedDir = join(dir, 'locked');
const stateDir = join(dir, 'state');
const image = `berthtest-pgapp:${scope}`;
const env = { BERTH_TEST_LABEL: scope, BERTH_STATE_DIR: stateDir, APP_IMAGE: image, LOCKED_DIR: lockedDir };
const composeFile = join(dir, 'compose.yaml');
const berth = (...args: string[]) => runBerth(['-f', composeFile, '-p', project, ...args], { env, timeoutMs: 240_000 });

function snapshot(): string {
  const walk = (d: string): string[] => readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? (e.name === 'state' ? [] : walk(join(d, e.name))) : [`${join(d, e.name)}=${readFileSync(join(d, e.name), 'utf8')}`]));
  return walk(dir).sort().join('\n');
}

async function proxyPort(): Promise<number> {
  const [proxy] = await listServiceContainers(engine!, project, { services: ['proxy'] });
  return proxy!.ports.find((p) => p.containerPort === 80)!.hostPort;
}

async function serving(timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await fetch(`http://127.0.0.1:${await proxyPort()}/`).then((r) => r.ok, () => false);
    if (ok) return;
    if (Date.now() > deadline) throw new Error('the stack did not serve');
    await sleep(300);
  }
}

async function dbConnects(password: string): Promise<{ ok: boolean; stderr: string }> {
  const [db] = await listServiceContainers(engine!, project, { services: ['db'] });
  const r = await execInContainer(engine!, db!.id, ['psql', '-X', '-h', '127.0.0.1', '-U', 'app', '-d', 'app', '-c', 'SELECT 1'], { env: [`PGPASSWORD=${password}`] });
  return { ok: r.exitCode === 0, stderr: r.stderr };
}

describe('berth secrets rotate (real Postgres, Caddy, Compose v1)', { skip }, () => {
  before(async () => {
    mkdirSync(join(dir, 'secrets'));
    mkdirSync(lockedDir);
    copyFileSync(join(FIXTURES, 'secrets.yaml'), composeFile);
    copyFileSync(join(FIXTURES, '../../rollout/fixtures/Caddyfile'), join(dir, 'Caddyfile'));
    writeFileSync(join(dir, 'secrets', 'db_password.txt'), 'first-password\n', { mode: 0o644 });
    writeFileSync(join(lockedDir, 'api_key.txt'), 'key-1\n');
    // A directory even root cannot create files in (the immutable attribute).
    await execFileAsync('chattr', ['+i', lockedDir]);
    await execFileAsync('docker', ['build', '-q', '-t', image, '--label', `${TEST_LABEL}=${scope}`, join(FIXTURES, 'pgapp')], { env: { ...process.env, DOCKER_BUILDKIT: '0' } });
    const up = await berth('compose', '--', 'up', '-d');
    assert.equal(up.code, 0, up.stderr);
    await serving();
  });
  after(async () => {
    await berth('compose', '--', 'down', '-v', '-t', '1').catch(() => undefined);
    if (engine) {
      await removeLabelled(engine, scope);
      await engine.docker.getImage(image).remove({ force: true }).catch(() => undefined);
      for (const i of await engine.docker.listImages({ filters: { reference: [`berth-keep/${project}-*`] } })) for (const t of i.RepoTags ?? []) await engine.docker.getImage(t).remove({ noprune: true }).catch(() => undefined);
    }
    await execFileAsync('chattr', ['-i', lockedDir]).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  test('bad input: unknown secret, a service without it, a file berth cannot write, an unreadable new value: one line, exit 2, nothing changed', async () => {
    const before = snapshot();
    const cases: Array<[string[], RegExp]> = [
      [['secrets', 'rotate', 'nope'], /^berth: no secret "nope" in project \S+\nhint: secrets: db_password, api_key\n$/],
      [['secrets', 'rotate', 'db_password', '--service', 'proxy'], /^berth: service "proxy" does not use secret "db_password"\nhint: used by: app, db\n$/],
      [['secrets', 'rotate', 'api_key'], /^berth: secret "api_key" is the file \S+api_key\.txt, and berth cannot write next to it: EPERM: operation not permitted\nhint: /],
      [['secrets', 'rotate', 'db_password', '--from-file', join(dir, 'missing.txt')], /^berth: cannot read the new value: ENOENT: no such file or directory, open '\S+missing\.txt'\n$/],
      [['secrets', 'rotate', 'db_password', '--from-file', composeFile, '--stdin'], /^berth: give the new value with --from-file or --stdin, not both\n$/],
    ];
    for (const [args, message] of cases) {
      const result = await berth(...args);
      assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, message);
      assert.equal(result.stdout, '');
      assert.equal(snapshot(), before, `${args.join(' ')} changed nothing`);
    }
  });

  test('the database password under load: zero failed requests, the new password works, the old one no longer', async (t) => {
    const dry = await berth('secrets', 'rotate', 'db_password', '--dry-run');
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /1\. write the new value to \S+db_password\.v2\.txt[\s\S]*3\. change the postgres password of app in \S+_db_1[\s\S]*4\. verify[\s\S]*5\. roll out app\n[\s\S]*6\. remove/);
    const oldApp = (await listServiceContainers(engine!, project, { services: ['app'] })).map((c) => c.id);
    const load = startLoad(await proxyPort(), { rps: 40, maxMs: 180_000 });
    await sleep(1000);
    const result = await berth('secrets', 'rotate', 'db_password');
    await sleep(1500);
    const counts = await load.stop();
    assert.equal(result.code, 0, result.stderr + result.stdout);
    t.diagnostic(`rotation: ${describeLoad(counts)}`);
    t.diagnostic(result.stderr);
    assert.equal(counts.failed, 0, describeLoad(counts));
    assert.ok(counts.ok > 100, describeLoad(counts));
    const newPassword = readFileSync(join(dir, 'secrets', 'db_password.v2.txt'), 'utf8');
    assert.match(readFileSync(composeFile, 'utf8'), /^ {4}file: \.\/secrets\/db_password\.v2\.txt$/m, 'the compose file points at the new version, nothing else changed');
    assert.equal(readFileSync(composeFile, 'utf8').replace('db_password.v2.txt', 'db_password.txt'), readFileSync(join(FIXTURES, 'secrets.yaml'), 'utf8'));
    assert.deepEqual(await dbConnects(newPassword).then((r) => r.ok), true, 'the new password connects');
    const old = await dbConnects('first-password');
    assert.equal(old.ok, false, 'the old password is refused');
    assert.match(old.stderr, /password authentication failed for user "app"/);
    const apps = await listServiceContainers(engine!, project, { services: ['app'] });
    assert.ok(apps.every((c) => !oldApp.includes(c.id)), 'the app was rolled out');
    const mounts = (await engine!.inspectContainer(apps[0]!.id)).Mounts.map((m) => m.Source);
    assert.ok(mounts.includes(join(dir, 'secrets', 'db_password.v2.txt')), `the new replica mounts the new version: ${mounts.join(', ')}`);
    // The database's own container still mounts the old version: kept, and said.
    assert.match(result.stderr, /remove \S+db_password\.txt when unused \(kept: still mounted by \S+_db_1\)/);
    assert.ok(readdirSync(join(dir, 'secrets')).includes('db_password.txt'));
    assert.ok(await fetch(`http://127.0.0.1:${await proxyPort()}/`).then((r) => r.ok));

    // Control: the reference's way, `compose up -d` with the new file, under the same load, fails requests.
    const control = startLoad(await proxyPort(), { rps: 40, maxMs: 180_000 });
    await sleep(1000);
    const up = await berth('compose', '--', 'up', '-d');
    await sleep(3000);
    const controlCounts = await control.stop();
    t.diagnostic(`control: ${describeLoad(controlCounts)}`);
    assert.equal(up.code, 0, up.stderr);
    assert.ok(controlCounts.failed > 0, `the control (compose up -d) fails requests: ${describeLoad(controlCounts)}`);
  });
});
