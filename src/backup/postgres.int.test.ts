import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { StateStore } from '../state/store.js';
import { integrationEngine, removeLabelled } from '../testing/engine.js';
import { Catalog } from './catalog.js';
import { restoreBackup, verifyBackup } from './restore.js';
import { runBackups } from './run.js';
import { composeLabels, makeProject, sql, startContainer, tempDir, waitPostgres, SCOPE, scopeLabel, scopedName } from './testkit.js';

const { engine, skip } = await integrationEngine();
const label = scopeLabel;
const projectName = scopedName('pgbk');
const backupDir = tempDir('pg-backups');
const stateDir = tempDir('pg-state');
const project = makeProject(projectName, {
  db: { backup: { type: 'postgres' }, environment: { POSTGRES_USER: 'app', POSTGRES_DB: 'app', POSTGRES_PASSWORD: 'secret-pw' } },
  web: { dependsOn: ['db'] },
}, { destinations: { local: { type: 'local', path: backupDir } } });
let store: StateStore;

async function startDb(): Promise<string> {
  const container = await startContainer(engine!, {
    name: `${projectName}_db_1`, image: 'local/postgres:latest', env: ['POSTGRES_USER=app', 'POSTGRES_DB=app', 'POSTGRES_PASSWORD=secret-pw'],
    labels: { ...label, ...composeLabels(projectName, 'db') },
  });
  await waitPostgres(engine!, container.id);
  return container.id;
}

const checksum = (id: string) => sql(engine!, id, 'postgres', "SELECT count(*) || ':' || md5(string_agg(t::text, ',' ORDER BY id)) FROM items t");

before(async () => {
  if (skip) return;
  store = StateStore.open(stateDir);
});
after(async () => {
  store?.close();
  if (engine) await removeLabelled(engine, SCOPE);
});

test('postgres: backup, destroy, restore gives identical table contents; verify --restore-test', { skip, timeout: 180_000 }, async () => {
  let dbId = await startDb();
  await sql(engine!, dbId, 'postgres', "CREATE TABLE items (id serial PRIMARY KEY, name text, payload bytea, at timestamptz default now()); INSERT INTO items (name, payload) SELECT 'item ' || g, decode(md5(g::text), 'hex') FROM generate_series(1, 5000) g; CREATE ROLE reporting NOLOGIN;");
  const before = await checksum(dbId);
  const events: string[] = [];
  const report = await runBackups({ engine: engine!, store, project, onEvent: (e) => events.push(e.type) });
  assert.equal(report.ok, true, JSON.stringify(report.results.map((r) => r.error)));
  const result = report.results[0]!;
  assert.equal(result.status, 'verified');
  const dir = join(backupDir, projectName, 'db', result.id!);
  assert.deepEqual(readdirSync(dir).sort(), ['app.pgdump', 'globals.sql', 'manifest.json']);
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  assert.match(manifest.server.version, /^PostgreSQL 15/);
  assert.match(manifest.files[0].verifiedBy, /pg_restore --list: \d+ entries/);
  assert.match(readFileSync(join(dir, 'globals.sql'), 'utf8'), /CREATE ROLE reporting/);
  assert.ok(events.includes('done'));
  const entry = new Catalog(store).get(result.id!)!;
  assert.equal(entry.status, 'verified');
  // Secrets never end up in the manifest or catalog.
  assert.ok(!JSON.stringify(entry).includes('secret-pw'));

  const verified = await verifyBackup({ engine: engine!, store, project, id: result.id!, restoreTest: true, helperLabels: label });
  assert.equal(verified.ok, true, JSON.stringify(verified));
  assert.match(verified.restoreTest!, /items: 5000 rows/);

  // Destroy the database entirely: container and data.
  await engine!.docker.getContainer(dbId).remove({ force: true, v: true });
  dbId = await startDb();
  assert.equal(await sql(engine!, dbId, 'postgres', "SELECT count(*) FROM pg_tables WHERE tablename = 'items'"), '0');
  // The app that depends on db is stopped for the restore and started again afterwards.
  const web = await startContainer(engine!, { name: `${projectName}_web_1`, image: 'local/busybox:latest', cmd: ['sleep', '3600'], init: true, labels: { ...label, ...composeLabels(projectName, 'web') } });
  await sql(engine!, dbId, 'postgres', "CREATE TABLE items (id int); INSERT INTO items VALUES (42)");
  const restored = await restoreBackup({ engine: engine!, store, project, id: result.id!, yes: true, helperLabels: label });
  assert.equal(restored.ok, true, JSON.stringify(restored));
  assert.deepEqual(restored.stopped, [`${projectName}_web_1`]);
  assert.equal((await web.inspect()).State.Running, true);
  assert.equal(await checksum(dbId), before);
  // The safety backup holds what was there before the restore.
  assert.equal(restored.safetyBackup?.status, 'verified');
  const safety = await verifyBackup({ engine: engine!, store, project, id: restored.safetyBackup!.id!, restoreTest: true, helperLabels: label });
  assert.match(safety.restoreTest!, /items: 1 rows/);
});
