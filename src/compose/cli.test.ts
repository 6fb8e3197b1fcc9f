import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { StateStore } from '../state/store.js';
import { binaryFactKey, composeVersion, findOnPath } from './cli.js';

const dir = mkdtempSync(join(tmpdir(), 'berth-compose-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A stand-in Compose binary that counts how often it is asked for its version. */
function fakeCompose(name: string, version: string): { path: string; runs: () => number } {
  const path = join(dir, name);
  const counter = `${path}.runs`;
  writeFileSync(counter, '');
  writeFileSync(path, `#!/bin/sh\necho x >> '${counter}'\necho '${version}'\n`);
  chmodSync(path, 0o755);
  return { path, runs: () => readFileSync(counter, 'utf8').split('\n').filter(Boolean).length };
}

test('findOnPath: the first executable file on PATH; a path with a slash is itself; else undefined', () => {
  const other = mkdtempSync(join(dir, 'other-'));
  writeFileSync(join(other, 'tool'), 'not executable');
  const fake = fakeCompose('tool', '1.0.0');
  assert.equal(findOnPath('tool', `${other}:${dir}`), fake.path);
  assert.equal(findOnPath(fake.path, ''), fake.path);
  assert.equal(findOnPath('tool', other), undefined);
  assert.equal(findOnPath('no-such-tool', `${dir}:/nonexistent`), undefined);
});

test('a standalone Compose binary is asked its version once; a changed binary is asked again', async () => {
  const fake = fakeCompose('docker-compose', '1.29.2');
  const store = StateStore.open(mkdtempSync(join(dir, 'state-')));
  try {
    const env = { PATH: dir };
    assert.equal(await composeVersion(['docker-compose'], env, store), '1.29.2');
    assert.equal(await composeVersion(['docker-compose'], env, store), '1.29.2');
    assert.equal(fake.runs(), 1, 'the second answer came from the store');
    // An upgrade replaces the file: another size and time, so another key.
    const before = binaryFactKey(fake.path);
    writeFileSync(fake.path, `#!/bin/sh\necho x >> '${fake.path}.runs'\necho 'v2.20.0'\n`);
    assert.notEqual(binaryFactKey(fake.path), before);
    assert.equal(await composeVersion(['docker-compose'], env, store), '2.20.0');
    assert.equal(fake.runs(), 2);
    // Without memory (or for `docker compose`, a plugin) it is asked every time.
    assert.equal(await composeVersion([fake.path], env), '2.20.0');
    assert.equal(fake.runs(), 3);
  } finally {
    store.close();
  }
});

test('a binary that does not run is no Compose, and nothing is remembered for it', async () => {
  const broken = join(dir, 'broken-compose');
  writeFileSync(broken, '#!/bin/sh\nexit 3\n');
  chmodSync(broken, 0o755);
  const facts = new Map<string, string>();
  const memory = { fact: (k: string) => facts.get(k), remember: (k: string, v: string) => void facts.set(k, v) };
  assert.equal(await composeVersion([broken], {}, memory), undefined);
  assert.equal(await composeVersion(['no-such-compose'], { PATH: dir }, memory), undefined);
  assert.equal(facts.size, 0);
});

test('a store that cannot answer costs the slow way, not the command', async () => {
  const fake = fakeCompose('flaky-compose', '1.29.2');
  const memory = { fact: (): string => { throw new Error('database is locked'); }, remember: () => { throw new Error('database is locked'); } };
  assert.equal(await composeVersion([fake.path], {}, memory), '1.29.2');
  assert.equal(fake.runs(), 1);
});
