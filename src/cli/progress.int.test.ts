/**
 * Issue 17 item 15: long waits say they are alive (also with --json, on stderr), an empty history
 * of a non-root user points at root's state, and `scripts/demo down` only tears down.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { rootStateHint } from '../state/dir.js';
import { REPO_ROOT, runBerth } from '../testing/cli.js';
import { integrationEngine, removeComposeProject, testName } from '../testing/engine.js';

const { engine, skip } = await integrationEngine();
const dir = mkdtempSync(join(tmpdir(), 'berth-progress-'));
const project = testName('progress');
// Healthy only after ~7 s: longer than one heartbeat (5 s).
writeFileSync(join(dir, 'compose.yaml'), `services:
  app:
    image: local/busybox:latest
    command: ["sh", "-c", "sleep 7; touch /tmp/ready; exec sleep 600"]
    init: true
    healthcheck: { test: ["CMD-SHELL", "test -f /tmp/ready"], interval: 1s, retries: 30 }
`);
const berth = (args: string[]) => runBerth(['-p', project, ...args], { cwd: dir, env: { BERTH_STATE_DIR: join(dir, 'state') } });

describe('long waits have a heartbeat (Compose v1, real engine)', { skip }, () => {
  after(async () => {
    await berth(['compose', '--', 'down', '-t', '0']);
    if (engine) await removeComposeProject(engine, project);
    rmSync(dir, { recursive: true, force: true });
  });

  test('berth up: "still waiting" on stderr while the health check has not passed', async () => {
    const up = await berth(['up']);
    assert.equal(up.code, 0, up.stderr);
    assert.match(up.stderr, /still waiting \(\d+s of ≤ \d+s\): .*starting: .*_app_1/);
  });

  test('berth rollout --json: stdout is the JSON result, the heartbeat goes to stderr', async () => {
    const rollout = await berth(['--json', 'rollout', 'app', '--force']);
    assert.equal(rollout.code, 0, rollout.stderr);
    const result = JSON.parse(rollout.stdout) as { ok: boolean; services: Array<{ durationMs: number; phases: Record<string, number> }> };
    assert.equal(result.ok, true);
    // Issue 17 item 16: durations in JSON are whole milliseconds.
    for (const s of result.services) for (const ms of [s.durationMs, ...Object.values(s.phases)]) assert.ok(Number.isInteger(ms), `${ms} is whole milliseconds`);
    assert.match(rollout.stderr, /still waiting: 0 of 1 healthy \(starting\), \d+(\.\d)?s of ≤ /);
  });
});

test('an empty history of another user names where root\'s state lives', () => {
  assert.match(rootStateHint('/home/ann/.local/state/berth', 1000, () => true) ?? '', /berth run as root records in \/var\/lib\/berth: sudo berth history/);
  assert.equal(rootStateHint('/var/lib/berth', 1000, () => true), undefined);
  assert.equal(rootStateHint('/home/ann/.local/state/berth', 0, () => true), undefined);
  assert.equal(rootStateHint('/home/ann/.local/state/berth', 1000, () => false), undefined);
});

test('scripts/demo down tears down before installing the engine, building images or the code', () => {
  const script = readFileSync(join(REPO_ROOT, 'scripts/demo'), 'utf8');
  const down = script.indexOf('if [ "${1:-}" = down ]');
  const exit = script.indexOf('exit 0', down);
  assert.ok(down >= 0 && exit > down);
  for (const heavy of ['scripts/engine all', 'node scripts/berth-images.mjs']) assert.ok(script.indexOf(heavy) > exit, `${heavy} runs only after the down branch`);
});
