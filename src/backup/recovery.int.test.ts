/**
 * Restore into any state, safety backups that cannot hurt, check first, verify results that
 * count, restore tests with the stack's own image, no orphans. Each test fails without its fix.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { StateStore } from '../state/store.js';
import { execFileAsync, integrationEngine, removeLabelled } from '../testing/engine.js';
import { Catalog } from './catalog.js';
import { execInContainer } from './exec.js';
import { OWNER_LABEL, PROJECT_LABEL } from './helpers.js';
import { restoreBackup, verifyBackup } from './restore.js';
import { applyRetention, runBackups } from './run.js';
import { composeLabels, makeProject, sql, startContainer, tempDir, volumeWithApp as testkitVolumeWithApp, waitFor, waitPostgres, SCOPE, scopeLabel, scopedName } from './testkit.js';

const { engine, skip } = await integrationEngine();
const label = scopeLabel;
const bin = new URL('../../bin/berth.js', import.meta.url).pathname;

after(async () => {
  if (engine) await removeLabelled(engine, SCOPE);
});

const PG_ENV = ['POSTGRES_USER=app', 'POSTGRES_DB=app', 'POSTGRES_PASSWORD=pw'];
const SEED = "CREATE ROLE reporting NOLOGIN; CREATE SCHEMA app; CREATE TABLE app.items (id serial PRIMARY KEY, name text); INSERT INTO app.items (name) SELECT 'item ' || g FROM generate_series(1, 3000) g; GRANT USAGE ON SCHEMA app TO reporting; GRANT SELECT ON app.items TO reporting;";
const fingerprint = (id: string) => sql(engine!, id, 'postgres', "SELECT count(*) || ':' || md5(string_agg(t::text, ',' ORDER BY id)) || ' ' || has_schema_privilege('reporting', 'app', 'USAGE') || ' ' || has_table_privilege('reporting', 'app.items', 'SELECT') FROM app.items t");

async function postgres(name: string, volume?: string) {
  const container = await startContainer(engine!, { name: `${name}_db_1`, image: 'local/postgres:latest', env: PG_ENV, labels: { ...label, ...composeLabels(name, 'db') }, binds: volume ? [`${volume}:/var/lib/postgresql/data`] : undefined });
  await waitPostgres(engine!, container.id);
  return container;
}

const volumeWithApp = (name: string, seed: string) => testkitVolumeWithApp(engine!, name, seed);

test('postgres: an empty database backs up (with a note); a dropped database and a fresh cluster are restored, roles first, without a useless safety backup', { skip, timeout: 240_000 }, async () => {
  const name = scopedName('anystate');
  const backupDir = tempDir('anystate-backups');
  const store = StateStore.open(tempDir('anystate-state'));
  const project = makeProject(name, { db: { backup: { type: 'postgres' }, environment: { POSTGRES_USER: 'app', POSTGRES_DB: 'app' } } }, { destinations: { local: { type: 'local', path: backupDir } }, retention: { keepLast: 5 } });
  try {
    let db = await postgres(name);
    // A fresh install: the empty database is a valid backup (issue 17, item 4).
    const empty = await runBackups({ engine: engine!, store, project, prune: true });
    assert.equal(empty.ok, true, JSON.stringify(empty.results.map((r) => r.error)));
    assert.match(empty.results[0]!.notes!.join(), /database app is empty/);

    await sql(engine!, db.id, 'postgres', SEED);
    const before = await fingerprint(db.id);
    assert.match(before, /^3000:\w+ true true$/);
    const backup = await runBackups({ engine: engine!, store, project });
    const id = backup.results[0]!.id!;

    // The database dropped: no safety backup (nothing to save), the database created with its owner.
    await sql(engine!, db.id, 'postgres', 'DROP DATABASE app WITH (FORCE)', 'postgres');
    const dropped = await restoreBackup({ engine: engine!, store, project, id, yes: true });
    assert.equal(dropped.ok, true, dropped.error);
    assert.equal(dropped.safetyBackup, undefined);
    assert.match(dropped.notes.join('\n'), /safety backup skipped: database app does not exist/);
    assert.match(dropped.notes.join('\n'), /created database app \(owner app\)/);
    assert.equal(await fingerprint(db.id), before);

    // A fresh cluster (compose down -v, up): roles must exist before the dump's grants.
    await db.remove({ force: true, v: true });
    db = await postgres(name);
    const fresh = await restoreBackup({ engine: engine!, store, project, id, yes: true });
    assert.equal(fresh.ok, true, fresh.error);
    assert.match(fresh.notes.join('\n'), /safety backup skipped: database app is empty/);
    assert.match(fresh.notes.join('\n'), /roles that exist were left as they are: app/);
    assert.equal(await fingerprint(db.id), before);

    // Into a database with data: a safety backup is taken, marked as such.
    const inPlace = await restoreBackup({ engine: engine!, store, project, id, yes: true });
    assert.equal(inPlace.ok, true, inPlace.error);
    assert.equal(inPlace.safetyBackup?.status, 'verified');
    assert.equal(new Catalog(store).get(inPlace.safetyBackup!.id!)!.purpose, 'safety');
  } finally {
    store.close();
  }
});

test('a volume that no longer exists is created with the compose project\'s labels and restored', { skip, timeout: 120_000 }, async () => {
  const name = scopedName('novolume');
  const backupDir = tempDir('novolume-backups');
  const store = StateStore.open(tempDir('novolume-state'));
  const volume = `${name}_files`;
  try {
    const { app } = await volumeWithApp(name, 'mkdir /data/d && echo hello > /data/d/f && chown 7:8 /data/d/f && chmod 640 /data/d/f && ln -s d/f /data/link');
    const listing = 'cd /data && find . -printf "%p %y %U:%G %m %l\\n" | sort';
    const before = (await execInContainer(engine!, app.id, ['sh', '-c', listing])).stdout;
    const project = makeProject(name, { app: { backup: { type: 'volume', volumes: ['files'], stopContainers: true } } }, { destinations: { local: { type: 'local', path: backupDir } } }, { files: {} });
    const id = (await runBackups({ engine: engine!, store, project, helperLabels: label })).results[0]!.id!;
    await app.remove({ force: true });
    await engine!.docker.getVolume(volume).remove();
    const restored = await restoreBackup({ engine: engine!, store, project, id, yes: true, helperLabels: label });
    assert.equal(restored.ok, true, restored.error);
    assert.match(restored.notes.join('\n'), new RegExp(`safety backup skipped: ${volume} missing`));
    assert.match(restored.notes.join('\n'), new RegExp(`created volume ${volume}`));
    const labels = (await engine!.docker.getVolume(volume).inspect()).Labels;
    assert.equal(labels['com.docker.compose.project'], name);
    assert.equal(labels['com.docker.compose.volume'], 'files');
    const check = await startContainer(engine!, { name: `${name}_check`, image: 'local/debian:bookworm', cmd: ['sleep', 'infinity'], init: true, binds: [`${volume}:/data`], labels: label });
    assert.equal((await execInContainer(engine!, check.id, ['sh', '-c', listing])).stdout, before);
    await check.remove({ force: true });
  } finally {
    store.close();
    await engine!.docker.getVolume(volume).remove({ force: true }).catch(() => undefined);
  }
});

test('a safety backup that fails on a target with data stops the restore, with a hint, and changes nothing', { skip, timeout: 120_000 }, async () => {
  const name = scopedName('safetyfail');
  const backupDir = tempDir('safetyfail-backups');
  await execFileAsync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', backupDir]);
  const store = StateStore.open(tempDir('safetyfail-state'));
  try {
    const { volume, app } = await volumeWithApp(name, 'echo small > /data/a');
    const project = makeProject(name, { app: { backup: { type: 'volume', volumes: [volume], stopContainers: true } } }, { destinations: { local: { type: 'local', path: backupDir } } });
    const id = (await runBackups({ engine: engine!, store, project, helperLabels: label })).results[0]!.id!;
    // Now more than the destination can hold: the safety backup cannot be written.
    await execInContainer(engine!, app.id, ['sh', '-c', 'head -c 4000000 /dev/urandom > /data/big.bin']);
    const restored = await restoreBackup({ engine: engine!, store, project, id, yes: true, helperLabels: label });
    assert.equal(restored.ok, false);
    assert.match(restored.error!, /the safety backup of app \(.*holds files\) failed, nothing was restored: .*no space left/);
    assert.match(restored.hint!, /--no-safety-backup/);
    assert.deepEqual(restored.stopped, []);
    assert.equal((await execInContainer(engine!, app.id, ['test', '-s', '/data/big.bin'])).exitCode, 0, 'the data is as it was');
    assert.equal((await app.inspect()).State.Running, true);
  } finally {
    store.close();
    await execFileAsync('umount', [backupDir]).catch(() => undefined);
  }
});

test('a corrupted file is refused before anything is stopped or backed up', { skip, timeout: 120_000 }, async () => {
  const name = scopedName('checkfirst');
  const backupDir = tempDir('checkfirst-backups');
  const store = StateStore.open(tempDir('checkfirst-state'));
  try {
    const { volume, app } = await volumeWithApp(name, 'head -c 300000 /dev/urandom > /data/a.bin');
    const project = makeProject(name, { app: { backup: { type: 'volume', volumes: [volume], stopContainers: true } } }, { destinations: { local: { type: 'local', path: backupDir } } });
    const run = await runBackups({ engine: engine!, store, project, helperLabels: label });
    const id = run.results[0]!.id!;
    const startedAt = (await app.inspect()).State.StartedAt;
    // Changed after the backup: a restore that went ahead would take this file away.
    assert.equal((await execInContainer(engine!, app.id, ['sh', '-c', 'echo after > /data/b.txt'])).exitCode, 0);
    const content = async () => (await execInContainer(engine!, app.id, ['sh', '-c', 'cd /data && ls -A && md5sum a.bin b.txt'])).stdout;
    const before = await content();
    await execFileAsync('sh', ['-c', `printf xxxx | dd of=${join(backupDir, name, 'app', id, `${volume}.tar.gz`)} bs=1 seek=200 conv=notrunc 2>/dev/null`]);
    const restored = await restoreBackup({ engine: engine!, store, project, id, yes: true, helperLabels: label });
    assert.equal(restored.ok, false);
    assert.match(restored.error!, /does not match its manifest checksum.*nothing was changed/);
    assert.deepEqual(restored.stopped, []);
    assert.equal(restored.safetyBackup, undefined, 'no safety backup was taken');
    assert.equal((await app.inspect()).State.StartedAt, startedAt, 'the app was never stopped');
    assert.equal(await content(), before, 'the volume is as it was (the helper started during the check wrote nothing)');
    assert.deepEqual((await helpersOf(name)).map((c) => c.Names[0]), [], 'no helper is left');
    assert.deepEqual(new Catalog(store).list({ project: name }).map((e) => e.id), [id]);
  } finally {
    store.close();
  }
});

test('a failed verify is recorded: the backup is failed, retention keeps the older good one, list shows the result', { skip, timeout: 120_000 }, async () => {
  const name = scopedName('verifyfail');
  const backupDir = tempDir('verifyfail-backups');
  const store = StateStore.open(tempDir('verifyfail-state'));
  try {
    const { volume } = await volumeWithApp(name, 'echo one > /data/a');
    const project = makeProject(name, { app: { backup: { type: 'volume', volumes: [volume], stopContainers: false } } }, { destinations: { local: { type: 'local', path: backupDir } }, retention: { keepLast: 1 } });
    const older = (await runBackups({ engine: engine!, store, project, helperLabels: label })).results[0]!.id!;
    const newer = (await runBackups({ engine: engine!, store, project, helperLabels: label, prune: false })).results[0]!.id!;
    await execFileAsync('rm', [join(backupDir, name, 'app', newer, `${volume}.tar.gz`)]);
    const verify = await verifyBackup({ engine: engine!, store, project, id: newer });
    assert.equal(verify.ok, false);
    const entry = new Catalog(store).get(newer)!;
    assert.equal(entry.status, 'failed');
    assert.equal(entry.lastVerify?.ok, false);
    assert.match(entry.error!, /verify failed/);
    const plan = await applyRetention(store, project, { dryRun: false });
    assert.deepEqual(plan.decisions.filter((d) => d.action === 'prune').map((d) => d.id), [], 'the older, good backup is not pruned for a broken newer one');
    assert.equal(new Catalog(store).get(older)!.status, 'verified');
    assert.equal(new Catalog(store).newestVerified(name).get('app')!.id, older);
    const good = await verifyBackup({ engine: engine!, store, project, id: older });
    assert.equal(good.ok, true);
    assert.equal(new Catalog(store).get(older)!.lastVerify?.ok, true);
  } finally {
    store.close();
  }
});

test('safety backups never take a retention slot: a tiny one of an emptied volume does not prune a good backup', { skip, timeout: 120_000 }, async () => {
  const name = scopedName('safety');
  const backupDir = tempDir('safety-backups');
  const store = StateStore.open(tempDir('safety-state'));
  try {
    const { volume, app } = await volumeWithApp(name, 'head -c 2000000 /dev/urandom > /data/big.bin');
    const project = makeProject(name, { app: { backup: { type: 'volume', volumes: [volume], stopContainers: true } } }, { destinations: { local: { type: 'local', path: backupDir } }, retention: { keepLast: 1 } });
    const good = (await runBackups({ engine: engine!, store, project, helperLabels: label })).results[0]!.id!;
    await execInContainer(engine!, app.id, ['sh', '-c', 'rm -f /data/big.bin && echo tiny > /data/t']);
    const restored = await restoreBackup({ engine: engine!, store, project, id: good, yes: true, helperLabels: label });
    assert.equal(restored.ok, true, restored.error);
    assert.equal(restored.safetyBackup?.status, 'verified');
    const plan = await applyRetention(store, project, { dryRun: false });
    assert.deepEqual(plan.decisions.filter((d) => d.action === 'prune').map((d) => d.id), []);
    assert.equal(new Catalog(store).get(good)!.status, 'verified');
    assert.match(plan.decisions.find((d) => d.id === restored.safetyBackup!.id)!.reasons[0]!, /safety backup, kept 7 days/);
  } finally {
    store.close();
  }
});

test('restore test with the stack\'s own image and environment; its errors verbatim', { skip, timeout: 240_000 }, async () => {
  const name = scopedName('ownimage');
  // A Postgres image that ignores POSTGRES_USER (as images with their own variables do).
  const image = `berthtest/pg-own-env:${SCOPE}`.toLowerCase();
  const context = tempDir('ownimage-build');
  writeFileSync(join(context, 'Dockerfile'), `FROM local/postgres:latest\nRUN sed -i 's/^user=.*/user=\${PG_OWN_USER:-postgres}/' /usr/local/bin/postgres-entrypoint\nLABEL berth.test=${SCOPE}\n`);
  await execFileAsync('docker', ['build', '-q', '-t', image, context]);
  const backupDir = tempDir('ownimage-backups');
  const store = StateStore.open(tempDir('ownimage-state'));
  try {
    const db = await startContainer(engine!, { name: `${name}_db_1`, image, env: ['PG_OWN_USER=shop', 'POSTGRES_DB=shop', 'POSTGRES_PASSWORD=pw'], labels: { ...label, ...composeLabels(name, 'db') } });
    await waitPostgres(engine!, db.id, 'shop', 'shop');
    await sql(engine!, db.id, 'postgres', 'CREATE TABLE t (id int); INSERT INTO t SELECT generate_series(1, 42)', 'shop', 'shop');
    const project = makeProject(name, { db: { backup: { type: 'postgres', user: 'shop', database: 'shop' }, environment: { PG_OWN_USER: 'shop', POSTGRES_DB: 'shop' } } }, { destinations: { local: { type: 'local', path: backupDir } } });
    const id = (await runBackups({ engine: engine!, store, project })).results[0]!.id!;
    const verified = await verifyBackup({ engine: engine!, store, project, id, restoreTest: true, helperLabels: label });
    assert.equal(verified.ok, true, JSON.stringify(verified));
    assert.match(verified.restoreTest!, /t: 42 rows/);
    // A role the image never creates: the server's own words come back, at once, not after 90 s.
    const wrong = makeProject(name, { db: { backup: { type: 'postgres', user: 'nobody', database: 'shop' }, environment: {} } }, { destinations: { local: { type: 'local', path: backupDir } } });
    const started = Date.now();
    const failed = await verifyBackup({ engine: engine!, store, project: wrong, id, restoreTest: true, helperLabels: label });
    assert.equal(failed.ok, false);
    assert.match(JSON.stringify(failed.files), /role \\"nobody\\" does not exist/);
    assert.ok(Date.now() - started < 60_000, "at once, not after the 90 s readiness deadline");
  } finally {
    store.close();
    await execFileAsync('docker', ['rmi', '-f', image]).catch(() => undefined);
  }
});

