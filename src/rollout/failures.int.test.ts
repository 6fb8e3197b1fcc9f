/**
 * berth rollout when things go wrong, on the real engine through Caddy: a version that never
 * becomes healthy gets no traffic (and the control shows it would), SIGINT/SIGKILL mid-way then a
 * rerun converges, two rollouts at once meet the deploy lock, and rollback under load.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ROLLOUT_LABEL } from './plan.js';
import { integrationEngine } from '../testing/engine.js';
import { keepTag, pruneKeepTags } from './history.js';
import { berthWithSignal, buildApp, describeLoad, removeImages, stackName, TestStack } from './testing.js';

const { engine, skip } = await integrationEngine();
const images: Record<string, string> = {};

describe('berth rollout: failures, interruptions, locks, rollback (Caddy, Compose v1)', { skip }, () => {
  let stack: TestStack;
  before(async () => {
    for (const v of ['v1', 'v2', 'v3', 'v4']) images[v] = await buildApp(v);
    images.bad = await buildApp('bad', { broken: true });
    images.flaky = await buildApp('flaky', { failAfterMs: 9000 });
    images.v5 = await buildApp('v5');
    images.noisy = await buildApp('noisy', { startLog: 'FATAL: cannot read config, using defaults' });
    stack = new TestStack(engine!, stackName('fail'));
    await stack.up(images.v1!, 2);
  });
  after(async () => {
    await stack?.down();
    if (engine) await removeImages(engine);
  });

  test('issue 8: a version that never becomes healthy serves zero requests; old replicas untouched; exit non-zero', async () => {
    const before = await stack.app();
    const { value: result, load } = await stack.underLoad(() => stack.berth(['rollout', 'app'], { image: images.bad }));
    assert.equal(result.code, 1, result.stderr);
    assert.equal(load.failed, 0, describeLoad(load));
    assert.equal(load.byVersion.bad ?? 0, 0, `the bad version must serve nothing: ${describeLoad(load)}`);
    assert.match(result.stderr, /unhealthy/);
    assert.match(result.stderr, /health log of .*_app_\d+:\n\s+.*exit 1/);
    assert.match(result.stderr, /last log lines of .*\n\s+app bad listening on :3000/);
    assert.match(result.stdout, /✗ app: rolled-back[\s\S]*old replicas kept serving/);
    const after = await stack.app();
    assert.deepEqual(after.map((c) => [c.id, c.state, c.health]), before.map((c) => [c.id, 'running', 'healthy']), 'the old replicas are the same, running and healthy');
    const history = JSON.parse((await stack.berth(['--json', 'history', 'app'])).stdout) as Array<{ result: string; detail: { healthLog?: string[] } }>;
    assert.equal(history[0]!.result, 'rolled-back');
    assert.ok((history[0]!.detail.healthLog ?? []).length > 0);
  });

  test('issue 8 control: the same bad version joined to DNS at creation does get requests', async () => {
    const { value: result, load } = await stack.underLoad(() => stack.berth(['rollout', 'app', '--join-dns-at-create'], { image: images.bad }));
    assert.notEqual(result.code, 0, result.stderr);
    assert.ok((load.byVersion.bad ?? 0) > 0, `with DNS at creation the bad version serves: ${describeLoad(load)}`);
    assert.equal((await stack.app()).filter((c) => c.image === images.bad).length, 0, 'the bad replicas were removed after the failed gate');
  });

  test('SIGINT in the middle: new replicas removed, old untouched; SIGKILL leaves leftovers; a rerun converges', async () => {
    const before = await stack.app();
    const interrupted = await berthWithSignal(stack, ['rollout', 'app'], images.v2!, /wait until .* healthy/, 'SIGINT');
    assert.ok(interrupted.signalled);
    assert.equal(interrupted.code, 130, interrupted.stderr);
    assert.match(interrupted.stderr, /SIGINT: stopping the rollout/);
    let now = await stack.app();
    assert.deepEqual(now.map((c) => c.id), before.map((c) => c.id), `only the old replicas remain: ${now.map((c) => c.name).join(', ')}`);

    // SIGKILL gives berth no chance to clean up: a new replica stays behind, out of DNS.
    const killed = await berthWithSignal(stack, ['rollout', 'app'], images.v2!, /wait until .* healthy/, 'SIGKILL');
    assert.ok(killed.signalled);
    now = await stack.app();
    const leftovers = now.filter((c) => c.labels[ROLLOUT_LABEL] && !before.some((b) => b.id === c.id));
    assert.ok(leftovers.length > 0, 'SIGKILL leaves the new replicas behind');

    const { value: rerun, load } = await stack.underLoad(() => stack.berth(['rollout', 'app'], { image: images.v2 }));
    assert.equal(rerun.code, 0, rerun.stderr);
    assert.match(rerun.stderr, /did not finish: reconciling/);
    assert.match(rerun.stderr, /remove .*_app_\d+/);
    assert.equal(load.failed, 0, describeLoad(load));
    now = await stack.app();
    assert.equal(now.length, 2, `exactly the desired 2 replicas: ${now.map((c) => `${c.name} ${c.state}`).join(', ')}`);
    assert.ok(now.every((c) => c.image === images.v2 && c.state === 'running' && c.health === 'healthy'));
    assert.ok(!now.some((c) => leftovers.some((l) => l.id === c.id) || before.some((b) => b.id === c.id)), 'no leftovers, no old replicas');
    const history = JSON.parse((await stack.berth(['--json', 'history', 'app'])).stdout) as Array<{ result: string }>;
    assert.deepEqual(history.slice(0, 3).map((h) => h.result), ['succeeded', 'interrupted', 'interrupted']);
  });

  test('two rollouts at once: one fails naming the lock holder; with --lock-wait the other waits', async () => {
    const [a, b] = await Promise.all([stack.berth(['rollout', 'app'], { image: images.v3 }), stack.berth(['rollout', 'app'], { image: images.v3 })]);
    const codes = [a.code, b.code].sort();
    assert.deepEqual(codes, [0, 4], `${a.stderr}\n---\n${b.stderr}`);
    const loser = a.code === 4 ? a : b;
    assert.match(loser.stderr, new RegExp(`deploy:${stack.project} is locked by \\S+@\\S+ \\(pid \\d+, since .*rollout app\\)`));
    assert.match(loser.stderr, /--lock-wait/);

    const first = stack.berth(['rollout', 'app'], { image: images.v4 });
    await new Promise((r) => setTimeout(r, 1500));
    const waiter = await stack.berth(['rollout', 'app', '--lock-wait', '1m'], { image: images.v4 });
    const done = await first;
    assert.equal(done.code, 0, done.stderr);
    assert.equal(waiter.code, 0, waiter.stderr);
    assert.match(waiter.stdout, /app: unchanged/, 'the waiter found the work done');
  });

  test('berth rollback brings the previous image back with zero failed requests', async () => {
    const { value: result, load, after } = await stack.underLoad(() => stack.berth(['rollback', 'app'], { image: images.v4 }));
    assert.equal(result.code, 0, result.stderr);
    assert.equal(load.failed, 0, describeLoad(load));
    assert.deepEqual(Object.keys(after.byVersion), ['v3'], describeLoad(after));
    const now = await stack.app();
    assert.equal(now.length, 2);
    assert.ok(now.every((c) => /^berth-keep\//.test(c.image)), now.map((c) => c.image).join(', '));
    // The target survives pruning: it is tagged berth-keep/<project>-app:<id>-before.
    const history = JSON.parse((await stack.berth(['--json', 'history', 'app'])).stdout) as Array<{ kind: string; result: string }>;
    assert.deepEqual([history[0]!.kind, history[0]!.result], ['rollback', 'succeeded']);
    // Dry run of a rollback to a named deploy prints the plan and changes nothing.
    const v2Deploy = (JSON.parse((await stack.berth(['--json', 'history', 'app'])).stdout) as Array<{ id: number; imageAfter: string; result: string }>).find((h) => h.imageAfter === images.v2 && h.result === 'succeeded')!;
    const dry = await stack.berth(['rollback', 'app', '--to', String(v2Deploy.id), '--dry-run']);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, new RegExp(`start .*_app_\\d+ from berth-keep/${stack.project}-app:${v2Deploy.id}`));
    assert.deepEqual((await stack.app()).map((c) => c.id), now.map((c) => c.id));
  });

  test('--monitor: a version that turns unhealthy after cut-over is rolled back to the previous image, without failed requests', async () => {
    const before = (await stack.app())[0]!.image;
    const serving = (await fetch(`http://127.0.0.1:${await stack.port()}/`)).headers.get('x-app-version')!;
    const { value: result, load, after } = await stack.underLoad(() => stack.berth(['rollout', 'app', '--monitor', '15s'], { image: images.flaky }));
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /during the monitor window: unhealthy/);
    assert.match(result.stderr, /rolling back to berth-keep\//);
    assert.equal(load.failed, 0, describeLoad(load));
    assert.ok((load.byVersion.flaky ?? 0) > 0, 'the flaky version did serve after cut-over');
    assert.deepEqual(Object.keys(after.byVersion), [serving], `the previous version serves again: ${describeLoad(after)}`);
    const now = await stack.app();
    assert.equal(now.length, 2);
    assert.ok(now.every((c) => c.state === 'running' && c.health === 'healthy' && c.image !== images.flaky), `${now.map((c) => c.image).join(', ')} (was ${before})`);
    const history = JSON.parse((await stack.berth(['--json', 'history', 'app'])).stdout) as Array<{ result: string; detail: { rolledBackTo?: string } }>;
    assert.equal(history[0]!.result, 'rolled-back');
    assert.match(history[0]!.detail.rolledBackTo ?? '', /^berth-keep\//);
  });

  test('berth deploy: hooks, pull (local-only images kept), migrate, rollout under load, verify, log scan', async () => {
    const dry = await stack.berth(['deploy', '--dry-run'], { image: images.v5 });
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /1\. pre-hook: echo pre[\s\S]*2\. pull proxy, app[\s\S]*3\. migrate \(run migrate\)[\s\S]*4\. roll out proxy, app \(log scan before traffic\)[\s\S]*5\. verify[\s\S]*6\. post-hook: echo post/);
    const { value: result, load, after } = await stack.underLoad(() => stack.berth(['deploy'], { image: images.v5 }));
    assert.equal(result.code, 0, result.stderr);
    assert.equal(load.failed, 0, describeLoad(load));
    assert.deepEqual(Object.keys(after.byVersion), ['v5'], describeLoad(after));
    assert.match(result.stderr, /pull failed .*the local images are used/);
    assert.match(result.stderr, /✓ migrate \(run migrate\)/);
    assert.match(result.stderr, /proxy: already runs local\/caddy:latest/);
    assert.match(result.stdout, /✓ deployed /);
    const { readFileSync } = await import('node:fs');
    assert.equal(readFileSync(stack.hookLog, 'utf8'), 'pre\npost\n');
    const history = JSON.parse((await stack.berth(['--json', 'history', 'app'])).stdout) as Array<{ kind: string; result: string }>;
    assert.deepEqual([history[0]!.kind, history[0]!.result], ['deploy', 'succeeded']);

    // A version that logs a fatal line at start: healthy, but the (blocking) log scan keeps it from traffic: exit 1, rolled back.
    const noisy = await stack.berth(['deploy', '--no-migrate'], { image: images.noisy });
    assert.equal(noisy.code, 1, noisy.stderr);
    assert.match(noisy.stderr, /✗ scan the logs of .*error line\(s\) in the new replicas' logs: .*FATAL: cannot read config/);
    assert.ok((await stack.app()).every((c) => c.image === images.v5), 'v5 keeps serving');
  });

  test('keep tags of old deploys are pruned: the newest 10 deploys stay rollback targets', async () => {
    const project = `${stack.project}-prune`;
    const image = engine!.docker.getImage(images.v1!);
    for (let id = 1; id <= 12; id++) await image.tag({ repo: keepTag(project, 'app', id, 'after').repo, tag: keepTag(project, 'app', id, 'before').tag });
    const removed = await pruneKeepTags(engine!, project, 'app', 10);
    assert.deepEqual(removed.sort(), [keepTag(project, 'app', 1, 'before').ref, keepTag(project, 'app', 2, 'before').ref].sort());
    assert.ok(await engine!.inspectImage(keepTag(project, 'app', 3, 'before').ref));
    assert.ok(await engine!.inspectImage(images.v1!), 'the image itself stays');
  });
});
