/**
 * Issue 17 item 7: berth deploy's log scan. A harmless startup line ("Sentry error reporting
 * enabled") used to fail the deploy after the cut-over, with the old replicas gone, post-hooks
 * skipped and history "succeeded". Now, blocking (the default), the scan is a gate before traffic:
 * the old replicas keep serving, exit 1 and history "rolled-back" agree; an ignore entry or the
 * advisory mode lets the deploy through, exit 0 and "succeeded".
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { integrationEngine } from '../testing/engine.js';
import { buildApp, describeLoad, FIXTURE, removeImages, stackName, TestStack } from './testing.js';

const { engine, skip } = await integrationEngine();
const dir = mkdtempSync(join(tmpdir(), 'berth-logscan-'));
const IGNORE = join(dir, 'compose.ignore.yaml');
writeFileSync(IGNORE, 'x-berth:\n  deploy:\n    log_scan: { ignore: ["error reporting enabled"] }\n');

type History = Array<{ result: string; imageAfter: string }>;

describe('berth deploy: the log scan (Caddy, Compose v1)', { skip }, () => {
  let stack: TestStack;
  const images: Record<string, string> = {};
  before(async () => {
    images.v1 = await buildApp('v1');
    images.sentry = await buildApp('sentry', { startLog: 'Sentry error reporting enabled' });
    images.noisy = await buildApp('noisy', { startLog: 'FATAL: cannot read config, using defaults' });
    stack = new TestStack(engine!, stackName('logscan'));
    await stack.up(images.v1, 2);
  });
  after(async () => {
    await stack?.down();
    if (engine) await removeImages(engine);
    rmSync(dir, { recursive: true, force: true });
  });

  test('blocking (default): the finding stops the new version before traffic; exit 1 and history agree', async () => {
    const before = await stack.app();
    const { value: result, load } = await stack.underLoad(() => stack.berth(['deploy', '--no-migrate'], { image: images.sentry }));
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /error line\(s\) in the new replicas' logs: .*Sentry error reporting enabled/);
    assert.match(result.stderr, /deploy\.log_scan\.ignore/);
    assert.equal(load.failed, 0, describeLoad(load));
    assert.equal(load.byVersion.sentry ?? 0, 0, `the new version got no traffic: ${describeLoad(load)}`);
    const now = await stack.app();
    assert.deepEqual(now.map((c) => c.id), before.map((c) => c.id), 'the old replicas still serve');
    const history = JSON.parse((await stack.berth(['--json', 'history', 'app'])).stdout) as History;
    assert.equal(history[0]!.result, 'rolled-back', 'history agrees with the exit code');
    const dry = await stack.berth(['deploy', '--no-migrate', '--dry-run'], { image: images.sentry });
    assert.match(dry.stdout, /roll out proxy, app \(log scan before traffic\)/);
  });

  test('an ignore entry in x-berth deploy.log_scan lets the harmless line through: exit 0, succeeded', async () => {
    const ignoring = new TestStack(engine!, stack.project, [FIXTURE, IGNORE]);
    ignoring.replicas = stack.replicas;
    const result = await ignoring.berth(['deploy', '--no-migrate'], { image: images.sentry, env: { BERTH_STATE_DIR: stack.stateDir } });
    assert.equal(result.code, 0, result.stderr);
    const history = JSON.parse((await stack.berth(['--json', 'history', 'app'])).stdout) as History;
    assert.deepEqual([history[0]!.result, history[0]!.imageAfter], ['succeeded', images.sentry]);
  });

  test('advisory: the line is reported, the deploy succeeds; exit 0 and history agree', async () => {
    const result = await stack.berth(['deploy', '--no-migrate', '--log-scan', 'advisory'], { image: images.noisy });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /log: .*_app_\d+: FATAL: cannot read config/);
    assert.match(result.stdout, /✓ deployed/);
    const history = JSON.parse((await stack.berth(['--json', 'history', 'app'])).stdout) as History;
    assert.equal(history[0]!.result, 'succeeded');
    assert.ok((await stack.app()).every((c) => c.image === images.noisy));
  });
});
