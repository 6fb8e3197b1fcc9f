/**
 * Image facts against the real engine: images built here (STOPSIGNAL SIGQUIT, USER 1000, a
 * HEALTHCHECK, tini as ENTRYPOINT) silence the rules that ask for those; an image without them is
 * still reported. One inspect per image.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, test } from 'node:test';
import type { Engine } from '../engine/client.js';
import { runBerth } from '../testing/cli.js';
import { integrationEngine, RUN_ID, TEST_LABEL, testScope } from '../testing/engine.js';
import { readImageConfigs } from './image-inspect.js';

const run = promisify(execFile);
const { engine, skip } = await integrationEngine();
const SCOPE = testScope('image-facts');
const REPO = `berth-test-facts-${RUN_ID}`.toLowerCase().replace(/[^a-z0-9_.-]/g, '');
const GOOD = `${REPO}:good`;
const PLAIN = `${REPO}:plain`;
const dir = mkdtempSync(join(tmpdir(), 'berth-facts-'));
const stateDir = join(dir, 'state');

async function build(tag: string, dockerfile: string): Promise<void> {
  const child = run('docker', ['build', '-q', '-t', tag, '--label', `${TEST_LABEL}=${SCOPE}`, '-'], { timeout: 120_000 });
  child.child.stdin!.end(dockerfile);
  await child;
}

before(async () => {
  if (skip) return;
  // Config only: the images are never run, so busybox need not have tini or nginx.
  await build(GOOD, ['FROM local/busybox', 'STOPSIGNAL SIGQUIT', 'USER 1000', 'HEALTHCHECK --interval=5s CMD ["wget", "-q", "-O-", "http://127.0.0.1/"]', 'ENTRYPOINT ["/sbin/tini", "--"]', 'CMD ["nginx", "-g", "daemon off;"]', ''].join('\n'));
  await build(PLAIN, ['FROM local/busybox', 'CMD ["nginx", "-g", "daemon off;"]', ''].join('\n'));
  mkdirSync(stateDir, { recursive: true });
  writeFileSync(join(dir, 'compose.yaml'), [
    'services:',
    '  good:',
    `    image: ${GOOD}`,
    '    restart: unless-stopped',
    '  plain:',
    `    image: ${PLAIN}`,
    '    restart: unless-stopped',
    '  built:',
    '    build: ./built',
    '    restart: unless-stopped',
    '',
  ].join('\n'));
  mkdirSync(join(dir, 'built'));
  writeFileSync(join(dir, 'built/Dockerfile'), `FROM ${GOOD}\nCOPY site /usr/share/nginx/html\n`);
});

after(async () => {
  if (!skip) {
    const { stdout } = await run('docker', ['images', '-q', '--filter', `label=${TEST_LABEL}=${SCOPE}`]).catch(() => ({ stdout: '' }));
    await run('docker', ['rmi', '-f', GOOD, PLAIN, ...new Set(stdout.split('\n').filter(Boolean))]).catch(() => undefined);
  }
  rmSync(dir, { recursive: true, force: true });
});

const RULES = ['init', 'user', 'healthcheck', 'stop-signal', 'df-user', 'df-healthcheck'];

test('berth check reads the local images: what they already do is not reported, what they lack is', { skip }, async () => {
  const r = await runBerth(['-f', join(dir, 'compose.yaml'), 'check', '--format', 'json', '--rule', RULES.join(',')], { env: { BERTH_STATE_DIR: stateDir } });
  assert.ok(r.code === 0 || r.code === 1, r.stderr);
  const out = JSON.parse(r.stdout) as { findings: Array<{ rule: string; service?: string; message: string }>; notes: string[] };
  const got = out.findings.map((f) => `${f.rule}:${f.service ?? ''}`).sort();
  // good and built (FROM good) bring init, USER, HEALTHCHECK and STOPSIGNAL; plain none of them.
  assert.deepEqual(got, ['healthcheck:plain', 'init:plain', 'stop-signal:plain', 'user:plain']);
  for (const f of out.findings) assert.doesNotMatch(f.message, /not checked/, f.message);
  assert.match(out.findings.find((f) => f.rule === 'user')!.message, new RegExp(`root, per local image ${PLAIN}`));
  assert.deepEqual(out.notes.filter((n) => n.startsWith('image facts')), ['image facts: 2 read from the local engine']);
  // --no-images: the same project judged without the engine says what it did not check.
  const blind = await runBerth(['-f', join(dir, 'compose.yaml'), 'check', '--format', 'json', '--no-images', '--rule', RULES.join(',')], { env: { BERTH_STATE_DIR: stateDir } });
  const blindOut = JSON.parse(blind.stdout) as { findings: Array<{ rule: string; service?: string; message: string }> };
  assert.ok(blindOut.findings.some((f) => f.service === 'good' && /not checked/.test(f.message)), 'without the engine, good is judged blind and says so');
});

test('one inspect per image, all at once; an absent image is null; a rebuilt tag is read anew', { skip }, async () => {
  let inspects = 0;
  const counting = { inspectImage: (ref: string) => { inspects++; return engine!.inspectImage(ref); } } as unknown as Engine;
  const first = await readImageConfigs([GOOD, PLAIN, 'berth-test-absent/none:1'], counting);
  assert.equal(inspects, 3);
  assert.equal(first.configs.get('berth-test-absent/none:1'), null);
  assert.equal(first.configs.get(GOOD)?.stopSignal, 'SIGQUIT');
  assert.equal(first.configs.get(GOOD)?.user, '1000');
  assert.deepEqual(first.configs.get(GOOD)?.entrypoint, ['/sbin/tini', '--']);
  assert.deepEqual(first.configs.get(GOOD)?.healthcheck?.[0], 'CMD');
  await build(PLAIN, ['FROM local/busybox', 'USER 1000', 'CMD ["nginx"]', ''].join('\n'));
  const second = await readImageConfigs([PLAIN], counting);
  assert.equal(second.configs.get(PLAIN)?.user, '1000');
  assert.notEqual(second.configs.get(PLAIN)?.id, first.configs.get(PLAIN)?.id);
});
