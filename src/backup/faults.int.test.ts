import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ExitCode } from '../lib/errors.js';
import { StateStore } from '../state/store.js';
import { execFileAsync, integrationEngine, removeLabelled } from '../testing/engine.js';
import { Catalog } from './catalog.js';
import { execInContainer } from './exec.js';
import { StopJournal } from './journal.js';
import { runBackups } from './run.js';
import { composeLabels, makeProject, sql, startContainer, tempDir, volumeWithApp as testkitVolumeWithApp, waitFor, waitPostgres, SCOPE, scopeLabel, scopedName } from './testkit.js';

const { engine, skip } = await integrationEngine();
const label = scopeLabel;

after(async () => {
  if (engine) await removeLabelled(engine, SCOPE);
});

/** Every file under dir, relative. */
function files(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => join(e.parentPath ?? (e as unknown as { path: string }).path, e.name).slice(dir.length + 1));
}

const volumeWithApp = (name: string, seed: string) => testkitVolumeWithApp(engine!, name, seed);

test('a dump killed mid-way fails clearly and leaves no artifact', { skip, timeout: 120_000 }, async () => {
  const name = scopedName('pgkill');
  const backupDir = tempDir('kill-backups');
  const store = StateStore.open(tempDir('kill-state'));
  try {
    const db = await startContainer(engine!, { name: `${name}_db_1`, image: 'local/postgres:latest', env: ['POSTGRES_USER=app', 'POSTGRES_DB=app', 'POSTGRES_PASSWORD=pw'], labels: { ...label, ...composeLabels(name, 'db') } });
    await waitPostgres(engine!, db.id);
    await sql(engine!, db.id, 'postgres', "CREATE TABLE big AS SELECT g AS id, md5(g::text) || repeat(md5((g * 7)::text), 8) AS body FROM generate_series(1, 250000) g");
    const project = makeProject(name, { db: { backup: { type: 'postgres' }, environment: { POSTGRES_USER: 'app', POSTGRES_DB: 'app' } } }, { destinations: { local: { type: 'local', path: backupDir } } });
    let killed = false;
    const killer = (async () => {
      // Wait until the dump has written bytes, then terminate its server backend.
      await waitFor('the dump to start writing', async () => files(backupDir).some((f) => f.endsWith('.pgdump.partial') && statSync(join(backupDir, f)).size > 0), 60_000);
      await sql(engine!, db.id, 'postgres', "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'pg_dump'");
      killed = true;
    })();
    const report = await runBackups({ engine: engine!, store, project });
    await killer;
    assert.equal(killed, true);
    assert.equal(report.ok, false);
    const result = report.results[0]!;
    assert.equal(result.status, 'failed');
    assert.match(result.error!, /pg_dump of app in .* failed \(exit 1\)/);
    assert.deepEqual(files(backupDir), [], 'no file of the failed run is left');
    assert.equal(new Catalog(store).get(result.id!)!.status, 'failed');
  } finally {
    store.close();
  }
});

test('a full destination fails clearly and leaves no artifact', { skip, timeout: 60_000 }, async () => {
  const name = scopedName('full');
  const backupDir = tempDir('full-backups');
  await execFileAsync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', backupDir]);
  const store = StateStore.open(tempDir('full-state'));
  try {
    await volumeWithApp(name, 'head -c 4000000 /dev/urandom > /data/big.bin');
    const project = makeProject(name, { app: { backup: { type: 'volume', volumes: [`${name}_files`], stopContainers: false } } }, { destinations: { local: { type: 'local', path: backupDir } } });
    const report = await runBackups({ engine: engine!, store, project, helperLabels: label });
    const result = report.results[0]!;
    assert.equal(result.status, 'failed');
    assert.match(result.error!, /no space left on the destination/);
    assert.deepEqual(files(backupDir), []);
    assert.equal(new Catalog(store).get(result.id!)!.status, 'failed');
  } finally {
    store.close();
    await execFileAsync('umount', [backupDir]).catch(() => undefined);
  }
});

test('a missing database container fails the target with a clear error', { skip }, async () => {
  const name = scopedName('nodb');
  const backupDir = tempDir('nodb-backups');
  const store = StateStore.open(tempDir('nodb-state'));
  try {
    const project = makeProject(name, { db: { backup: { type: 'postgres' } } }, { destinations: { local: { type: 'local', path: backupDir } } });
    const report = await runBackups({ engine: engine!, store, project });
    assert.equal(report.ok, false);
    assert.match(report.results[0]!.error!, /no running container for service db/);
    assert.deepEqual(files(backupDir), []);
    const dry = await runBackups({ engine: engine!, store, project, dryRun: true });
    assert.match(dry.results[0]!.error!, /no running container/);
  } finally {
    store.close();
  }
});

