import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { StateStore } from '../state/store.js';
import { integrationEngine, removeLabelled } from '../testing/engine.js';
import { Catalog } from './catalog.js';
import { execInContainer } from './exec.js';
import { restoreBackup, verifyBackup } from './restore.js';
import { runBackups } from './run.js';
import { composeLabels, makeProject, sql, startContainer, tempDir, waitMariadb, SCOPE, scopeLabel, scopedName } from './testkit.js';

const { engine, skip } = await integrationEngine();
const label = scopeLabel;
const projectName = scopedName('mybk');
const backupDir = tempDir('my-backups');
const stateDir = tempDir('my-state');
const project = makeProject(projectName, { db: { backup: { type: 'mysql', database: 'shop' } } }, { destinations: { local: { type: 'local', path: backupDir } } });

after(async () => {
  if (engine) await removeLabelled(engine, SCOPE);
});

async function startDb(): Promise<string> {
  const container = await startContainer(engine!, { name: `${projectName}_db_1`, image: 'local/mariadb:latest', labels: { ...label, ...composeLabels(projectName, 'db') } });
  await waitMariadb(engine!, container.id);
  return container.id;
}

const checksum = (id: string) => sql(engine!, id, 'mysql', 'CHECKSUM TABLE orders EXTENDED; SELECT COUNT(*), MD5(GROUP_CONCAT(id, name, amount ORDER BY id)) FROM orders', 'shop');

test('mariadb: backup with --single-transaction, destroy, restore gives identical table contents', { skip, timeout: 180_000 }, async () => {
  const store = StateStore.open(stateDir);
  try {
    let dbId = await startDb();
    await sql(engine!, dbId, 'mysql', "CREATE DATABASE shop; CREATE TABLE shop.orders (id INT PRIMARY KEY AUTO_INCREMENT, name VARCHAR(64), amount DECIMAL(10,2)) ENGINE=InnoDB; INSERT INTO shop.orders (name, amount) SELECT CONCAT('order ', seq), seq * 1.25 FROM seq_1_to_3000;", 'mysql');
    const before = await checksum(dbId);
    assert.match(before, /3000/);
    const report = await runBackups({ engine: engine!, store, project });
    assert.equal(report.ok, true, JSON.stringify(report.results.map((r) => r.error)));
    const result = report.results[0]!;
    const manifest = JSON.parse(readFileSync(join(backupDir, projectName, 'db', result.id!, 'manifest.json'), 'utf8'));
    assert.match(manifest.server.version, /MariaDB/);
    assert.equal(manifest.files[0].name, 'shop.sql');
    assert.match(readFileSync(join(backupDir, projectName, 'db', result.id!, 'shop.sql'), 'utf8'), /-- Dump completed/);

    const verified = await verifyBackup({ engine: engine!, store, project, id: result.id!, restoreTest: true, helperLabels: label });
    assert.equal(verified.ok, true, JSON.stringify(verified));
    assert.match(verified.restoreTest!, /restored; 1 tables/);

    await engine!.docker.getContainer(dbId).remove({ force: true, v: true });
    dbId = await startDb();
    assert.equal(await sql(engine!, dbId, 'mysql', "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = 'shop'", 'mysql'), '0');
    const restored = await restoreBackup({ engine: engine!, store, project, id: result.id!, yes: true, safetyBackup: false });
    assert.equal(restored.ok, true, JSON.stringify(restored));
    assert.equal(await checksum(dbId), before);

    // A non-root user whose password lives in a file inside the container: berth never sees it.
    const secret = 'pw-7f3a9c-never-logged';
    await sql(engine!, dbId, 'mysql', `CREATE USER 'backup'@'localhost' IDENTIFIED BY '${secret}'; GRANT SELECT, SHOW VIEW, TRIGGER, LOCK TABLES, EVENT ON *.* TO 'backup'@'localhost';`, 'mysql');
    await execInContainer(engine!, dbId, ['sh', '-c', `printf '%s' '${secret}' > /run/backup.pw && printf 'wrong' > /run/wrong.pw`]);
    const withFile = makeProject(projectName, { db: { backup: { type: 'mysql', database: 'shop', user: 'backup', passwordFile: '/run/backup.pw' } } }, { destinations: { local: { type: 'local', path: backupDir } } });
    const events: string[] = [];
    const filed = await runBackups({ engine: engine!, store, project: withFile, onEvent: (e) => events.push(JSON.stringify(e)) });
    assert.equal(filed.ok, true, JSON.stringify(filed.results.map((r) => r.error)));
    const wrong = makeProject(projectName, { db: { backup: { type: 'mysql', database: 'shop', user: 'backup', passwordFile: '/run/wrong.pw' } } }, { destinations: { local: { type: 'local', path: backupDir } } });
    const denied = await runBackups({ engine: engine!, store, project: wrong, onEvent: (e) => events.push(JSON.stringify(e)) });
    assert.equal(denied.ok, false);
    assert.match(denied.results[0]!.error!, /Access denied for user 'backup'/);
    const everything = JSON.stringify([filed, denied, events, new Catalog(store).list()]);
    assert.ok(!everything.includes(secret) && !everything.includes('wrong.pw\u0000'), 'no password in reports, events or the catalog');
  } finally {
    store.close();
  }
});