function spawnBerth(cwd: string, env: Record<string, string>, shell: string) {
  return spawn('sh', ['-c', shell], { cwd, env: { ...process.env, NO_COLOR: '1', BERTH: `${process.execPath} ${bin}`, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
}

async function helpersOf(project: string) {
  return engine!.docker.listContainers({ all: true, filters: { label: [`${PROJECT_LABEL}=${project}`] } });
}

test('no orphans: berth SIGKILLed during a volume backup, `berth backup run 2>&1 | head -1`, and a restore whose reader leaves', { skip, timeout: 180_000 }, async () => {
  const name = scopedName('orphans');
  const dir = tempDir('orphans-project');
  const { volume, app } = await volumeWithApp(name, 'head -c 120000000 /dev/urandom > /data/big.bin');
  writeFileSync(join(dir, 'compose.yaml'), `
name: ${name}
services:
  app:
    image: local/debian:bookworm
    x-berth:
      backup: { type: volume, volumes: [${volume}], stop_containers: true }
x-berth:
  backup:
    destinations:
      local: { type: local, path: ${tempDir('orphans-backups')} }
`);
  const env = { BERTH_STATE_DIR: tempDir('orphans-state') };
  // 1. SIGKILL while the helper streams the volume: the helper goes by itself.
  const child = spawnBerth(dir, env, 'exec $BERTH backup run');
  // Killed while the helper streams (between its create and its start, a window of milliseconds,
  // only the next run's orphan removal can help: part 4).
  await waitFor('the helper container streaming the volume', async () => (await helpersOf(name)).some((c) => c.State === 'running'), 60_000);
  child.kill('SIGKILL');
  await new Promise((resolve) => child.once('exit', resolve));
  await waitFor('the helper to go away', async () => (await helpersOf(name)).length === 0, 20_000);
  // The app stays stopped until the next run (nothing can run after SIGKILL); the next run says so.
  const next = spawnBerth(dir, env, '$BERTH backup run --no-prune');
  let out = '';
  next.stdout.on('data', (d) => (out += d));
  next.stderr.on('data', (d) => (out += d));
  await new Promise((resolve) => next.once('exit', resolve));
  assert.match(out, /restarted .*_app_1, left stopped by an interrupted run/);
  assert.match(out, /marked failed \(interrupted\)/);
  assert.equal((await app.inspect()).State.Running, true);

  // 2. The reader goes away after one line: berth stops as on Ctrl-C, restarts the app, leaves no helper.
  const piped = spawnBerth(dir, env, '$BERTH backup run 2>&1 | head -1');
  let first = '';
  piped.stdout.on('data', (d) => (first += d));
  await new Promise((resolve) => piped.once('exit', resolve));
  assert.equal(first.trim().split('\n').length, 1);
  await waitFor('berth to finish after its reader left', async () => (await helpersOf(name)).length === 0 && (await app.inspect()).State.Running, 60_000);
  const store = StateStore.open(env.BERTH_STATE_DIR);
  try {
    await waitFor('no run recorded as running', async () => new Catalog(store).list({ project: name }).every((e) => e.status !== 'running'), 60_000);
  } finally {
    store.close();
  }

  // 3. A restore whose reader goes away finishes, and starts the app again.
  const store2 = StateStore.open(env.BERTH_STATE_DIR);
  const latest = new Catalog(store2).list({ project: name }).find((e) => e.status === 'verified')!.id;
  store2.close();
  await execInContainer(engine!, app.id, ['sh', '-c', 'rm -f /data/big.bin']);
  const restoring = spawnBerth(dir, env, `$BERTH backup restore ${latest} --yes --no-safety-backup 2>&1 | head -1`);
  await new Promise((resolve) => restoring.once('exit', resolve));
  await waitFor('the restore to finish after its reader left', async () => (await helpersOf(name)).length === 0 && (await app.inspect()).State.Running && (await execInContainer(engine!, app.id, ['test', '-s', '/data/big.bin'])).exitCode === 0, 90_000);

  // 4. A helper left by a berth that died without its engine connection closing (an older berth,
  //    an engine restart): the next run removes it and says so.
  const orphan = await engine!.docker.createContainer({ Image: 'local/busybox:latest', Cmd: ['true'], Labels: { ...label, 'berth.role': 'backup-helper', [OWNER_LABEL]: `${(await import('node:os')).hostname()}:999999`, [PROJECT_LABEL]: name }, HostConfig: { Binds: [`${volume}:/volume:ro`] } });
  const third = spawnBerth(dir, env, '$BERTH backup run --no-prune');
  let third_out = '';
  third.stdout.on('data', (d) => (third_out += d));
  await new Promise((resolve) => third.once('exit', resolve));
  assert.match(third_out, /removed helper container\(s\) .* left by a killed run/);
  await assert.rejects(orphan.inspect(), /no such container/i);
});
