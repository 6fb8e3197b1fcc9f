/**
 * The proxy guidance of docs/proxies.md, checked on the real engine: nginx (a variable upstream
 * re-resolved through Docker's DNS) and HAProxy (server-template with a DNS resolver) in front of the
 * app instead of Caddy, configured as the page says. Both send requests to whatever the service
 * name resolves to, health or not: consecutive rollouts lose no request, a version that never
 * becomes healthy serves none, and the controls show each can fail: joined to DNS at creation the
 * bad version serves; Compose's own recreate loses requests through the same proxy; nginx with a
 * literal upstream (which `berth check` flags) never reaches the new replica.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { integrationEngine } from '../testing/engine.js';
import { startLoad } from './load.js';
import { buildApp, describeLoad, FIXTURE, PROXY_OVERRIDES, removeImages, stackName, TestStack } from './testing.js';

const { engine, skip } = await integrationEngine();
const images: Record<string, string> = {};

describe('berth rollout behind nginx and HAProxy (DNS-resolved upstreams, Compose v1)', { skip }, () => {
  const stacks: TestStack[] = [];
  before(async () => {
    for (const v of ['v1', 'v2', 'v3']) images[v] = await buildApp(v);
    images.bad = await buildApp('bad', { broken: true });
  });
  after(async () => {
    for (const stack of stacks) await stack.down();
    if (engine) await removeImages(engine);
  });

  for (const proxy of ['nginx', 'haproxy'] as const) {
    test(`${proxy}: 2 consecutive rollouts lose no request (compose's recreate does); a never-healthy version serves none (joined to DNS at creation it does)`, async () => {
      const stack = new TestStack(engine!, stackName(proxy), [FIXTURE, PROXY_OVERRIDES[proxy]]);
      stacks.push(stack);
      await stack.up(images.v1!, 1);
      for (const v of ['v2', 'v3']) {
        const { value: result, load, after } = await stack.underLoad(() => stack.berth(['rollout', 'app'], { image: images[v] }));
        assert.equal(result.code, 0, `rollout to ${v}: ${result.stderr}`);
        assert.equal(load.failed, 0, `${proxy}, rollout to ${v}: ${describeLoad(load)}`);
        assert.deepEqual(Object.keys(after.byVersion), [v], `after the rollout only ${v} serves: ${describeLoad(after)}`);
        assert.ok(after.ok >= 20, describeLoad(after));
      }

      const bad = await stack.underLoad(() => stack.berth(['rollout', 'app'], { image: images.bad }));
      assert.equal(bad.value.code, 1, bad.value.stderr);
      assert.equal(bad.load.failed, 0, `${proxy}, bad version: ${describeLoad(bad.load)}`);
      assert.equal(bad.load.byVersion.bad ?? 0, 0, `${proxy}: the bad version must serve nothing: ${describeLoad(bad.load)}`);

      // Control: the same version in DNS from its creation is served by this proxy, so the zero above can fail.
      const control = await stack.underLoad(() => stack.berth(['rollout', 'app', '--join-dns-at-create'], { image: images.bad }));
      assert.notEqual(control.value.code, 0, control.value.stderr);
      assert.ok((control.load.byVersion.bad ?? 0) > 0, `${proxy}: with DNS at creation the bad version serves: ${describeLoad(control.load)}`);
      assert.deepEqual(Object.keys(control.after.byVersion), ['v3'], `after the failed gate only v3 serves again: ${describeLoad(control.after)}`);

      // Control for the zero failures: Compose's own recreate under the same load through this proxy
      // fails requests (the app takes 4 s to listen), so the load and the proxy do show downtime.
      const recreate = await stack.underLoad(() => stack.berth(['compose', '--', 'up', '-d', '--no-deps', '--force-recreate', 'app'], { image: images.v2, env: { APP_STARTUP_MS: '4000' } }));
      assert.equal(recreate.value.code, 0, recreate.value.stderr);
      assert.ok(recreate.load.failed > 0, `${proxy}: plain compose up --force-recreate should fail requests: ${describeLoad(recreate.load)}`);
    });
  }

  test('nginx with a literal upstream (what berth check flags as proxy-static-upstream): after a rollout nothing reaches the new replica', async () => {
    const stack = new TestStack(engine!, stackName('nginx-static'), [FIXTURE, PROXY_OVERRIDES.nginxStatic]);
    stacks.push(stack);
    const check = await stack.berth(['check', '--format', 'json'], { image: images.v1 });
    const findings = (JSON.parse(check.stdout) as { findings: Array<{ rule: string; file: string; line: number }> }).findings.filter((f) => f.rule === 'proxy-static-upstream');
    assert.deepEqual(findings.map((f) => `${f.file.split('/').pop()}:${f.line}`), ['nginx.static.conf:10'], check.stdout);
    await stack.up(images.v1!, 1);
    // The same rollout that loses nothing behind the docs' nginx: nginx still dials v1's address.
    // Requests to the gone address hang: a short timeout keeps them from queueing for long.
    const running = startLoad(await stack.port(), { rps: 40, maxMs: 60_000, timeoutMs: 1000 });
    const result = await stack.berth(['rollout', 'app'], { image: images.v2 });
    await sleep(2000);
    const load = await running.stop();
    assert.equal(result.code, 0, result.stderr);
    assert.equal(load.byVersion.v2 ?? 0, 0, `nginx never re-resolved app: ${describeLoad(load)}`);
    assert.ok(load.failed > 0, `requests fail once the old replica is gone: ${describeLoad(load)}`);
  });
});
