/**
 * berth rollout under load through a real reverse proxy (Caddy, dynamic DNS upstreams), with the
 * real CLI and Compose v1: zero failed requests over consecutive rollouts, with 1 and 2 replicas,
 * and the control: a plain `compose up --force-recreate` under the same load fails requests.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { execFileAsync, integrationEngine } from '../testing/engine.js';
import type { StatusReport } from '../status/report.js';
import { buildApp, describeLoad, removeImages, stackName, STACK_LABEL, TestStack } from './testing.js';

const { engine, skip } = await integrationEngine();
const images: Record<string, string> = {};

describe('berth rollout: zero downtime under load (Caddy, Compose v1)', { skip }, () => {
  const stacks: TestStack[] = [];
  before(async () => {
    for (const v of ['v1', 'v2', 'v3', 'v4', 'v5']) images[v] = await buildApp(v);
  });
  after(async () => {
    for (const stack of stacks) await stack.down();
    if (engine) await removeImages(engine);
  });

  for (const replicas of [1, 2]) {
    test(`${replicas} replica(s): 3 consecutive rollouts, zero failed requests, the new version serves afterwards`, async () => {
      const stack = new TestStack(engine!, stackName(`zd${replicas}`));
      stacks.push(stack);
      await stack.up(images.v1!, replicas);
      for (const v of ['v2', 'v3', 'v4']) {
        const before = (await stack.app()).map((c) => c.id);
        // With 2 replicas, one rollout goes one replica at a time: the earlier rollout left free addresses
        // below the old replicas', which berth holds with placeholders while they leave DNS.
        const batch = replicas === 2 && v === 'v3' ? ['--batch', '1'] : [];
        const { value: result, load, after } = await stack.underLoad(() => stack.berth(['rollout', 'app', ...batch], { image: images[v] }));
        if (batch.length) {
          assert.equal(result.stderr.match(/✓ wait until/g)?.length, 2, `two health gates with --batch 1: ${result.stderr}`);
          assert.match(result.stderr, /held \d+ free address\(es\) below .* keeps its address/);
        }
        assert.doesNotMatch(result.stderr, /its connections on .* were cut/);
        assert.equal(result.code, 0, `rollout to ${v}: ${result.stderr}`);
        assert.equal(load.failed, 0, `rollout to ${v}: ${describeLoad(load)}`);
        assert.ok((load.byVersion[v] ?? 0) > 0, `the new version served during the run: ${describeLoad(load)}`);
        assert.deepEqual(Object.keys(after.byVersion), [v], `after the rollout only ${v} serves: ${describeLoad(after)}`);
        assert.ok(after.ok >= 20, describeLoad(after));
        const now = await stack.app();
        assert.equal(now.length, replicas, `exactly ${replicas} replica(s): ${now.map((c) => c.name).join(', ')}`);
        assert.ok(now.every((c) => c.image === images[v] && c.state === 'running' && c.health === 'healthy' && !before.includes(c.id)));
      }
      // berth status (and so compose ps) sees the replicas berth created, with Compose's naming.
      const status = await stack.berth(['status', '--json', 'app'], { image: images.v4 });
      const report = JSON.parse(status.stdout) as StatusReport;
      assert.equal(status.code, 0, status.stdout);
      assert.equal(report.services[0]!.running, replicas);
      assert.ok(report.services[0]!.containers.every((c) => new RegExp(`^${stack.project}_app_\\d+$`).test(c.name)));
      const ps = await stack.berth(['compose', '--', 'ps', 'app'], { image: images.v4 });
      assert.equal(ps.stdout.split('\n').filter((l) => l.includes(`${stack.project}_app_`)).length, replicas, ps.stdout);
      // History: three succeeded rollouts, image before/after recorded.
      const history = JSON.parse((await stack.berth(['--json', 'history', 'app'])).stdout) as Array<{ result: string; imageAfter: string; imageIdBefore: string; imageIdAfter: string }>;
      assert.deepEqual(history.map((h) => h.result), ['succeeded', 'succeeded', 'succeeded']);
      assert.equal(history[0]!.imageAfter, images.v4);
      assert.ok(history.every((h) => h.imageIdBefore.startsWith('sha256:') && h.imageIdAfter.startsWith('sha256:') && h.imageIdBefore !== h.imageIdAfter));

      // Replicas carry the config hash Compose computes now: its own `up` finds them current.
      const ids = (await stack.app()).map((c) => c.id).sort();
      const up = await stack.berth(['compose', '--', 'up', '-d', '--no-deps', '--scale', `app=${replicas}`, 'app'], { image: images.v4 });
      assert.equal(up.code, 0, up.stderr);
      assert.doesNotMatch(up.stderr, /Recreating/, up.stderr);
      assert.deepEqual((await stack.app()).map((c) => c.id).sort(), ids, 'compose up recreated nothing');

      if (replicas === 1) {
        // Control: Compose's own recreate under the same load and proxy drops requests, so the
        // zero above is berth's doing (the test can fail).
        // The app takes 8 s to listen here (as slow real apps do): far longer than the proxy's retries (1 s) and its dial's SYN retransmits cover, also on a loaded machine.
        const { value: up, load } = await stack.underLoad(() => stack.berth(['compose', '--', 'up', '-d', '--no-deps', '--force-recreate', 'app'], { image: images.v5, env: { APP_STARTUP_MS: '8000' } }));
        assert.equal(up.code, 0, up.stderr);
        assert.ok(load.failed > 0, `plain compose up --force-recreate should fail requests: ${describeLoad(load)}`);
      }
    });
  }

  test('readiness drain: the stop signal is sent once; the old replica exits on its own (no second signal cutting its drain)', async () => {
    const stack = new TestStack(engine!, stackName('rd'));
    stacks.push(stack);
    // The old replica keeps serving for 2.5 s after SIGTERM, longer than this drain (1.5 s, which covers Caddy's 1 s refresh):
    // the stop step finds it still draining.
    await stack.up(images.v1!, 1, { APP_DRAIN_MS: '2500' });
    const [old] = await stack.app();
    const since = Math.floor(Date.now() / 1000) - 1;
    const { value: result, load } = await stack.underLoad(() => stack.berth(['rollout', 'app', '--drain', 'readiness:1500ms'], { image: images.v2 }));
    assert.equal(result.code, 0, result.stderr);
    assert.equal(load.failed, 0, describeLoad(load));
    // With `until` in the past the engine ends the stream.
    const stream = (await engine!.docker.getEvents({ since, until: Math.floor(Date.now() / 1000), filters: { container: [old!.id], event: ['kill', 'die'] } })) as NodeJS.ReadableStream;
    let raw = '';
    for await (const chunk of stream) raw += String(chunk);
    const events = raw.trim().split('\n').filter(Boolean).map((line) => JSON.parse(line) as { status: string; Actor: { Attributes: Record<string, string> } });
    const kills = events.filter((e) => e.status === 'kill').map((e) => e.Actor.Attributes.signal);
    assert.deepEqual(kills, ['15'], `one SIGTERM, no second signal and no SIGKILL: ${JSON.stringify(events.map((e) => [e.status, e.Actor.Attributes.signal ?? e.Actor.Attributes.exitCode]))}`);
    assert.deepEqual(events.filter((e) => e.status === 'die').map((e) => e.Actor.Attributes.exitCode), ['0']);
  });

  test('join keeps the new replica\'s address: the connection it opened while starting survives (control: a plain reconnect moves it and the connection is lost)', async () => {
    const stack = new TestStack(engine!, stackName('peer'));
    stacks.push(stack);
    const env = { APP_PEER: 'echo:7000' };
    stack.image = images.v1!;
    const up = await stack.berth(['--profile', 'peer', 'compose', '--', 'up', '-d'], { env });
    assert.equal(up.code, 0, up.stderr);
    await stack.waitServing('v1', 1);
    const port = await stack.port();
    const peerCheck = async () => {
      const res = await fetch(`http://127.0.0.1:${port}/peer`);
      return `${res.status} ${res.headers.get('x-app-version')} ${await res.text()}`;
    };
    assert.equal(await peerCheck(), '200 v1 peer ok');
    // A container between the old replica and the new one, removed while the new one starts: a free
    // address below the new replica when it joins, which the engine would hand to its reconnect.
    const network = `${stack.project}_default`;
    const filler = await engine!.docker.createContainer({ Image: 'local/node:latest', Cmd: ['node', '-e', 'setInterval(() => {}, 1e9)'], Labels: { 'berth.test': `${STACK_LABEL}-${stack.project}` }, HostConfig: { NetworkMode: network } });
    await filler.start();
    const rollout = stack.berth(['rollout', 'app'], { image: images.v2, env });
    const deadline = performance.now() + 60_000;
    while (!(await stack.app()).some((c) => c.image === images.v2)) {
      assert.ok(performance.now() < deadline, 'the new replica did not appear');
      await sleep(50);
    }
    await filler.remove({ force: true });
    const result = await rollout;
    assert.equal(result.code, 0, result.stderr);
    assert.equal(await peerCheck(), '200 v2 peer ok', 'the new replica kept the connection it opened before joining');
    assert.match(result.stderr, /held 1 free address\(es\) below \S+ on \S+ so \S+_app_2 keeps its address/);
    assert.doesNotMatch(result.stderr, /were cut/);

    // Control: the same reconnect without holding the free addresses below it (the old replica's,
    // the filler's) moves the replica, and its connection is gone: the check above can fail.
    const [replica] = await stack.app();
    const addressOf = async () => (await engine!.inspectContainer(replica!.id)).NetworkSettings.Networks[network]?.IPAddress;
    const before = await addressOf();
    await execFileAsync('docker', ['network', 'disconnect', network, replica!.id]);
    await execFileAsync('docker', ['network', 'connect', '--alias', 'app', network, replica!.id]);
    assert.notEqual(await addressOf(), before, 'the plain reconnect took a lower address');
    await sleep(2000); // Caddy re-resolves every second
    assert.equal(await peerCheck(), '503 v2 peer lost');
  });

  test('first deploy (nothing running yet): Compose starts the service, then the health gate; --dry-run says so', async () => {
    const stack = new TestStack(engine!, stackName('first'));
    stacks.push(stack);
    stack.image = images.v1!;
    const dry = await stack.berth(['rollout', 'app', '--dry-run']);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /1\. compose up app \(1 replica\)\n\s+no running replica to clone/);
    const result = await stack.berth(['rollout', 'app']);
    assert.equal(result.code, 0, result.stderr);
    const app = await stack.app();
    assert.deepEqual(app.map((c) => [c.name, c.state, c.health]), [[`${stack.project}_app_1`, 'running', 'healthy']]);
  });
});
