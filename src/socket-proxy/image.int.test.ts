// The container image: built from a temp context, run read-only as nobody with the socket's group.
import { statSync } from 'node:fs';
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { integrationEngine, RUN_ID, testName } from '../testing/engine.js';
import { buildSocketProxyImage } from './image.js';
import { DOCKER_SOCKET, dockerCli, removeOwned, testOwner } from './testkit.js';

const { engine, skip } = await integrationEngine();
const own = testOwner('image');
const tag = `local/berth-socket-proxy:test-${RUN_ID}`;
after(async () => {
  if (!engine) return;
  await removeOwned(engine, own.owner);
  await engine.docker.getImage(tag).remove({ force: true }).catch(() => undefined);
});

test('image: non-root, read-only root fs, socket group via group_add; Tecnativa env applies', { skip, timeout: 180_000 }, async () => {
  await buildSocketProxyImage(tag);
  const name = testName('spimage');
  const gid = String(statSync(DOCKER_SOCKET).gid);
  const run = await dockerCli(undefined, ['run', '-d', '--name', name, ...own.cli, '--read-only', '--group-add', gid,
    '--cap-drop', 'ALL', '--security-opt', 'no-new-privileges:true', '-v', `${DOCKER_SOCKET}:/var/run/docker.sock:ro`,
    '-e', 'CONTAINERS=1', '-p', '127.0.0.1::2375', tag]);
  assert.equal(run.code, 0, run.stderr);
  const info = await engine!.docker.getContainer(name).inspect();
  assert.equal(info.Config.User, '65534:65534');
  assert.equal(info.HostConfig.ReadonlyRootfs, true);
  const port = info.NetworkSettings.Ports['2375/tcp']?.[0]?.HostPort;
  assert.ok(port);
  const host = `tcp://127.0.0.1:${port}`;
  let version = { code: 1, stdout: '', stderr: '' };
  for (let i = 0; i < 40 && version.code !== 0; i++) { await sleep(250); version = await dockerCli(host, ['version', '--format', '{{.Server.APIVersion}}']); }
  assert.equal(version.code, 0, version.stderr);
  const ps = await dockerCli(host, ['ps', '--filter', `name=${name}`, '--format', '{{.Names}}']);
  assert.equal(ps.stdout.trim(), name);
  const images = await dockerCli(host, ['images']);
  assert.notEqual(images.code, 0);
  // The audit line is written asynchronously: give it a moment.
  let logs = '';
  for (let i = 0; i < 20 && !/"verdict":"deny"[^\n]*images\/json/.test(logs); i++) { await sleep(150); logs = (await dockerCli(undefined, ['logs', name])).stdout; }
  assert.match(logs, /"verdict":"deny"[^\n]*images\/json/);
});
