import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { commitFile, listTarGz, ParallelGzip, sha256File, TarLister, writePartial } from './artifact.js';
import { tempDir } from './testkit.js';

function sampleTar(): Buffer {
  const dir = tempDir('tar-src');
  mkdirSync(join(dir, 'sub'));
  writeFileSync(join(dir, 'a.txt'), 'hello\n');
  writeFileSync(join(dir, 'sub', 'big.bin'), Buffer.alloc(3 * 1024 * 1024, 7));
  writeFileSync(join(dir, 'sub', `${'long-name-'.repeat(15)}.txt`), 'x');
  return execFileSync('tar', ['-C', dir, '-cf', '-', '.'], { maxBuffer: 64 * 1024 * 1024 });
}

test('writePartial + ParallelGzip + tar listing: a multi-member gzip that gunzip reads back identically', async () => {
  const tar = sampleTar();
  const dir = tempDir('artifact');
  const source = new TarLister();
  const written = await writePartial(dir, 'x.tar.gz', Readable.from([tar.subarray(0, 1000), tar.subarray(1000, 2_000_000), tar.subarray(2_000_000)]), [source, new ParallelGzip(6, 64 * 1024)]);
  assert.ok(existsSync(join(dir, 'x.tar.gz.partial')));
  assert.ok(!existsSync(join(dir, 'x.tar.gz')), 'nothing gets its final name before commit');
  assert.deepEqual(gunzipSync(readFileSync(written.partialPath)), tar);
  assert.equal(source.listing.complete, true);
  assert.equal(source.listing.entries, 5, 'dirs ., sub and three files; the GNU long-name header is not an entry');
  assert.deepEqual(await sha256File(written.partialPath), { sha256: written.sha256, sizeBytes: written.sizeBytes });
  await commitFile(written.partialPath, join(dir, 'x.tar.gz'));
  assert.ok(!existsSync(written.partialPath));
  assert.equal((await listTarGz(join(dir, 'x.tar.gz'))).files, 3);
  assert.match(execFileSync('tar', ['-tzf', join(dir, 'x.tar.gz')], { encoding: 'utf8' }), /sub\/big\.bin/);
});

test('a truncated archive is detected; corrupt headers are rejected', async () => {
  const tar = sampleTar();
  const truncated = new TarLister();
  await writePartial(tempDir('trunc'), 't.tar', Readable.from([tar.subarray(0, 1_500_000)]), [truncated]);
  assert.equal(truncated.listing.complete, false);
  const corrupt = Buffer.from(tar);
  corrupt[0] = corrupt[0]! ^ 0xff;
  await assert.rejects(writePartial(tempDir('corrupt'), 'c.tar', Readable.from([corrupt]), [new TarLister()]), /bad header checksum/);
});

test('ParallelGzip with verify decodes every block back and counts them', async () => {
  const tar = sampleTar();
  const gzip = new ParallelGzip(6, 256 * 1024, 4, true);
  const pieces = Array.from({ length: Math.ceil(tar.length / 65536) }, (_, i) => tar.subarray(i * 65536, (i + 1) * 65536));
  const written = await writePartial(tempDir('pgz'), 'v.tar.gz', Readable.from(pieces), [gzip]);
  assert.equal(gzip.blocks, Math.ceil(tar.length / (256 * 1024)));
  assert.deepEqual(gunzipSync(readFileSync(written.partialPath)), tar);
});
