/**
 * x-berth rollout.traffic_networks on the real engine, Compose v1 and Caddy: the proxy reaches the
 * app on `web` only, the app keeps a connection to a peer on `back` (as to a database). New
 * replicas start on `back` and join `web` by one connect once healthy; a version that never
 * becomes healthy is never on `web`. Engine events show what happened on the network.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { execFileAsync, integrationEngine } from '../testing/engine.js';
import { buildApp, describeLoad, FIXTURE, removeImages, SPLIT_NETWORKS, stackName, TestStack } from './testing.js';

const { engine, skip } = await integrationEngine();
const images: Record<string, string> = {};
const env = { APP_PEER: 'echo:7000' };

interface EngineEvent { Type: string; Action: string; Actor: { ID: string; Attributes: Record<string, string> }; timeNano: number }

/** The engine's network and container events between two moments (unix seconds), oldest first. */
async function eventsBetween(since: number, until: number): Promise<EngineEvent[]> {
  const { stdout } = await execFileAsync('docker', ['events', '--since', String(since), '--until', String(until), '--filter', 'type=network', '--filter', 'type=container', '--format', '{{json .}}']);
  return stdout.trim().split('\n').filter(Boolean).map((line) => JSON.parse(line) as EngineEvent).sort((a, b) => a.timeNano - b.timeNano);
}

/**
 * What happened to one container, in order: "connect web", "health healthy", ... Engine 20.10
 * reports a running container's disconnect twice in a row; repeats are folded.
 */
function historyOf(events: EngineEvent[], id: string, project: string, options: { health?: boolean } = {}): string[] {
  const all = events.flatMap((e) => {
    if (e.Type === 'network' && e.Actor.Attributes.container === id) return [`${e.Action} ${e.Actor.Attributes.name!.replace(`${project}_`, '')}`];
    if (options.health !== false && e.Type === 'container' && e.Actor.ID === id && e.Action.startsWith('health_status')) return [e.Action.replace(/^health_status: /, 'health ')];
    return [];
  });
  return all.filter((entry, i) => entry !== all[i - 1]);
}

describe('berth rollout: traffic networks (Caddy on web only, the app and its peer on back)', { skip }, () => {
  let stack: TestStack;
  const peerCheck = async () => {
    const res = await fetch(`http://127.0.0.1:${await stack.port()}/peer`);
    return `${res.status} ${res.headers.get('x-app-version')} ${await res.text()}`;
  };
  before(async () => {
    for (const v of ['v1', 'v2']) images[v] = await buildApp(v);
    images.bad = await buildApp('bad', { broken: true });
    stack = new TestStack(engine!, stackName('split'), [FIXTURE, SPLIT_NETWORKS]);
    stack.image = images.v1!;
    const up = await stack.berth(['--profile', 'peer', 'compose', '--', 'up', '-d'], { env });
    assert.equal(up.code, 0, up.stderr);
    await stack.waitServing('v1', 1);
  });
  after(async () => {
    await stack?.down();
    if (engine) await removeImages(engine);
  });

  test('a good rollout: the new replica joins web by one connect after "healthy", never leaves back; zero failed requests', async (t) => {
    assert.equal(await peerCheck(), '200 v1 peer ok');
    const [old] = await stack.app();
    const dry = await stack.berth(['rollout', 'app', '--dry-run'], { image: images.v2, env });
    assert.match(dry.stdout, /not on \S+_web \(traffic\) until healthy/);
    assert.match(dry.stdout, /into app's DNS \(connect to \S+_web\)/);
    const since = Math.floor(Date.now() / 1000);
    const { value: result, load, after } = await stack.underLoad(() => stack.berth(['--json', 'rollout', 'app'], { image: images.v2, env }));
    assert.equal(result.code, 0, result.stderr);
    assert.equal(load.failed, 0, describeLoad(load));
    assert.deepEqual(Object.keys(after.byVersion), ['v2'], `the new version serves afterwards: ${describeLoad(after)}`);
    const [replica] = await stack.app();
    const events = await eventsBetween(since, Math.ceil(Date.now() / 1000) + 1);
    // Started on back (the engine's connect at start), healthy, then one connect to web: no reconnect.
    assert.deepEqual(historyOf(events, replica!.id, stack.project), ['connect back', 'health healthy', 'connect web']);
    // The old replica left DNS on web only (its reconnect without the alias), and kept back until it
    // stopped. (Its health while it stops is beside the point: a loaded machine can see a probe fail.)
    assert.deepEqual(historyOf(events, old!.id, stack.project, { health: false }).slice(0, 3), ['disconnect web', 'connect web', 'disconnect back']);
    assert.equal(await peerCheck(), '200 v2 peer ok', 'the connection the new replica opened on back while starting is intact');
    const phases = JSON.parse(result.stdout).services[0].phases as Record<string, number>;
    t.diagnostic(`join (one connect): ${Math.round(phases.join ?? 0)} ms`);
  });

  test('a version that never becomes healthy is never on web: it serves zero requests (control: in DNS at creation, it serves)', async () => {
    const since = Math.floor(Date.now() / 1000);
    const { value: result, load } = await stack.underLoad(() => stack.berth(['rollout', 'app'], { image: images.bad, env }));
    assert.equal(result.code, 1, result.stderr);
    assert.equal(load.failed, 0, describeLoad(load));
    assert.equal(load.byVersion.bad ?? 0, 0, `the bad version must serve nothing: ${describeLoad(load)}`);
    const events = await eventsBetween(since, Math.ceil(Date.now() / 1000) + 1);
    const badConnects = events.filter((e) => e.Type === 'network' && e.Action === 'connect' && e.Actor.Attributes.name === `${stack.project}_web`);
    assert.equal(badConnects.length, 0, 'nothing was connected to web during the failed rollout');

    const control = await stack.underLoad(() => stack.berth(['rollout', 'app', '--join-dns-at-create'], { image: images.bad, env }));
    assert.equal(control.value.code, 1, control.value.stderr);
    assert.ok((control.load.byVersion.bad ?? 0) > 0, `control: in DNS at creation, the bad version served: ${describeLoad(control.load)}`);
  });
});
