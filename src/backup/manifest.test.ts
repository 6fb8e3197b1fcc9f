import assert from 'node:assert/strict';
import { test } from 'node:test';
import { manifestProblem, sealManifest } from './manifest.js';
import type { BackupManifest } from './types.js';

const manifest: BackupManifest = {
  format: 'berth-backup/1', id: 'db-20261203T010000Z-1a2b', project: 'shop', target: 'db', kind: 'postgres', service: 'db',
  startedAt: '2026-12-03T01:00:00.000Z', finishedAt: '2026-12-03T01:00:05.000Z', files: [{ name: 'app.pgdump', role: 'dump', sizeBytes: 10, sha256: 'ab', verifiedBy: 'x' }],
  totalBytes: 10, stoppedContainers: [], berthVersion: '0', host: 'old-server',
};

test('a sealed manifest proves itself; any change to it is recognised', () => {
  const sealed = JSON.parse(JSON.stringify(sealManifest(manifest))) as BackupManifest;
  assert.match(sealed.checksum!, /^sha256:[0-9a-f]{64}$/);
  assert.equal(manifestProblem(sealed), undefined);
  assert.equal(manifestProblem(sealed, manifest.id), undefined);
  assert.match(manifestProblem(sealed, 'other')!, /belongs to/);
  assert.match(manifestProblem({ ...sealed, totalBytes: 11 })!, /own checksum/);
  assert.match(manifestProblem({ ...sealed, files: [{ ...sealed.files[0]!, sha256: 'cd' }] })!, /own checksum/);
  // Older manifests, without a checksum, are read as they are.
  assert.equal(manifestProblem(manifest), undefined);
  assert.match(manifestProblem({ format: 'x' })!, /unknown format/);
});
