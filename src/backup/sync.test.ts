import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { StateStore } from '../state/store.js';
import { Catalog } from './catalog.js';
import { sealManifest } from './manifest.js';
import { syncCatalog } from './sync.js';
import { makeProject, tempDir } from './testkit.js';
import type { BackupManifest } from './types.js';

function manifest(id: string, host = 'old-server', purpose?: 'safety'): BackupManifest {
  return sealManifest({
    format: 'berth-backup/1', id, project: 'shop', target: 'db', kind: 'postgres', service: 'db', startedAt: `2026-12-0${id.at(-1)}T01:00:00.000Z`, finishedAt: `2026-12-0${id.at(-1)}T01:00:05.000Z`,
    files: [{ name: 'app.pgdump', role: 'dump', sizeBytes: 10, sha256: 'ab', verifiedBy: 'x' }], totalBytes: 10, stoppedContainers: [], berthVersion: '0', host, ...(purpose ? { purpose } : {}),
  });
}

test('an empty catalog is rebuilt from the destination; lost backups are marked, damaged manifests are not trusted', async () => {
  const root = tempDir('sync-dest');
  const write = (m: BackupManifest, text = JSON.stringify(m)) => {
    mkdirSync(join(root, m.project, m.target, m.id), { recursive: true });
    writeFileSync(join(root, m.project, m.target, m.id, 'manifest.json'), text);
  };
  write(manifest('db-1'));
  write(manifest('db-2', 'old-server', 'safety'));
  write(manifest('db-3'), JSON.stringify({ ...manifest('db-3'), totalBytes: 99 }));
  mkdirSync(join(root, 'shop', 'db', 'db-4'), { recursive: true });
  write(sealManifest({ ...manifest('other-1'), project: 'elsewhere', checksum: undefined }));
  const project = makeProject('shop', { db: { backup: { type: 'postgres' } } }, { destinations: { local: { type: 'local', path: root } } });
  const store = StateStore.open(tempDir('sync-state'));
  try {
    const first = await syncCatalog(store, project);
    assert.deepEqual(first.added.sort(), ['db-1', 'db-2']);
    assert.deepEqual(first.found, { local: 2 });
    assert.deepEqual(first.incomplete.map((i) => [i.relDir, i.problem.slice(0, 30)]), [['shop/db/db-3', 'manifest.json does not match i'], ['shop/db/db-4', 'no manifest.json: incomplete, ']]);
    const catalog = new Catalog(store);
    assert.equal(catalog.get('db-1')!.status, 'verified');
    assert.equal(catalog.get('db-1')!.host, 'old-server');
    assert.equal(catalog.get('db-2')!.purpose, 'safety');
    assert.equal(catalog.get('other-1'), undefined, 'other projects only when asked');
    assert.deepEqual((await syncCatalog(store, project)).added, [], 'a second sync adds nothing');
    assert.deepEqual((await syncCatalog(store, project, { allProjects: true })).added, ['other-1']);

    rmSync(join(root, 'shop', 'db', 'db-1'), { recursive: true });
    const lost = await syncCatalog(store, project);
    assert.deepEqual(lost.missing, ['db-1']);
    assert.match(catalog.get('db-1')!.error!, /not found at destination local/);
    write(manifest('db-1'));
    await syncCatalog(store, project);
    assert.equal(catalog.get('db-1')!.status, 'verified', 'back at its destination, it counts again');
  } finally {
    store.close();
  }
});
