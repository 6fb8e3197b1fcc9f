/**
 * Issue 17 item 1: a rollout interrupted during the drain leaves the old replicas running out of
 * DNS. The dry run plans their removal; the real run must remove them too, although the service
 * already runs the target image (it used to print "unchanged" and leave them).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { integrationEngine } from '../testing/engine.js';
import { berthWithSignal, buildApp, removeImages, stackName, TestStack } from './testing.js';

const { engine, skip } = await integrationEngine();

describe('berth rollout: leftovers of a rollout interrupted during the drain (Compose v1)', { skip }, () => {
  let stack: TestStack;
  const images: Record<string, string> = {};
  before(async () => {
    images.v1 = await buildApp('v1');
    images.v2 = await buildApp('v2');
    stack = new TestStack(engine!, stackName('leftover'));
    await stack.up(images.v1, 2);
  });
  after(async () => {
    await stack?.down();
    if (engine) await removeImages(engine);
  });

  test('the real run removes what the dry run plans to remove, and says so', async () => {
    const interrupted = await berthWithSignal(stack, ['rollout', 'app', '--drain', '20s'], images.v2!, /\] drain .*…/, 'SIGINT', 1500);
    assert.equal(interrupted.code, 130, interrupted.stderr);
    const afterInterrupt = await stack.app();
    assert.equal(afterInterrupt.filter((c) => c.state === 'running').length, 4, `2 new + 2 drained old: ${afterInterrupt.map((c) => c.name).join(', ')}`);
    const old = afterInterrupt.filter((c) => c.image === images.v1);
    assert.equal(old.length, 2);

    const dry = await stack.berth(['rollout', 'app', '--dry-run'], { image: images.v2 });
    assert.equal(dry.code, 0, dry.stderr);
    for (const c of old) assert.match(dry.stdout, new RegExp(`remove ${c.name}\\n.*interrupted rollout`), dry.stdout);

    const real = await stack.berth(['rollout', 'app'], { image: images.v2 });
    assert.equal(real.code, 0, real.stderr);
    for (const c of old) assert.match(real.stderr, new RegExp(`✓ remove ${c.name}`), real.stderr);
    assert.match(real.stdout, /app: unchanged, .*removed 2 leftover\(s\)/);
    const now = await stack.app();
    assert.deepEqual(now.map((c) => c.image), [images.v2, images.v2], `only the 2 new replicas remain: ${now.map((c) => `${c.name} ${c.image}`).join(', ')}`);

    // A second run has nothing left to do.
    const again = await stack.berth(['rollout', 'app'], { image: images.v2 });
    assert.equal(again.code, 0, again.stderr);
    assert.doesNotMatch(again.stdout, /leftover/);
  });
});
