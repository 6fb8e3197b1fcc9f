/**
 * Issue 17 item 12: the interpolated renderings handed to Compose v1 (secrets in clear text)
 * piled up in /tmp. Now each is written 0600 in a private directory (XDG_RUNTIME_DIR/berth, or the
 * state directory's run/), for one Compose run, and removed when Compose is done.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { runBerth } from '../testing/cli.js';
import { integrationEngine, removeComposeProject, testName } from '../testing/engine.js';
import { writeRendering } from './render.js';

const { engine, skip } = await integrationEngine();
const dir = mkdtempSync(join(tmpdir(), 'berth-render-'));
after(async () => {
  if (engine) await removeComposeProject(engine, project);
  rmSync(dir, { recursive: true, force: true });
});
const project = testName('render');

test('a rendering is private (0600 in a 0700 folder) and gone after its run; a dead berth\'s is swept', () => {
  const runDir = join(dir, 'unit');
  const written = writeRendering('shop', 'secret: x\n', runDir);
  assert.equal(statSync(runDir).mode & 0o777, 0o700);
  assert.equal(statSync(written.file).mode & 0o777, 0o600);
  written.remove();
  assert.deepEqual(readdirSync(runDir), []);
  // A berth that was SIGKILLed left one (pid 2^22+1 does not exist on Linux).
  writeFileSync(join(runDir, 'shop.4194305.0a1b2c3d.compose.yaml'), 'secret: x\n', { mode: 0o600 });
  writeRendering('shop', 'y\n', runDir).remove();
  assert.deepEqual(readdirSync(runDir), []);
});

test('Compose v1 runs read a rendering, which holds the secret while Compose runs and is removed after', { skip }, async () => {
  const work = join(dir, 'project');
  const runtime = join(dir, 'runtime');
  mkdirSync(work);
  mkdirSync(runtime, { mode: 0o700 });
  // `name:` and start_interval: Compose v1 rejects them, so berth hands it a rendering.
  writeFileSync(join(work, 'compose.yaml'), `name: shop
services:
  app:
    image: local/busybox:latest
    command: ["sleep", "600"]
    environment: { API_TOKEN: "\${API_TOKEN}" }
    healthcheck: { test: ["CMD", "true"], interval: 1s, start_interval: 1s }
`);
  const token = `tok-${project}`;
  const env = { XDG_RUNTIME_DIR: runtime, API_TOKEN: token, BERTH_STATE_DIR: join(dir, 'state') };
  const config = await runBerth(['-p', project, 'compose', '--', 'config'], { cwd: work, env });
  assert.equal(config.code, 0, config.stderr);
  assert.match(config.stdout, new RegExp(`API_TOKEN: ${token}`), 'Compose read the interpolated rendering');
  for (let i = 0; i < 3; i++) {
    const ps = await runBerth(['-p', project, 'compose', '--', 'ps'], { cwd: work, env });
    assert.equal(ps.code, 0, ps.stderr);
  }
  assert.deepEqual(readdirSync(join(runtime, 'berth')), [], 'no rendering left behind');
  // The shared temp directory (where renderings used to go) holds no file with this secret.
  const shared = join(tmpdir(), `berth-${process.getuid?.()}`);
  const leaked = existsSync(shared) ? readdirSync(shared).filter((f) => readFileSync(join(shared, f), 'utf8').includes(token)) : [];
  assert.deepEqual(leaked, [], 'the secret is in no file in the shared temp directory');
});
