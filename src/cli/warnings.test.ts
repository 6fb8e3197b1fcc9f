/**
 * Issue 17 item 2: the compose loader's warnings reach the user, on stderr with file:line, from
 * every command that loads the project (here `check`, which needs no engine), also when the load
 * then fails; --json output stays clean.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { runBerth } from '../testing/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'berth-warn-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const COMPOSE = [
  'version: "3.8"',
  'x-berth:',
  '  deploy:',
  '    migrat: { service: app }',
  'services:',
  '  app:',
  '    image: local/busybox:${TAG:-1}',
  '    command: ["httpd", "-f", "-p", "${PORT}"]',
  '    x-berth:',
  '      rollout:',
  '        drian: 2s',
  '',
].join('\n');

test('unknown x-berth keys, an unset variable and the obsolete version key are printed with file:line', async () => {
  writeFileSync(join(dir, 'compose.yaml'), COMPOSE);
  const result = await runBerth(['--json', 'check'], { cwd: dir, env: { PORT: undefined } });
  const warnings = result.stderr.split('\n').filter((l) => l.startsWith('berth: warning: '));
  assert.deepEqual(warnings, [
    'berth: warning: compose.yaml:8:36: the "PORT" variable is not set, defaulting to a blank string',
    'berth: warning: compose.yaml:1:1: the top-level "version" is obsolete and ignored',
    'berth: warning: compose.yaml:11:9: unknown x-berth key services.app.x-berth.rollout.drian',
    'berth: warning: compose.yaml:4:5: unknown x-berth key x-berth.deploy.migrat',
  ], result.stderr);
  JSON.parse(result.stdout); // stdout holds only the result
});

test('with an x-berth error: the warnings first, then every problem', async () => {
  writeFileSync(join(dir, 'compose.yaml'), `${COMPOSE}        batch: two\n        timeout: soon\n`);
  const result = await runBerth(['check'], { cwd: dir, env: { PORT: '80' } });
  assert.equal(result.code, 2, result.stderr);
  assert.match(result.stderr, /^berth: warning: compose\.yaml:1:1: .*version[\s\S]*berth: warning: compose\.yaml:11:9: unknown x-berth key .*drian[\s\S]*\nberth: 2 x-berth problems:\n  compose\.yaml:12:9: .*batch must be integer\n  compose\.yaml:13:9: invalid .*timeout "soon"/);
});
