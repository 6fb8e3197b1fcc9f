/**
 * The MariaDB side of secrets rotate against a real MariaDB: the user changes its own password
 * (ALTER USER CURRENT_USER(), logged in with the old one), then the new one connects over TCP and the
 * old one is refused; the undo (the old password back) works the same way.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { execInContainer } from '../../backup/exec.js';
import { integrationEngine, removeLabelled, TEST_LABEL, testName, testScope } from '../../testing/engine.js';
import { connects, setDatabasePassword } from './run.js';

const { engine, skip } = await integrationEngine();
const scope = testScope('secrets-mariadb');

describe('secrets rotate: MariaDB password (real MariaDB)', { skip }, () => {
  let id = '';
  before(async () => {
    const c = await engine!.docker.createContainer({ name: testName('mariadb'), Image: 'local/mariadb:latest', Labels: { [TEST_LABEL]: scope } });
    await c.start();
    id = c.id;
    for (let i = 0; ; i++) {
      // As the official image creates the application user: 'shop'@'%'.
      const r = await execInContainer(engine!, id, ['mariadb', '-e', "CREATE USER IF NOT EXISTS 'shop'@'%' IDENTIFIED BY 'old-pw'"]);
      if (r.exitCode === 0) break;
      if (i > 60) throw new Error(`mariadb did not start: ${r.stderr}`);
      await sleep(500);
    }
  });
  after(async () => {
    if (engine) await removeLabelled(engine, scope);
  });

  test('new password connects, old refused; and back', async () => {
    const step = { containerId: id, database: 'mysql' as const, user: 'shop' };
    assert.equal((await connects(engine!, step, 'old-pw')).ok, true, 'the old password works before');
    await setDatabasePassword(engine!, step, "n3w'pw\\x", 'old-pw');
    assert.equal((await connects(engine!, step, "n3w'pw\\x")).ok, true, 'the new one (quote and backslash in it) connects');
    const stale = await connects(engine!, step, 'old-pw');
    assert.equal(stale.ok, false);
    assert.match(stale.message, /Access denied for user 'shop'/);
    await setDatabasePassword(engine!, step, 'old-pw', "n3w'pw\\x");
    assert.equal((await connects(engine!, step, 'old-pw')).ok, true, 'undo restores the old password');
  });
});
