import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { integrationEngine, removeLabelled } from '../testing/engine.js';
import { execInContainer } from './exec.js';
import { composeLabels, runBerth, startContainer, tempDir, SCOPE, scopeLabel, scopedName } from './testkit.js';

const { engine, skip } = await integrationEngine();
const label = scopeLabel;
const bin = new URL('../../bin/berth.js', import.meta.url).pathname;

after(async () => {
  if (engine) await removeLabelled(engine, SCOPE);
});

const berth = runBerth;

test('CLI: backup run/list/verify/prune/restore and agent --once on a compose file, with --json', { skip, timeout: 120_000 }, async () => {
  const project = scopedName('cli');
  const dir = tempDir('cli-project');
  const backups = tempDir('cli-backups');
  writeFileSync(join(dir, 'compose.yaml'), `
name: ${project}
services:
  app:
    image: local/busybox:latest
    volumes: [files:/data]
    x-berth:
      backup: { type: volume, volumes: [files], stop_containers: true, schedule: "0 3 * * *" }
volumes:
  files: {}
x-berth:
  backup:
    destinations:
      local: { type: local, path: ${backups} }
    retention: { keep_last: 2 }
`);
  await engine!.docker.createVolume({ Name: `${project}_files`, Labels: label });
  const app = await startContainer(engine!, { name: `${project}_app_1`, image: 'local/busybox:latest', cmd: ['sleep', '3600'], init: true, binds: [`${project}_files:/data`], labels: { ...label, ...composeLabels(project, 'app') } });
  await execInContainer(engine!, app.id, ['sh', '-c', 'echo v1 > /data/version']);
  const env = { BERTH_STATE_DIR: tempDir('cli-state'), BERTH_BACKUP_HELPER_IMAGE: 'local/busybox:latest' };

  const dry = await berth(dir, env, 'backup', 'run', '--dry-run');
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /stop\s+.*_app_1/);
  assert.match(dry.stdout, /why: /);

  const ids: string[] = [];
  for (let i = 0; i < 3; i++) {
    const run = await berth(dir, env, '--json', 'backup', 'run');
    assert.equal(run.code, 0, run.stderr);
    const report = JSON.parse(run.stdout);
    assert.equal(report.results[0].status, 'verified');
    ids.push(report.results[0].id);
    assert.match(run.stderr, /stopped .*_app_1 for the snapshot/);
  }
  const list = JSON.parse((await berth(dir, env, '--json', 'backup', 'list')).stdout) as Array<{ id: string; status: string }>;
  // keep_last: 2 — the first run was pruned by the third.
  assert.deepEqual(list.map((e) => e.id), [ids[2], ids[1]]);
  const all = JSON.parse((await berth(dir, env, '--json', 'backup', 'list', '--all')).stdout) as Array<{ id: string; status: string }>;
  assert.equal(all.find((e) => e.id === ids[0])!.status, 'pruned');

  const verify = await berth(dir, env, '--json', 'backup', 'verify', ids[2]!);
  assert.equal(verify.code, 0, verify.stderr);
  assert.equal(JSON.parse(verify.stdout).ok, true);

  const prune = await berth(dir, env, '--json', 'backup', 'prune', '--dry-run');
  assert.equal(JSON.parse(prune.stdout).decisions.filter((d: { action: string }) => d.action === 'prune').length, 0);

  const once = await berth(dir, env, '--json', 'agent', '--once');
  assert.equal(once.code, 0, once.stdout);
  assert.equal(JSON.parse(once.stdout).targets[0].lastVerifiedId, ids[2]);

  await execInContainer(engine!, app.id, ['sh', '-c', 'echo v2 > /data/version']);
  const unconfirmed = await berth(dir, env, 'backup', 'restore', ids[2]!);
  assert.equal(unconfirmed.code, 2);
  assert.match(unconfirmed.stderr, /not confirmed/);
  const restore = await berth(dir, env, '--json', 'backup', 'restore', ids[2]!, '--yes');
  assert.equal(restore.code, 0, restore.stderr + restore.stdout);
  assert.equal(JSON.parse(restore.stdout).safetyBackup.status, 'verified');
  assert.equal((await execInContainer(engine!, app.id, ['cat', '/data/version'])).stdout, 'v1\n');

  const unknown = await berth(dir, env, 'backup', 'run', 'nope');
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /no backup target "nope"/);
});
