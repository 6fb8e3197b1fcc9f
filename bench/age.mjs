// age encryption throughput: berth's own implementation (Node's native ChaCha20-Poly1305 and
// X25519, src/backup/age.ts) vs the age-encryption package (the reference TypeScript
// implementation, @noble ciphers in JavaScript), streaming the same file both ways, and the age
// binary (Go) when installed. Alternating runs, medians. Needs: npm run build; the package is
// looked up from AGE_ENCRYPTION_DIR (default: this checkout's node_modules) and skipped if absent.
//   node bench/age.mjs [MiB]
import { execFileSync } from 'node:child_process';
import { createReadStream, createWriteStream, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import { median, writeResult } from './machine.mjs';

const mib = Number(process.argv[2] ?? 256);
const runs = 3;
const { AgeEncrypt, AgeDecrypt, generateIdentity, parseIdentities } = await import('../dist/backup/age.js');
const dir = mkdtempSync(join(tmpdir(), 'berth-bench-age-'));
const input = join(dir, 'plain');
// Half random, half compressible: what a gzip'ed archive or a dump looks like to a cipher (it does not care).
writeFileSync(input, Buffer.concat([randomBytes((mib << 20) / 2), Buffer.alloc((mib << 20) / 2, 7)]));
const { identity, recipient } = generateIdentity();
writeFileSync(join(dir, 'key'), `${identity}\n`);

let ref;
try {
  const base = process.env.AGE_ENCRYPTION_DIR ?? new URL('..', import.meta.url).pathname;
  ref = await import(createRequire(join(base, 'package.json')).resolve('age-encryption'));
} catch {
  ref = undefined;
}
const ageBin = ['/usr/bin/age', '/usr/local/bin/age'].find((p) => existsSync(p));
const sink = () => new Writable({ write(_c, _e, cb) { cb(); } });

const sides = {
  'berth encrypt': async () => pipeline(createReadStream(input), new AgeEncrypt([recipient]), createWriteStream(join(dir, 'berth.age'))),
  'berth decrypt': async () => pipeline(createReadStream(join(dir, 'berth.age')), new AgeDecrypt(parseIdentities(identity)), sink()),
  ...(ref && {
    'age-encryption encrypt': async () => {
      const e = new ref.Encrypter();
      e.addRecipient(recipient);
      const out = await e.encrypt(Readable.toWeb(createReadStream(input)));
      await pipeline(Readable.fromWeb(out), createWriteStream(join(dir, 'ref.age')));
    },
    'age-encryption decrypt': async () => {
      const d = new ref.Decrypter();
      d.addIdentity(identity);
      const out = await d.decrypt(Readable.toWeb(createReadStream(join(dir, 'berth.age'))));
      await pipeline(Readable.fromWeb(out), sink());
    },
  }),
  ...(ageBin && {
    'age binary encrypt': async () => execFileSync(ageBin, ['-r', recipient, '-o', join(dir, 'bin.age'), input]),
    'age binary decrypt': async () => execFileSync(ageBin, ['-d', '-i', join(dir, 'key'), '-o', '/dev/null', join(dir, 'berth.age')]),
  }),
};
const times = Object.fromEntries(Object.keys(sides).map((k) => [k, []]));
await sides['berth encrypt']();
for (let r = 0; r < runs; r++) {
  for (const [name, fn] of Object.entries(sides)) {
    const t = performance.now();
    await fn();
    times[name].push(performance.now() - t);
  }
}

const results = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, { medianMs: Math.round(median(v)), mibPerSecond: Math.round((mib * 1000) / median(v)) }]));
for (const op of ['encrypt', 'decrypt']) {
  for (const other of ['age-encryption', 'age binary']) {
    const o = results[`${other} ${op}`];
    if (o) results[`${other} ${op}`].vsBerth = `${(o.medianMs / results[`berth ${op}`].medianMs).toFixed(2)}x the time`;
  }
}
console.table(results);
rmSync(dir, { recursive: true, force: true });
writeResult('age', { mib, runs, results, ageEncryptionPackage: ref ? 'installed' : 'absent' });
