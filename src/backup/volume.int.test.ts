import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { generateIdentity } from './age.js';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { StateStore } from '../state/store.js';
import { silencesOf } from '../monitor/silences.js';
import { execFileAsync, integrationEngine, removeLabelled } from '../testing/engine.js';
import { execInContainer } from './exec.js';
import { restoreBackup, verifyBackup } from './restore.js';
import { runBackups } from './run.js';
import { composeLabels, makeProject, startContainer, tempDir, SCOPE, scopeLabel, scopedName } from './testkit.js';

const { engine, skip } = await integrationEngine();
const label = scopeLabel;

after(async () => {
  if (engine) await removeLabelled(engine, SCOPE);
});

/** Content, numeric owner and mode of every path in the volume, as one sorted listing. */
async function snapshot(containerId: string): Promise<string> {
  const script = 'cd /data && for f in $(find . | sort); do if [ -f "$f" ]; then s=$(md5sum "$f" | cut -c1-32); else s=-; fi; echo "$f $(stat -c "%u:%g %a %F" "$f") $s"; done';
  const result = await execInContainer(engine!, containerId, ['sh', '-c', script]);
  assert.equal(result.exitCode, 0, result.stderr);
  return result.stdout;
}

test('volume: round trip keeps content, numeric owners and modes; writers stopped only for the snapshot', { skip, timeout: 120_000 }, async () => {
  const name = scopedName('volbk');
  const backupDir = tempDir('vol-backups');
  const store = StateStore.open(tempDir('vol-state'));
  try {
    const volume = `${name}_files`;
    await engine!.docker.createVolume({ Name: volume, Labels: label });
    const app = await startContainer(engine!, { name: `${name}_app_1`, image: 'local/debian:bookworm', cmd: ['sleep', 'infinity'], init: true, binds: [`${volume}:/data`], labels: { ...label, ...composeLabels(name, 'app') } });
    const seed = [
      'mkdir -p /data/a/b /data/private && echo hello > /data/a/hello.txt && head -c 300000 /dev/urandom > /data/a/b/random.bin',
      'echo secret > /data/private/key && chown -R 1234:5678 /data/private && chmod 700 /data/private && chmod 600 /data/private/key',
      'echo x > /data/setuid && chmod 4755 /data/setuid && chown 999:999 /data/a/hello.txt && ln -s a/hello.txt /data/link && touch "/data/with space"',
    ].join(' && ');
    assert.equal((await execInContainer(engine!, app.id, ['sh', '-c', seed])).exitCode, 0);
    const before = await snapshot(app.id);
    assert.match(before, /\.\/private 1234:5678 700 directory/);

    const project = makeProject(name, { app: { backup: { type: 'volume', volumes: ['files'], stopContainers: true } } }, { destinations: { local: { type: 'local', path: backupDir } } }, { files: {} });
    const events: Array<{ type: string; containers?: string[] }> = [];
    // The stop is announced to the agent (src/monitor/silences.ts) for the snapshot window only.
    let silencedDuring: string[] = [];
    const report = await runBackups({ engine: engine!, store, project, helperLabels: label, onEvent: (e) => events.push(e), hooks: { inSnapshotWindow: async () => { silencedDuring = silencesOf(store, name).filter((s) => s.endedAt === undefined).map((s) => `${s.service}: ${s.reason}`); } } });
    assert.equal(report.ok, true, JSON.stringify(report.results.map((r) => r.error)));
    assert.deepEqual(silencedDuring, ['app: backup app (stop_containers)']);
    assert.deepEqual(silencesOf(store, name).filter((s) => s.endedAt === undefined), [], 'the silence ends with the snapshot');
    const result = report.results[0]!;
    assert.deepEqual(events.find((e) => e.type === 'stopped')?.containers, [`${name}_app_1`]);
    assert.ok(events.findIndex((e) => e.type === 'restarted') > events.findIndex((e) => e.type === 'stopped'));
    assert.equal((await app.inspect()).State.Running, true, 'the app runs again after the snapshot');
    assert.deepEqual(readdirSync(join(backupDir, name, 'app', result.id!)).sort(), [`${volume}.tar.gz`, 'manifest.json']);
    // The multi-member gzip berth writes is plain tar.gz to standard tools.
    const { stdout: listing } = await execFileAsync('tar', ['-tvzf', join(backupDir, name, 'app', result.id!, `${volume}.tar.gz`), '--numeric-owner']);
    assert.match(listing, /drwx------ 1234\/5678 .* volume\/private\//);
    assert.match(listing, /volume\/a\/b\/random\.bin/);
    const manifestFile = result.plan && (await verifyBackup({ engine: engine!, store, project, id: result.id! }));
    assert.equal(manifestFile.ok, true, JSON.stringify(manifestFile));

    // Destroy the content, then restore.
    await execInContainer(engine!, app.id, ['sh', '-c', 'rm -rf /data/* && echo junk > /data/junk']);
    const restored = await restoreBackup({ engine: engine!, store, project, id: result.id!, yes: true, helperLabels: label });
    assert.equal(restored.ok, true, JSON.stringify(restored));
    assert.equal(restored.safetyBackup?.status, 'verified');
    assert.deepEqual(restored.stopped, [`${name}_app_1`]);
    assert.equal((await app.inspect()).State.Running, true);
    assert.equal(await snapshot(app.id), before);
  } finally {
    store.close();
  }
});

test('volume: selected by label; without stop_containers the users keep running', { skip, timeout: 60_000 }, async () => {
  const name = scopedName('vollabel');
  const backupDir = tempDir('vollabel-backups');
  const store = StateStore.open(tempDir('vollabel-state'));
  try {
    const selector = `berth.test.select=${name}`;
    for (const suffix of ['one', 'two']) await engine!.docker.createVolume({ Name: `${name}_${suffix}`, Labels: { ...label, 'berth.test.select': name } });
    await engine!.docker.createVolume({ Name: `${name}_other`, Labels: label });
    const app = await startContainer(engine!, { name: `${name}_app_1`, image: 'local/busybox:latest', cmd: ['sleep', '3600'], init: true, binds: [`${name}_one:/one`, `${name}_two:/two`], labels: { ...label, ...composeLabels(name, 'app') } });
    const project = makeProject(name, { app: { backup: { type: 'volume', volumes: [`label=${selector}`], stopContainers: false } } }, { destinations: { local: { type: 'local', path: backupDir } } });
    const events: string[] = [];
    const report = await runBackups({ engine: engine!, store, project, helperLabels: label, onEvent: (e) => events.push(e.type) });
    assert.equal(report.ok, true, JSON.stringify(report.results.map((r) => r.error)));
    assert.ok(!events.includes('stopped'));
    assert.equal((await app.inspect()).State.Running, true);
    const manifest = JSON.parse(readFileSync(join(backupDir, name, 'app', report.results[0]!.id!, 'manifest.json'), 'utf8'));
    assert.deepEqual(manifest.files.map((f: { volume: { name: string; mountPaths: string[] } }) => [f.volume.name, f.volume.mountPaths]), [[`${name}_one`, ['/one']], [`${name}_two`, ['/two']]]);
    assert.deepEqual(manifest.stoppedContainers, []);
    const none = makeProject(name, { app: { backup: { type: 'volume', volumes: ['label=berth.test.select=nothing-has-this'], stopContainers: false } } }, { destinations: { local: { type: 'local', path: backupDir } } });
    const failed = await runBackups({ engine: engine!, store, project: none, helperLabels: label });
    assert.match(failed.results[0]!.error!, /no volume labelled berth.test.select=nothing-has-this/);
  } finally {
    store.close();
  }
});

test('volume: age-encrypted backup; only ciphertext at the destination; verify and restore with the identity', { skip, timeout: 60_000 }, async () => {
  const name = scopedName('volage');
  const backupDir = tempDir('volage-backups');
  const stateDir = tempDir('volage-state');
  const store = StateStore.open(stateDir);
  try {
    const { identity, recipient } = generateIdentity();
    const keyFile = join(stateDir, 'age.key');
    writeFileSync(keyFile, `${identity}\n`, { mode: 0o600 });
    await engine!.docker.createVolume({ Name: `${name}_v`, Labels: label });
    const app = await startContainer(engine!, { name: `${name}_app_1`, image: 'local/busybox:latest', cmd: ['sleep', '3600'], init: true, binds: [`${name}_v:/data`], labels: { ...label, ...composeLabels(name, 'app') } });
    await execInContainer(engine!, app.id, ['sh', '-c', 'echo top-secret-content > /data/s && chmod 640 /data/s']);
    const destinations = { local: { type: 'local' as const, path: backupDir } };
    const withoutKey = makeProject(name, { app: { backup: { type: 'volume', volumes: [`${name}_v`], stopContainers: false } } }, { destinations, encryption: { ageRecipients: [recipient] } });
    const withKey = makeProject(name, { app: { backup: { type: 'volume', volumes: [`${name}_v`], stopContainers: false } } }, { destinations, encryption: { ageRecipients: [recipient], ageIdentityFile: keyFile } });
    const dry = await runBackups({ engine: engine!, store, project: withoutKey, dryRun: true });
    assert.ok(dry.results[0]!.plan.steps.some((s) => s.action === 'encrypt'));
    const report = await runBackups({ engine: engine!, store, project: withoutKey, helperLabels: label });
    assert.equal(report.ok, true, JSON.stringify(report.results.map((r) => r.error)));
    const id = report.results[0]!.id!;
    const dir = join(backupDir, name, 'app', id);
    assert.deepEqual(readdirSync(dir).sort(), [`${name}_v.tar.gz.age`, 'manifest.json']);
    const data = readFileSync(join(dir, `${name}_v.tar.gz.age`));
    assert.ok(data.toString('latin1').startsWith('age-encryption.org/v1\n'));
    const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
    assert.deepEqual(manifest.encryption, { format: 'age', recipients: [recipient] });
    assert.equal(manifest.files[0].encrypted, true);
    assert.match(manifest.files[0].plaintextSha256, /^[0-9a-f]{64}$/);

    const blind = await verifyBackup({ engine: engine!, store, project: withoutKey, id });
    assert.equal(blind.ok, true);
    assert.match(blind.files[0]!.detail, /no identity file: contents not checked/);
    const full = await verifyBackup({ engine: engine!, store, project: withKey, id });
    assert.equal(full.ok, true, JSON.stringify(full));
    assert.match(full.files[0]!.detail, /decrypts to the backed-up plaintext \(sha256\); tar listing/);

    await execInContainer(engine!, app.id, ['sh', '-c', 'rm /data/s']);
    const refused = await restoreBackup({ engine: engine!, store, project: withoutKey, id, yes: true, safetyBackup: false, helperLabels: label });
    assert.equal(refused.ok, false);
    assert.match(refused.error!, /age-encrypted: set x-berth.backup.encryption.age_identity_file/);
    const restored = await restoreBackup({ engine: engine!, store, project: withKey, id, yes: true, safetyBackup: false, helperLabels: label });
    assert.equal(restored.ok, true, JSON.stringify(restored));
    assert.equal((await execInContainer(engine!, app.id, ['sh', '-c', 'cat /data/s; ls -l /data/s'])).stdout.split('\n')[0], 'top-secret-content');
  } finally {
    store.close();
  }
});
