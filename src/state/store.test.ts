import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { acquireLock, isStale, readLock } from './locks.js';
import { defaultStateDir, StateStore } from './store.js';

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
function freshDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'berth-state-'));
  dirs.push(dir);
  return dir;
}

test('state dir: BERTH_STATE_DIR, else /var/lib/berth for root, else XDG state', () => {
  assert.equal(defaultStateDir({ BERTH_STATE_DIR: '/srv/berth' }, 0), '/srv/berth');
  assert.equal(defaultStateDir({}, 0), '/var/lib/berth');
  assert.equal(defaultStateDir({ XDG_STATE_HOME: '/home/u/.st' }, 1000), '/home/u/.st/berth');
});

test('migrations apply once and the schema survives reopening', () => {
  const dir = freshDir();
  const store = StateStore.open(dir);
  const version = store.schemaVersion;
  assert.ok(version >= 1);
  store.audit({ project: 'shop', action: 'test', detail: { a: 1 } });
  store.close();
  const again = StateStore.open(dir);
  assert.equal(again.schemaVersion, version);
  const rows = again.db.prepare('SELECT project, action, detail FROM audit_log').all();
  assert.deepEqual(rows, [{ project: 'shop', action: 'test', detail: '{"a":1}' }]);
  again.close();
});

test('a store written by a newer berth is refused with one line', () => {
  const dir = freshDir();
  const store = StateStore.open(dir);
  store.db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, ?, ?)').run('future', 'now');
  store.close();
  assert.throws(() => StateStore.open(dir), /written by a newer berth \(schema 999\)/);
});

test('a store whose applied schema differs by name (another build) is refused with one line, before any migration runs', () => {
  const dir = freshDir();
  const store = StateStore.open(dir);
  const version = store.schemaVersion;
  store.db.prepare('UPDATE schema_migrations SET name = ? WHERE version = ?').run('some branch', version);
  store.close();
  assert.throws(() => StateStore.open(dir), new RegExp(`written by another build of berth \\(its schema ${version} is "some branch"`));
});

test('a lock is exclusive, names its holder, and is released', async () => {
  const store = StateStore.open(freshDir());
  const lock = await acquireLock(store, 'deploy:shop', { purpose: 'rollout app' });
  // Another process on this host holds it: simulate with a live pid that is not ours.
  store.db.prepare('UPDATE locks SET pid = ? WHERE name = ?').run(process.ppid, 'deploy:shop');
  await assert.rejects(acquireLock(store, 'deploy:shop', { waitMs: 300, pollMs: 50 }), (error: Error) => {
    assert.match(error.message, /deploy:shop is locked by .+ \(pid \d+, since .+, rollout app\)/);
    return true;
  });
  store.db.prepare('UPDATE locks SET pid = ? WHERE name = ?').run(process.pid, 'deploy:shop');
  lock.release();
  assert.equal(readLock(store, 'deploy:shop'), undefined);
  store.close();
});

test('a stale lock (its process is gone) is taken over', async () => {
  const store = StateStore.open(freshDir());
  const child = spawn(process.execPath, ['-e', '0']);
  const deadPid = await new Promise<number>((resolve) => child.on('exit', () => resolve(child.pid!)));
  await acquireLock(store, 'backup', {});
  store.db.prepare('UPDATE locks SET pid = ? WHERE name = ?').run(deadPid, 'backup');
  const holder = readLock(store, 'backup')!;
  assert.equal(isStale(holder), true);
  const lock = await acquireLock(store, 'backup', { waitMs: 0 });
  assert.equal(lock.holder.pid, process.pid);
  lock.release();
  store.close();
});

test('a waiting lock is granted when the holder releases', async () => {
  const store = StateStore.open(freshDir());
  const first = await acquireLock(store, 'deploy:x');
  store.db.prepare('UPDATE locks SET pid = ? WHERE name = ?').run(process.ppid, 'deploy:x');
  setTimeout(() => store.db.prepare('DELETE FROM locks WHERE name = ?').run('deploy:x'), 200);
  const second = await acquireLock(store, 'deploy:x', { waitMs: 3000, pollMs: 50 });
  assert.equal(second.holder.pid, process.pid);
  second.release();
  first.release();
  store.close();
});

test('facts: remembered, replaced, and kept across reopening', () => {
  const dir = freshDir();
  const store = StateStore.open(dir);
  assert.equal(store.fact('compose-version:/usr/bin/docker-compose:1:2:3'), undefined);
  store.remember('compose-version:/usr/bin/docker-compose:1:2:3', '1.29.1');
  store.remember('compose-version:/usr/bin/docker-compose:1:2:3', '1.29.2');
  store.close();
  const again = StateStore.open(dir);
  assert.equal(again.fact('compose-version:/usr/bin/docker-compose:1:2:3'), '1.29.2');
  again.close();
});
