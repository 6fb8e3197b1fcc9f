import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { test } from 'node:test';
import { AgeDecrypt, AgeEncrypt, bech32Decode, bech32Encode, generateIdentity, parseIdentities } from './age.js';
import { tempDir } from './testkit.js';

async function run(input: Buffer, transform: NodeJS.ReadWriteStream, pieces = 7): Promise<Buffer> {
  const out: Buffer[] = [];
  const step = Math.max(1, Math.ceil(input.length / pieces));
  const parts = input.length === 0 ? [] : Array.from({ length: Math.ceil(input.length / step) }, (_, i) => input.subarray(i * step, (i + 1) * step));
  await pipeline(Readable.from(parts), transform as unknown as NodeJS.ReadWriteStream & Readable, async function* (source: AsyncIterable<Buffer>) {
    for await (const chunk of source) out.push(chunk);
  });
  return Buffer.concat(out);
}

const ageBinary = ['/usr/bin/age', '/usr/local/bin/age'].find((p) => existsSync(p));
const sizes = [0, 1, 65535, 65536, 65537, 3 * 65536, 200_000];

test('bech32 round trip and checksum', () => {
  const data = Buffer.from('00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff', 'hex');
  const text = bech32Encode('age', data);
  assert.match(text, /^age1[a-z0-9]+$/);
  assert.deepEqual(bech32Decode(text), { hrp: 'age', data });
  assert.throws(() => bech32Decode(text.slice(0, -1) + (text.endsWith('q') ? 'p' : 'q')), /checksum/);
});

test('age: encrypt then decrypt gives the input back, for sizes around the 64 KiB chunk boundary', async () => {
  const { identity, recipient } = generateIdentity();
  const identities = parseIdentities(`# created: now\n${identity}\n`);
  for (const size of sizes) {
    const input = Buffer.alloc(size, 0);
    for (let i = 0; i < size; i++) input[i] = (i * 31 + 7) & 0xff;
    const encrypted = await run(input, new AgeEncrypt([recipient]));
    assert.ok(encrypted.toString('latin1').startsWith('age-encryption.org/v1\n-> X25519 '));
    assert.deepEqual(await run(encrypted, new AgeDecrypt(identities), 3), input, `size ${size}`);
  }
});

test('age: a wrong key, a flipped bit and truncation are all rejected', async () => {
  const { recipient } = generateIdentity();
  const other = parseIdentities(generateIdentity().identity);
  const input = Buffer.alloc(150_000, 5);
  const encrypted = await run(input, new AgeEncrypt([recipient]));
  await assert.rejects(run(encrypted, new AgeDecrypt(other)), /no identity matches/);
  const mine = generateIdentity();
  const enc2 = await run(input, new AgeEncrypt([recipient, mine.recipient]));
  const ids = parseIdentities(mine.identity);
  assert.deepEqual(await run(enc2, new AgeDecrypt(ids)), input, 'second recipient can decrypt');
  const flipped = Buffer.from(enc2);
  flipped[flipped.length - 100] = flipped[flipped.length - 100]! ^ 1;
  await assert.rejects(run(flipped, new AgeDecrypt(ids)), /authentication failed/);
  await assert.rejects(run(enc2.subarray(0, enc2.length - 70_000), new AgeDecrypt(ids)), /authentication failed/);
});

test('age: interoperates with the age binary both ways', { skip: ageBinary ? false : 'age binary not installed (apt-get install age)' }, async () => {
  const dir = tempDir('age');
  const { identity, recipient } = generateIdentity();
  writeFileSync(join(dir, 'key.txt'), `${identity}\n`, { mode: 0o600 });
  const input = Buffer.alloc(140_000, 0).map((_, i) => (i * 17) & 0xff);
  writeFileSync(join(dir, 'ours.age'), await run(Buffer.from(input), new AgeEncrypt([recipient])));
  assert.deepEqual(execFileSync(ageBinary!, ['-d', '-i', join(dir, 'key.txt'), join(dir, 'ours.age')], { maxBuffer: 1 << 24 }), Buffer.from(input));
  writeFileSync(join(dir, 'plain'), input);
  execFileSync(ageBinary!, ['-r', recipient, '-o', join(dir, 'theirs.age'), join(dir, 'plain')]);
  assert.deepEqual(await run(readFileSync(join(dir, 'theirs.age')), new AgeDecrypt(parseIdentities(identity))), Buffer.from(input));
  // And a key made by age-keygen works here.
  execFileSync(`${ageBinary}-keygen`, ['-o', join(dir, 'keygen.txt')], { stdio: 'ignore' });
  const keygen = readFileSync(join(dir, 'keygen.txt'), 'utf8');
  const theirRecipient = /public key: (age1\S+)/.exec(keygen)![1]!;
  const enc = await run(Buffer.from('hello'), new AgeEncrypt([theirRecipient]));
  writeFileSync(join(dir, 'k.age'), enc);
  assert.equal(execFileSync(ageBinary!, ['-d', '-i', join(dir, 'keygen.txt'), join(dir, 'k.age')], { encoding: 'utf8' }), 'hello');
});