test('two concurrent runs: one runs, the other is refused by the host-wide lock', { skip, timeout: 60_000 }, async () => {
  const name = scopedName('conc');
  const backupDir = tempDir('conc-backups');
  const stateDir = tempDir('conc-state');
  const [storeA, storeB] = [StateStore.open(stateDir), StateStore.open(stateDir)];
  try {
    await volumeWithApp(name, 'head -c 200000 /dev/urandom > /data/a.bin');
    const project = makeProject(name, { app: { backup: { type: 'volume', volumes: [`${name}_files`], stopContainers: false } } }, { destinations: { local: { type: 'local', path: backupDir } } });
    const [a, b] = await Promise.allSettled([runBackups({ engine: engine!, store: storeA, project, helperLabels: label }), runBackups({ engine: engine!, store: storeB, project, helperLabels: label })]);
    const ok = [a, b].filter((r) => r.status === 'fulfilled');
    const refused = [a, b].filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
    assert.equal(ok.length, 1);
    assert.equal(refused.length, 1);
    assert.match(refused[0]!.reason.message, /backup is locked by/);
    assert.equal(refused[0]!.reason.exitCode, ExitCode.locked);
    assert.equal(files(backupDir).filter((f) => f.endsWith('manifest.json')).length, 1);
    assert.ok(files(backupDir).every((f) => !f.endsWith('.partial')));
  } finally {
    storeA.close();
    storeB.close();
  }
});

test('berth killed while containers are stopped for a snapshot: the next run restarts them', { skip, timeout: 90_000 }, async () => {
  const name = scopedName('crash');
  const backupDir = tempDir('crash-backups');
  const stateDir = tempDir('crash-state');
  const { volume, app } = await volumeWithApp(name, 'echo hello > /data/hello');
  const child = spawn(process.execPath, ['--input-type=module', '-e', `
    const { Engine } = await import(${JSON.stringify(new URL('../engine/client.js', import.meta.url).href)});
    const { StateStore } = await import(${JSON.stringify(new URL('../state/store.js', import.meta.url).href)});
    const { runBackups } = await import(${JSON.stringify(new URL('./run.js', import.meta.url).href)});
    const { makeProject } = await import(${JSON.stringify(new URL('./testkit.js', import.meta.url).href)});
    const project = makeProject(${JSON.stringify(name)}, { app: { backup: { type: 'volume', volumes: [${JSON.stringify(volume)}], stopContainers: true } } }, { destinations: { local: { type: 'local', path: ${JSON.stringify(backupDir)} } } });
    await runBackups({ engine: await Engine.connect(), store: StateStore.open(${JSON.stringify(stateDir)}), project, helperLabels: ${JSON.stringify(label)},
      hooks: { inSnapshotWindow: async () => { process.stdout.write('IN-WINDOW\\n'); await new Promise(() => {}); } } });
  `], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => d.toString().includes('IN-WINDOW') && resolve());
      child.once('exit', (code) => reject(new Error(`child exited early (${code})`)));
    });
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    assert.equal((await app.inspect()).State.Running, false, 'the app was stopped and berth died');
    assert.equal(new StopJournal(stateDir).read().length, 1, 'the stop is journaled');
    assert.ok(files(backupDir).every((f) => !f.endsWith('manifest.json')), 'nothing looks complete');

    const store = StateStore.open(stateDir);
    try {
      const project = makeProject(name, { app: { backup: { type: 'volume', volumes: [volume], stopContainers: false } } }, { destinations: { local: { type: 'local', path: backupDir } } });
      const report = await runBackups({ engine: engine!, store, project, helperLabels: label });
      assert.deepEqual(report.recovered.map((r) => r.name), [`${name}_app_1`]);
      assert.equal((await app.inspect()).State.Running, true, 'the next run restarted it');
      assert.equal(new StopJournal(stateDir).read().length, 0);
      assert.equal(report.ok, true);
      const entries = new Catalog(store).list({ project: name });
      assert.deepEqual(entries.map((e) => e.status).sort(), ['failed', 'verified']);
      assert.match(entries.find((e) => e.status === 'failed')!.error!, /interrupted/);
      // Only the new, complete backup remains on disk.
      assert.deepEqual(files(backupDir).filter((f) => !f.startsWith(`${name}/app/${report.results[0]!.id}/`)), []);
    } finally {
      store.close();
    }
  } finally {
    child.kill('SIGKILL');
    await sleep(10);
  }
});

test('interrupted (Ctrl-C) in the snapshot window: the run fails cleanly, containers are started, nothing is left', { skip, timeout: 60_000 }, async () => {
  const name = scopedName('abort');
  const backupDir = tempDir('abort-backups');
  const store = StateStore.open(tempDir('abort-state'));
  try {
    const { volume, app } = await volumeWithApp(name, 'head -c 2000000 /dev/urandom > /data/a.bin');
    const project = makeProject(name, { app: { backup: { type: 'volume', volumes: [volume], stopContainers: true } } }, { destinations: { local: { type: 'local', path: backupDir } } });
    const abort = new AbortController();
    const report = await runBackups({ engine: engine!, store, project, helperLabels: label, signal: abort.signal, hooks: { inSnapshotWindow: async () => abort.abort() } });
    assert.equal(report.ok, false);
    assert.equal(report.results[0]!.status, 'failed');
    assert.match(report.results[0]!.error!, /interrupted/);
    assert.equal((await app.inspect()).State.Running, true);
    assert.deepEqual(files(backupDir), []);
    assert.equal(new StopJournal(store.dir).read().length, 0);
  } finally {
    store.close();
  }
});
