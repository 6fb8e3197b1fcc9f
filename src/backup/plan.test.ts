import assert from 'node:assert/strict';
import { test } from 'node:test';
import { containersToStop, planTarget, type TargetFacts } from './plan.js';
import { defaultBackupDir, dependentsOf, resolveDestination, resolveTargets, volumeSelectorName } from './targets.js';
import { makeProject } from './testkit.js';

const project = makeProject('shop', {
  db: { backup: { type: 'postgres' }, environment: { POSTGRES_USER: 'shop', POSTGRES_DB: 'orders' } },
  maria: { backup: { type: 'mysql', passwordFile: '/run/secrets/pw' }, environment: { MARIADB_DATABASE: 'legacy' } },
  api: { dependsOn: ['db'] },
  worker: { dependsOn: ['api'] },
  files: { backup: { type: 'volume', volumes: ['uploads', 'label=backup=daily', 'external_vol'], stopContainers: false, schedule: '0 3 * * *', destination: 'offsite' } },
}, { destinations: { offsite: { type: 'sftp', host: 'h', port: 22, user: 'u', path: '/b' }, rel: { type: 'local', path: 'backups' } } }, { uploads: {}, named: { name: 'custom-name' } });

test('targets come from x-berth.backup with database defaults from the service environment', () => {
  const targets = resolveTargets(project);
  assert.deepEqual(targets.map((t) => [t.name, t.kind]), [['db', 'postgres'], ['maria', 'mysql'], ['files', 'volume']]);
  const db = targets[0]!;
  assert.equal(db.user, 'shop');
  assert.equal(db.database, 'orders');
  assert.equal(db.destination, 'local');
  assert.deepEqual(db.dependents, ['api', 'worker'], 'transitive dependents are stopped on restore');
  const maria = targets[1]!;
  assert.equal(maria.user, 'root');
  assert.equal(maria.database, 'legacy');
  assert.equal(maria.passwordFile, '/run/secrets/pw');
  assert.equal(targets[2]!.schedule, '0 3 * * *');
});

test('unknown targets are a usage error naming the known ones', () => {
  assert.throws(() => resolveTargets(project, ['nope']), (error: Error & { hint?: string }) => /no backup target "nope"/.test(error.message) && /db, maria, files/.test(error.hint ?? ''));
  assert.deepEqual(resolveTargets(project, ['files']).map((t) => t.name), ['files']);
});

test('dependents: none for a leaf, the chain for a root', () => {
  assert.deepEqual(dependentsOf(project, 'worker'), []);
  assert.deepEqual(dependentsOf(project, 'api'), ['worker']);
});

test('volume selectors: compose key -> project-prefixed name, explicit name, label, engine name', () => {
  assert.deepEqual(volumeSelectorName(project, 'uploads'), { name: 'shop_uploads' });
  assert.deepEqual(volumeSelectorName(project, 'named'), { name: 'custom-name' });
  assert.deepEqual(volumeSelectorName(project, 'label=backup=daily'), { label: 'backup=daily' });
  assert.deepEqual(volumeSelectorName(project, 'external_vol'), { name: 'external_vol' });
});

test('destinations: the default is local under the state dir (or BERTH_BACKUP_DIR); relative paths resolve from the project', () => {
  assert.deepEqual(resolveDestination(project, 'local', '/var/lib/berth').config, { type: 'local', path: '/var/lib/berth/backups' });
  assert.equal(defaultBackupDir('/s', { BERTH_BACKUP_DIR: '/mnt/b' }), '/mnt/b');
  const rel = resolveDestination(project, 'rel', '/s').config;
  assert.equal(rel.type === 'local' && rel.path.endsWith('/backups') && rel.path.startsWith('/'), true);
  assert.throws(() => resolveDestination(project, 'missing', '/s'), /destination "missing" is not defined/);
});

const volumeFacts = (stopLabel: boolean): TargetFacts => ({
  volumes: [{ name: 'shop_uploads', selectedBy: 'uploads', users: [
    { id: 'a', name: 'shop_api_1', running: true, mountPath: '/srv/uploads', stopLabel },
    { id: 'b', name: 'shop_old_1', running: false, mountPath: '/srv/uploads', stopLabel: true },
  ] }],
});

test('plan: volume targets stop running users only when configured or labelled, with reasons', () => {
  const files = resolveTargets(project, ['files'])[0]!;
  assert.deepEqual(containersToStop(files, volumeFacts(false)), []);
  assert.deepEqual(containersToStop(files, volumeFacts(true)).map((c) => c.name), ['shop_api_1']);
  assert.deepEqual(containersToStop({ ...files, stopContainers: true }, volumeFacts(false)).map((c) => c.name), ['shop_api_1'], 'stopped containers are not started');
  const running = planTarget(files, volumeFacts(false), 'offsite');
  assert.deepEqual(running.steps.map((s) => s.action), ['archive-volume', 'verify', 'commit', 'manifest']);
  assert.match(running.steps[0]!.reason, /keep running/);
  const stopping = planTarget(files, volumeFacts(true), 'offsite');
  assert.deepEqual(stopping.steps.map((s) => s.action), ['stop', 'archive-volume', 'start', 'verify', 'commit', 'manifest']);
  for (const step of stopping.steps) assert.ok(step.reason.length > 10);
});

test('plan: database targets dump, verify and commit; a problem yields no steps', () => {
  const db = resolveTargets(project, ['db'])[0]!;
  const plan = planTarget(db, { volumes: [], container: { id: 'x', name: 'shop_db_1', image: 'postgres:15' } }, 'local');
  assert.deepEqual(plan.steps.map((s) => s.action), ['dump', 'dump-globals', 'verify', 'commit', 'manifest']);
  assert.match(plan.steps[0]!.detail, /pg_dump -Fc orders in shop_db_1/);
  const missing = planTarget(db, { volumes: [], problem: 'no running container for service db' }, 'local');
  assert.equal(missing.steps.length, 0);
  assert.match(missing.problem!, /no running container/);
});

test('an invalid age recipient fails the run before anything is touched', async () => {
  const { runBackups } = await import('./run.js');
  const encrypted = makeProject('enc', { db: { backup: { type: 'postgres' } } }, { encryption: { ageRecipients: ['age1notakey'] } });
  await assert.rejects(runBackups({ engine: {} as never, store: {} as never, project: encrypted }), /invalid age recipient "age1notakey"/);
});
