import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ComposeProject } from '../../compose/types.js';
import { databaseOf, nextVersionName, planRotation, secretFile, serviceSecretTarget, type SecretState } from './plan.js';
import { scramVerifier } from './run.js';

const project = { name: 'shop', workingDir: '/srv/shop', model: { secrets: { db_password: { file: './secrets/db.txt' }, ext: { external: true }, env: { environment: 'TOKEN' } } }, services: { app: {}, db: {}, proxy: {} }, inactiveServices: [] } as unknown as ComposeProject;

const state = (over: Partial<SecretState> = {}): SecretState => ({
  name: 'db_password', fileRaw: './secrets/db.txt', file: '/srv/shop/secrets/db.txt', composeFile: '/srv/shop/compose.yaml', siblings: ['db.txt', 'db.v2.txt'],
  consumers: [
    { service: 'app', target: '/run/secrets/db_password', containers: [{ id: 'a1', name: 'shop_app_1' }] },
    { service: 'db', target: '/run/secrets/db_password', containers: [{ id: 'd1', name: 'shop_db_1' }], database: { kind: 'postgres', user: 'app', variable: 'POSTGRES_PASSWORD_FILE' } },
  ],
  ...over,
});

test('version names, targets and database detection', () => {
  assert.equal(nextVersionName('/x/db.txt', []), 'db.v2.txt');
  assert.equal(nextVersionName('/x/db.v2.txt', []), 'db.v3.txt');
  assert.equal(nextVersionName('/x/db.txt', ['db.v2.txt']), 'db.v3.txt');
  assert.equal(nextVersionName('/x/token', []), 'token.v2');
  assert.equal(serviceSecretTarget({ secrets: ['s'] }, 's'), '/run/secrets/s');
  assert.equal(serviceSecretTarget({ secrets: [{ source: 's', target: 'pw' }] }, 's'), '/run/secrets/pw');
  assert.equal(serviceSecretTarget({ secrets: ['t'] }, 's'), undefined);
  assert.deepEqual(databaseOf({ POSTGRES_PASSWORD_FILE: '/run/secrets/s', POSTGRES_USER: 'app' }, '/run/secrets/s'), { kind: 'postgres', user: 'app', variable: 'POSTGRES_PASSWORD_FILE' });
  assert.deepEqual(databaseOf({ MARIADB_PASSWORD_FILE: '/run/secrets/s', MARIADB_USER: 'shop' }, '/run/secrets/s'), { kind: 'mysql', user: 'shop', variable: 'MARIADB_PASSWORD_FILE' });
  assert.equal(databaseOf({ DATABASE_PASSWORD_FILE: '/run/secrets/s' }, '/run/secrets/s'), undefined);
});

test('bad input is refused before anything changes', () => {
  assert.throws(() => secretFile(project, 'nope'), /^BerthError: no secret "nope" in project shop$/);
  assert.throws(() => secretFile(project, 'ext'), /is external/);
  assert.throws(() => secretFile(project, 'env'), /environment variable TOKEN/);
  assert.deepEqual(secretFile(project, 'db_password'), { fileRaw: './secrets/db.txt', file: '/srv/shop/secrets/db.txt' });
  assert.throws(() => planRotation(project, state(), { services: ['proxy'] }), /service "proxy" does not use secret "db_password"/);
  assert.throws(() => planRotation(project, state({ unwritable: 'EROFS: read-only file system' }), {}), /berth cannot write next to it: EROFS/);
  assert.throws(() => planRotation(project, state({ consumers: [...state().consumers, { service: 'proxy', target: '/run/secrets/db_password', containers: [{ id: 'p', name: 'p' }] }] }), { services: ['app'] }), /own password: every running user of it must move to the new one, also proxy/);
  assert.throws(() => planRotation(project, state({ consumers: [state().consumers[0]!, { ...state().consumers[1]!, containers: [] }] }), {}), /which is not running/);
});

test('the order: file, reference, database password, verify, rollout, old file', () => {
  const plan = planRotation(project, state(), {});
  assert.deepEqual(plan.steps.map((s) => s.kind), ['write-file', 'edit-compose', 'db-password', 'verify-db', 'rollout', 'remove-old', 'remove-old'], 'the old file, and db.v2.txt found beside it');
  assert.equal(plan.newFile, '/srv/shop/secrets/db.v3.txt');
  assert.equal(plan.newFileRaw, './secrets/db.v3.txt');
  const rollout = plan.steps.find((s) => s.kind === 'rollout');
  assert.deepEqual(rollout, { kind: 'rollout', services: ['app'], rebind: { '/srv/shop/secrets/db.txt': '/srv/shop/secrets/db.v3.txt' }, reason: rollout!.reason });
  assert.match(plan.steps.find((s) => s.kind === 'remove-old')!.reason, /db keeps it mounted until it is recreated/);
});

test('SCRAM-SHA-256 verifier as Postgres stores it (RFC 7677 test vector: password "pencil")', () => {
  const salt = Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64');
  assert.equal(scramVerifier('pencil', salt, 4096), 'SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=');
});

test('earlier versions left by a previous rotation are removed when no container mounts them', async () => {
  const { earlierVersions } = await import('./plan.js');
  assert.deepEqual(earlierVersions('/s/db.v3.txt', ['db.txt', 'db.v2.txt', 'db.v3.txt', 'dbx.txt', 'db.v2.txt.bak', 'other.txt']), ['/s/db.txt', '/s/db.v2.txt']);
  const plan = planRotation(project, state({ file: '/srv/shop/secrets/db.v2.txt', fileRaw: './secrets/db.v2.txt', siblings: ['db.txt', 'db.v2.txt'] }), {});
  assert.deepEqual(plan.steps.filter((s) => s.kind === 'remove-old').map((s) => (s as { path: string }).path), ['/srv/shop/secrets/db.v2.txt', '/srv/shop/secrets/db.txt']);
});
