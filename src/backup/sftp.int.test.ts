import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { StateStore } from '../state/store.js';
import { integrationEngine, removeLabelled } from '../testing/engine.js';
import { Catalog } from './catalog.js';
import { execInContainer } from './exec.js';
import { restoreBackup, verifyBackup } from './restore.js';
import { runBackups } from './run.js';
import { makeProject, startSftpServer, tempDir, volumeWithApp, SCOPE, scopeLabel, scopedName } from './testkit.js';

const { engine, skip } = await integrationEngine();
const label = scopeLabel;

after(async () => {
  if (engine) await removeLabelled(engine, SCOPE);
});

test('sftp destination: a real OpenSSH server gets partial uploads renamed, manifest last; verify and restore read back from it', { skip, timeout: 120_000 }, async () => {
  const name = scopedName('sftp');
  const { server, port, config: destinationConfig } = await startSftpServer(engine!, name, join(tempDir('sftp-key'), 'id_ed25519'));
  const stateDir = tempDir('sftp-state');

  const { volume, app } = await volumeWithApp(engine!, name, 'head -c 500000 /dev/urandom > /data/blob && echo hi > /data/hi && chown 42:43 /data/hi');
  const before = (await execInContainer(engine!, app.id, ['sh', '-c', 'cd /data && md5sum blob hi && stat -c "%n %u:%g %a" blob hi'])).stdout;

  const project = makeProject(name, { app: { backup: { type: 'volume', volumes: [volume], stopContainers: true, destination: 'offsite' } } }, { destinations: { offsite: destinationConfig } });
  const store = StateStore.open(stateDir);
  try {
    const report = await runBackups({ engine: engine!, store, project, helperLabels: label });
    assert.equal(report.ok, true, JSON.stringify(report.results.map((r) => r.error)));
    const id = report.results[0]!.id!;
    assert.match(report.results[0]!.location!, new RegExp(`^sftp://root@127.0.0.1:${port}/srv/backups/${name}/app/${id}$`));

    const listing = (await execInContainer(engine!, server.id, ['sh', '-c', `cd /srv/backups/${name}/app/${id} && ls -A && sha256sum ${volume}.tar.gz`])).stdout;
    assert.deepEqual(listing.split('\n').slice(0, 2).sort(), [`${volume}.tar.gz`, 'manifest.json']);
    const manifest = new Catalog(store).get(id)!.manifest!;
    assert.ok(listing.includes(manifest.files[0]!.sha256), 'the remote file has the manifest checksum');
    assert.equal((await execInContainer(engine!, server.id, ['sh', '-c', 'find /srv/backups -name "*.partial" | wc -l'])).stdout.trim(), '0');

    const verified = await verifyBackup({ engine: engine!, store, project, id });
    assert.equal(verified.ok, true, JSON.stringify(verified));

    // Corrupt the remote copy: verify must notice.
    await execInContainer(engine!, server.id, ['sh', '-c', `printf x | dd of=/srv/backups/${name}/app/${id}/${volume}.tar.gz bs=1 seek=100 conv=notrunc 2>/dev/null`]);
    const corrupt = await verifyBackup({ engine: engine!, store, project, id });
    assert.equal(corrupt.ok, false);
    assert.match(corrupt.files[0]!.detail, /checksum mismatch/);

    // A second backup, then restore it from the server.
    const second = await runBackups({ engine: engine!, store, project, helperLabels: label });
    await execInContainer(engine!, app.id, ['sh', '-c', 'rm -f /data/*']);
    const restored = await restoreBackup({ engine: engine!, store, project, id: second.results[0]!.id!, yes: true, safetyBackup: false, helperLabels: label });
    assert.equal(restored.ok, true, JSON.stringify(restored));
    assert.equal((await execInContainer(engine!, app.id, ['sh', '-c', 'cd /data && md5sum blob hi && stat -c "%n %u:%g %a" blob hi'])).stdout, before);
  } finally {
    store.close();
  }
});
