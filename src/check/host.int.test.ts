/** berth check host against the real dockerd here: it reads what it can and says what it could not. */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { integrationEngine, removeLabelled, TEST_LABEL, testName, testScope } from '../testing/engine.js';

const SCOPE = testScope('host');
import { runBerth } from '../testing/cli.js';
import { auditHost } from './host.js';

const { engine, skip } = await integrationEngine();
after(async () => { if (engine) await removeLabelled(engine, SCOPE); });

test('host audit reads the real engine and reports every checklist item', { skip }, async () => {
  const report = await auditHost({ engine: engine! });
  const ids = report.checks.map((c) => c.id);
  for (const id of ['engine-version', 'rootless-userns', 'daemon-tls', 'live-restore', 'log-opts', 'privileged-containers', 'socket-mounts', 'published-ports', 'ssh-password-auth', 'ssh-root-login', 'unattended-upgrades', 'backups']) assert.ok(ids.includes(id), id);
  const version = report.checks.find((c) => c.id === 'engine-version')!;
  assert.notEqual(version.status, 'unknown');
  assert.match(version.detail, new RegExp(engine!.version.version.replace(/[.+]/g, '\\$&')));
  assert.ok(report.checks.some((c) => c.id.startsWith('disk:') && c.status !== 'unknown'));
  for (const c of report.checks) {
    assert.ok(c.read.length > 0 || c.status === 'unknown', `${c.id} says what it read`);
    if (c.status === 'unknown') assert.ok(c.couldNot && c.couldNot.length > 0, `${c.id} says why it could not`);
  }
  // No store given: backups are honestly unknown.
  assert.equal(report.checks.find((c) => c.id === 'backups')!.status, 'unknown');
  process.stderr.write(`host audit here: ${report.checks.map((c) => `${c.id}=${c.status}`).join(', ')}\n`);
});

test('berth check host --json through the CLI', { skip }, async () => {
  const r = await runBerth(['--json', 'check', 'host'], { env: { BERTH_STATE_DIR: `/tmp/berth-check-host-${process.pid}` } });
  assert.ok(r.code === 0 || r.code === 1, r.stderr);
  const report = JSON.parse(r.stdout);
  assert.equal(report.summary.pass + report.summary.fail + report.summary.unknown, report.checks.length);
  // With a state store now: backups are judged (none recorded here), not unknown.
  assert.equal(report.checks.find((c: { id: string }) => c.id === 'backups').status, 'fail');
});


async function runLabelled(name: string, hostConfig: Record<string, unknown>) {
  const container = await engine!.docker.createContainer({ name, Image: 'local/busybox:latest', Cmd: ['sleep', '300'], Labels: { [TEST_LABEL]: SCOPE }, HostConfig: hostConfig });
  try {
    await container.start();
  } catch (error) {
    await container.remove({ force: true }).catch(() => undefined);
    throw error;
  }
  return container;
}

test('host audit finds a running container with the Docker socket mounted', { skip }, async () => {
  const name = testName('hostsock');
  const container = await runLabelled(name, { Binds: ['/var/run/docker.sock:/var/run/docker.sock:ro'] });
  try {
    const socket = (await auditHost({ engine: engine! })).checks.find((c) => c.id === 'socket-mounts')!;
    assert.equal(socket.status, 'fail');
    assert.ok(socket.detail.includes(`${name} (/var/run/docker.sock)`), socket.detail);
  } finally {
    await container.remove({ force: true }).catch(() => undefined);
  }
});

test('host audit finds a privileged container', { skip }, async (t) => {
  const name = testName('hostpriv');
  let container;
  try {
    container = await runLabelled(name, { Privileged: true });
  } catch (error) {
    // A nested engine (this test environment) may refuse privileged containers outright.
    t.skip(`the engine cannot run privileged containers here: ${String((error as Error).message).split('\n')[0]}`);
    return;
  }
  try {
    const privileged = (await auditHost({ engine: engine! })).checks.find((c) => c.id === 'privileged-containers')!;
    assert.equal(privileged.status, 'fail');
    assert.ok(privileged.detail.includes(name), privileged.detail);
  } finally {
    await container.remove({ force: true }).catch(() => undefined);
  }
});
