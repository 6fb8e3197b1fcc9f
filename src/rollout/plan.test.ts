import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ComposeProject, ServiceModel } from '../compose/types.js';
import { cloneCreateOptions, ownAliases, serviceAliases } from './clone.js';
import { inServiceDns, namingOf } from './collect.js';
import { defaultHealthTimeoutMs, planRollout, renderPlan, rolloutOrder, type ReplicaState, type ServiceState, type Step } from './plan.js';

function service(name: string, over: Partial<ServiceModel> = {}): ServiceModel {
  return {
    name, raw: {}, image: `${name}:2`, hasBuild: false, replicas: 1, containerName: undefined, networkMode: undefined,
    networks: { default: { aliases: [] } }, ports: [], dependsOn: {}, healthcheck: undefined, labels: {}, environment: {},
    profiles: [], init: undefined, stopSignal: undefined, stopGracePeriodMs: 10_000, restart: undefined, berth: { rollout: {} }, ...over,
  } as ServiceModel;
}

function project(services: ServiceModel[], name = 'shop'): ComposeProject {
  return { name, services: Object.fromEntries(services.map((s) => [s.name, s])), berth: { deploy: { preHooks: [], postHooks: [] } } } as unknown as ComposeProject;
}

const hc = { intervalMs: 1000, timeoutMs: 2000, retries: 3, startPeriodMs: 5000 };

function replica(n: number, over: Partial<ReplicaState> = {}, naming: 'v1' | 'v2' = 'v1', svc = 'app'): ReplicaState {
  const sep = naming === 'v1' ? '_' : '-';
  return { id: `id${svc}${n}`, name: `shop${sep}${svc}${sep}${n}`, number: n, state: 'running', imageId: 'sha256:old', inDns: true, ...over };
}

function state(replicas: ReplicaState[], over: Partial<ServiceState> = {}): ServiceState {
  return { service: 'app', replicas, target: { ref: 'app:2', imageId: 'sha256:new' }, healthcheck: hc, naming: 'v1', ...over };
}

const kinds = (steps: Step[]) => steps.map((s) => s.kind);

test('one replica, v1 naming: start the next number beside it, gate, join, then drain, stop, remove the old', () => {
  const plan = planRollout(project([service('app')]), [state([replica(1)])], { rolloutId: 'r1' });
  const s = plan.services[0]!;
  assert.deepEqual(kinds(s.steps), ['create', 'wait-healthy', 'join', 'drain', 'stop', 'remove']);
  const create = s.steps[0] as Extract<Step, { kind: 'create' }>;
  assert.equal(create.name, 'shop_app_2');
  assert.equal(create.number, 2);
  assert.equal(create.image, 'app:2');
  assert.equal(create.cloneFrom, 'idapp1');
  assert.equal(create.joinDns, false);
  assert.equal((s.steps[1] as Extract<Step, { kind: 'wait-healthy' }>).timeoutMs, 5000 + 3 * 1000 + 10_000);
  assert.equal((s.steps[3] as Extract<Step, { kind: 'drain' }>).containers[0]!.name, 'shop_app_1');
  assert.equal((s.steps[4] as Extract<Step, { kind: 'stop' }>).graceMs, 10_000);
  assert.ok(s.steps.every((step) => step.reason.length > 0));
  assert.equal(s.desired, 1);
});

test('Compose v2 naming: proj-svc-N, numbers after the highest existing one', () => {
  const plan = planRollout(project([service('app')]), [state([replica(1, {}, 'v2'), replica(3, {}, 'v2')], { naming: 'v2' })], { rolloutId: 'r' });
  const creates = plan.services[0]!.steps.filter((s) => s.kind === 'create') as Array<Extract<Step, { kind: 'create' }>>;
  assert.deepEqual(creates.map((c) => c.name), ['shop-app-4', 'shop-app-5']);
  assert.equal(plan.services[0]!.desired, 2);
});

test('keeps the running count when it is above the model, and the model count when below', () => {
  const three = planRollout(project([service('app', { replicas: 1 })]), [state([replica(1), replica(2), replica(3)])], { rolloutId: 'r' });
  assert.equal(three.services[0]!.desired, 3);
  assert.equal(three.services[0]!.newReplicas.length, 3);
  const scaled = planRollout(project([service('app', { replicas: 2 })]), [state([replica(1)])], { rolloutId: 'r' });
  assert.equal(scaled.services[0]!.newReplicas.length, 2);
  assert.equal(scaled.services[0]!.steps.filter((s) => s.kind === 'remove').length, 1);
  // Both old replicas leave DNS in one step, before either stops.
  const drain = three.services[0]!.steps.find((s) => s.kind === 'drain') as Extract<Step, { kind: 'drain' }>;
  assert.deepEqual(drain.containers.map((c) => c.name), ['shop_app_1', 'shop_app_2', 'shop_app_3']);
});

test('--batch 1 with 2 replicas: new, gate, join, retire one old; then again', () => {
  const plan = planRollout(project([service('app', { replicas: 2 })]), [state([replica(1), replica(2)])], { rolloutId: 'r', batch: 1 });
  assert.deepEqual(kinds(plan.services[0]!.steps), ['create', 'wait-healthy', 'join', 'drain', 'stop', 'remove', 'create', 'wait-healthy', 'join', 'drain', 'stop', 'remove']);
});

test('reconcile: an un-joined leftover of an interrupted rollout and an exited replica are removed first', () => {
  const plan = planRollout(project([service('app')]), [state([replica(1), replica(2, { rolloutId: 'old', inDns: false, imageId: 'sha256:new' }), replica(3, { state: 'exited' })])], { rolloutId: 'r' });
  const steps = plan.services[0]!.steps;
  assert.deepEqual(kinds(steps).slice(0, 2), ['remove-leftover', 'remove-leftover']);
  assert.match(steps[0]!.reason, /interrupted rollout old/);
  assert.match(steps[1]!.reason, /exited/);
  const create = steps.find((s) => s.kind === 'create') as Extract<Step, { kind: 'create' }>;
  assert.equal(create.name, 'shop_app_4');
  assert.equal(plan.services[0]!.desired, 1);
});

test('an unfinished rollout that already cut over: keep the joined new replica, replace the rest, desired as recorded', () => {
  const plan = planRollout(project([service('app')]), [state([replica(1), replica(2), replica(3, { imageId: 'sha256:new', rolloutId: 'old' })], { unfinishedDesired: 2 })], { rolloutId: 'r' });
  const s = plan.services[0]!;
  assert.equal(s.desired, 2);
  assert.equal(s.newReplicas.length, 1);
  assert.equal((s.steps.find((x) => x.kind === 'remove') as Extract<Step, { kind: 'remove' }>).containers.length, 2);
});

test('already on the target image: nothing to do (unless --force)', () => {
  const plan = planRollout(project([service('app')]), [state([replica(1, { imageId: 'sha256:new' })])], { rolloutId: 'r' });
  assert.match(plan.services[0]!.skip ?? '', /already runs app:2/);
  assert.equal(plan.services[0]!.steps.length, 0);
  const forced = planRollout(project([service('app')]), [state([replica(1, { imageId: 'sha256:new' })])], { rolloutId: 'r', force: true });
  assert.equal(forced.services[0]!.newReplicas.length, 1);
});

test('first deploy: Compose brings the service up, then the health gate', () => {
  const plan = planRollout(project([service('app', { replicas: 2 })]), [state([])], { rolloutId: 'r' });
  assert.deepEqual(kinds(plan.services[0]!.steps), ['compose-up', 'wait-healthy']);
});

test('refusals: container_name, fixed host port, host network, stateful, no healthcheck, missing image', () => {
  const refuse = (svc: ServiceModel, st: Partial<ServiceState> = {}, opts = {}) => () => planRollout(project([svc]), [state([replica(1)], st)], { rolloutId: 'r', ...opts });
  assert.throws(refuse(service('app', { containerName: 'web' })), /container_name "web"/);
  assert.throws(refuse(service('app', { ports: [{ hostIp: '', published: '8080', target: 80, protocol: 'tcp', mode: 'ingress' }] })), /fixed host port 8080:80/);
  assert.throws(refuse(service('app', { networkMode: 'host' })), /network_mode: host/);
  assert.throws(refuse(service('app', { image: 'postgres:16' })), /stateful/);
  assert.throws(refuse(service('app', { berth: { rollout: { stateful: true } } })), /stateful/);
  assert.throws(refuse(service('app'), { healthcheck: undefined }), /no healthcheck/);
  assert.throws(refuse(service('app'), { target: { ref: 'app:2', imageId: undefined } }), /not on this engine/);
  // An ephemeral published port is fine.
  assert.doesNotThrow(refuse(service('app', { ports: [{ hostIp: '127.0.0.1', published: undefined, target: 80, protocol: 'tcp', mode: 'ingress' }] })));
  assert.doesNotThrow(refuse(service('app', { image: 'postgres:16' }), {}, { stateful: true }));
});

test('--stop-first for container_name: the old goes first, the new one keeps the fixed name', () => {
  const plan = planRollout(project([service('app', { containerName: 'web' })]), [state([replica(1)])], { rolloutId: 'r', stopFirst: true });
  const steps = plan.services[0]!.steps;
  assert.deepEqual(kinds(steps), ['drain', 'stop', 'remove', 'create', 'wait-healthy', 'join']);
  assert.equal((steps[3] as Extract<Step, { kind: 'create' }>).name, 'web');
});

test('no healthcheck with --assume-ready-after: a fixed wait that requires the replica still running', () => {
  const plan = planRollout(project([service('app')]), [state([replica(1)], { healthcheck: undefined })], { rolloutId: 'r', assumeReadyAfterMs: 7000 });
  const gate = plan.services[0]!.steps.find((s) => s.kind === 'wait-healthy') as Extract<Step, { kind: 'wait-healthy' }>;
  assert.equal(gate.mode, 'fixed');
  assert.equal(gate.timeoutMs, 7000);
});

test('monitor window after cut-over, and the control mode joins DNS at creation (no join step)', () => {
  const plan = planRollout(project([service('app')]), [state([replica(1)])], { rolloutId: 'r', monitorMs: 5000, joinDnsAtCreate: true });
  assert.deepEqual(kinds(plan.services[0]!.steps), ['create', 'wait-healthy', 'drain', 'stop', 'remove', 'monitor']);
});

test('several services roll in depends_on order', () => {
  const p = project([service('web', { dependsOn: { api: { condition: 'service_healthy', restart: false, required: true } } }), service('api', { dependsOn: { db: { condition: 'service_started', restart: false, required: true } } }), service('db')]);
  assert.deepEqual(rolloutOrder(p, ['web', 'api']), ['api', 'web']);
  const plan = planRollout(p, [state([replica(1, {}, 'v1', 'web')], { service: 'web' }), state([replica(1, {}, 'v1', 'api')], { service: 'api' })], { rolloutId: 'r' });
  assert.deepEqual(plan.services.map((s) => s.service), ['api', 'web']);
  assert.match(renderPlan(plan), /api: 1 replica\(s\) of app:2 \(v1 naming\)\n\s+1\. start shop_api_2/);
});

test('health gate default: start_period + interval × retries + margin', () => {
  assert.equal(defaultHealthTimeoutMs({ intervalMs: 5000, timeoutMs: 3000, retries: 3, startPeriodMs: 15_000 }), 40_000);
});

test('naming is read from the existing replicas', () => {
  assert.equal(namingOf('shop', 'app', [{ name: 'shop_app_1', number: 1 }]), 'v1');
  assert.equal(namingOf('shop', 'app', [{ name: 'shop-app-2', number: 2 }]), 'v2');
  assert.equal(namingOf('shop', 'app', [{ name: 'custom', number: 1 }]), undefined);
});

test('DNS membership and aliases: the service alias joins, own names stay with their container', () => {
  assert.equal(inServiceDns({ a: { Aliases: ['app', 'abc'] }, b: { Aliases: ['app'] } }, 'app'), true);
  assert.equal(inServiceDns({ a: { Aliases: ['app'] }, b: { Aliases: ['abc'] } }, 'app'), false);
  const source = { id: '0123456789abcdef', name: 'shop-app-1' };
  assert.deepEqual(serviceAliases(['shop-app-1', 'app', '0123456789ab', 'api'], source, 'shop-app-3'), ['app', 'api', 'shop-app-3']);
  assert.deepEqual(serviceAliases(['app', '0123456789ab'], { ...source, name: 'shop_app_1' }, 'shop_app_3'), ['app']);
  assert.deepEqual(ownAliases(['app', '0123456789ab', 'shop-app-1'], source), ['0123456789ab', 'shop-app-1']);
});

test('a clone takes the new image and number, drops what came from the old image, keeps compose labels', () => {
  const source = {
    Id: 'abc', Name: '/shop_app_1', Image: 'sha256:old',
    Config: { Image: 'app:1', Env: ['PATH=/bin', 'APP_VERSION=1', 'DB=db'], Cmd: ['node', 'server.mjs'], Labels: { 'com.docker.compose.project': 'shop', 'com.docker.compose.service': 'app', 'com.docker.compose.container-number': '1', 'org.image.label': 'x' }, WorkingDir: '/app', User: '' },
    HostConfig: { NetworkMode: 'shop_front', RestartPolicy: { Name: 'unless-stopped' } },
    NetworkSettings: { Networks: { shop_front: { Aliases: ['app', 'abc'] }, shop_back: { Aliases: ['app'] } } },
  } as never;
  const out = cloneCreateOptions({
    source, sourceImage: { Env: ['PATH=/bin', 'APP_VERSION=1'], Cmd: ['node', 'server.mjs'], Labels: { 'org.image.label': 'x' }, WorkingDir: '/app' }, image: 'app:2', name: 'shop_app_2', number: 2, rolloutId: 'r9',
    modelEnvKeys: ['DB'], modelSets: { command: false, entrypoint: false, healthcheck: false, workingDir: false, user: false, stopSignal: false },
  });
  assert.equal(out.Image, 'app:2');
  assert.equal(out.name, 'shop_app_2');
  assert.deepEqual(out.Env, ['DB=db']);
  assert.equal(out.Cmd, undefined);
  assert.equal(out.WorkingDir, undefined);
  assert.equal(out.Labels!['com.docker.compose.container-number'], '2');
  assert.equal(out.Labels!['com.docker.compose.project'], 'shop');
  assert.equal(out.Labels!['berth.rollout'], 'r9');
  assert.equal(out.Labels!['org.image.label'], undefined);
  assert.deepEqual(out.HostConfig!.RestartPolicy, { Name: 'unless-stopped' });
  assert.deepEqual(Object.keys(out.NetworkingConfig!.EndpointsConfig!), ['shop_front']);
  assert.deepEqual(out.NetworkingConfig!.EndpointsConfig!.shop_front!.Aliases, []);
});

test('Compose v2: the clone names the new image ID in com.docker.compose.image, so compose up sees it current', () => {
  const source = { Id: 'abc', Name: '/shop-app-1', Image: 'sha256:old', Config: { Image: 'app:1', Env: [], Labels: { 'com.docker.compose.image': 'sha256:old', 'com.docker.compose.container-number': '1' } }, HostConfig: {}, NetworkSettings: { Networks: {} } } as never;
  const out = cloneCreateOptions({ source, sourceImage: {}, image: 'app:2', imageId: 'sha256:new', name: 'shop-app-2', number: 2, rolloutId: 'r', modelEnvKeys: [], modelSets: { command: false, entrypoint: false, healthcheck: false, workingDir: false, user: false, stopSignal: false } });
  assert.equal(out.Labels!['com.docker.compose.image'], 'sha256:new');
  assert.equal(out.NetworkingConfig, undefined);
});

test('refusals only when there is something to roll: an unchanged service without healthcheck is skipped', () => {
  const plan = planRollout(project([service('proxy', { ports: [{ hostIp: '', published: '80', target: 80, protocol: 'tcp', mode: 'ingress' }] })]), [state([replica(1, { imageId: 'sha256:new' }, 'v1', 'proxy')], { service: 'proxy', healthcheck: undefined })], { rolloutId: 'r' });
  assert.match(plan.services[0]!.skip ?? '', /already runs/);
});

test('address holes below an old replica: subnet minus network, gateway and used addresses', async () => {
  const { holesBelow } = await import('./placeholder.js');
  assert.deepEqual(holesBelow('172.27.0.0/16', '172.27.0.1', ['172.27.0.4', '172.27.0.6'], '172.27.0.6'), ['172.27.0.2', '172.27.0.3', '172.27.0.5']);
  assert.deepEqual(holesBelow('10.0.0.0/24', undefined, ['10.0.0.2'], '10.0.0.3'), []);
  assert.deepEqual(holesBelow('fd00::/64', undefined, [], 'fd00::5'), []);
});

test('traffic networks: new replicas are created off them, joined by a connect once healthy, and old ones leave DNS there only', () => {
  const app = service('app', { networks: { web: { aliases: [] }, back: { aliases: [] } }, berth: { rollout: { trafficNetworks: ['web'] } } });
  const p = { ...project([app]), model: { networks: { web: {}, back: { name: 'shared-back' } } } } as unknown as ComposeProject;
  const s = planRollout(p, [state([replica(1)])], { rolloutId: 'r' }).services[0]!;
  assert.deepEqual(kinds(s.steps), ['create', 'wait-healthy', 'join', 'drain', 'stop', 'remove']);
  assert.deepEqual((s.steps[0] as Extract<Step, { kind: 'create' }>).holdBack, ['shop_web']);
  assert.deepEqual((s.steps[2] as Extract<Step, { kind: 'join' }>).connect, ['shop_web']);
  assert.deepEqual((s.steps[3] as Extract<Step, { kind: 'drain' }>).networks, ['shop_web']);
  assert.match(renderPlan({ project: 'shop', rolloutId: 'r', services: [s] }), /connect to shop_web/);
  // Control mode: in DNS everywhere from creation, no join; the leave is the same.
  const control = planRollout(p, [state([replica(1)])], { rolloutId: 'r', joinDnsAtCreate: true }).services[0]!;
  assert.deepEqual(kinds(control.steps), ['create', 'wait-healthy', 'drain', 'stop', 'remove']);
  assert.deepEqual((control.steps[0] as Extract<Step, { kind: 'create' }>).holdBack, []);
  // Without traffic networks every network is reconnected at the join, and left at the drain.
  const plain = planRollout(project([service('app')]), [state([replica(1)])], { rolloutId: 'r' }).services[0]!;
  assert.deepEqual((plain.steps[2] as Extract<Step, { kind: 'join' }>).connect, []);
  assert.equal((plain.steps[3] as Extract<Step, { kind: 'drain' }>).networks, undefined);
});

test('traffic networks: in DNS means the alias on each traffic network (a replica that never joined them served nothing)', () => {
  const neverJoined = { shop_back: { Aliases: ['app'] } };
  assert.equal(inServiceDns(neverJoined, 'app'), true);
  assert.equal(inServiceDns(neverJoined, 'app', ['shop_web']), false);
  assert.equal(inServiceDns({ shop_back: { Aliases: ['app'] }, shop_web: { Aliases: ['app'] } }, 'app', ['shop_web']), true);
  assert.equal(inServiceDns({ shop_back: { Aliases: ['app'] }, shop_web: { Aliases: ['shop_app_1'] } }, 'app', ['shop_web']), false);
});

test('traffic networks: the clone is created off the held-back networks, starting on another one', () => {
  const source = {
    Id: 'abc', Name: '/shop_app_1', Image: 'sha256:old', Config: { Image: 'app:1', Env: [], Labels: {} },
    HostConfig: { NetworkMode: 'shop_web' },
    NetworkSettings: { Networks: { shop_web: { Aliases: ['app', 'abc'] }, shop_back: { Aliases: ['app', 'abc'] } } },
  } as never;
  const out = cloneCreateOptions({ source, sourceImage: {}, image: 'app:2', name: 'shop_app_2', number: 2, rolloutId: 'r', modelEnvKeys: [], modelSets: { command: false, entrypoint: false, healthcheck: false, workingDir: false, user: false, stopSignal: false }, skipNetworks: ['shop_web'] });
  assert.equal(out.HostConfig!.NetworkMode, 'shop_back');
  assert.deepEqual(Object.keys(out.NetworkingConfig!.EndpointsConfig!), ['shop_back']);
});

test('join aliases: the source\'s on that network without what named the source; the service name where the source was not', async () => {
  const { joinAliases } = await import('./clone.js');
  const source = { Id: 'abcdef1234567890', Name: '/shop_app_1', NetworkSettings: { Networks: { shop_back: { Aliases: ['app', 'abcdef123456', 'api'] }, shop_bare: { Aliases: null } } } } as never;
  assert.deepEqual(joinAliases(source, 'shop_back', 'shop_app_2', 'app'), ['app', 'api']);
  assert.deepEqual(joinAliases(source, 'shop_web', 'shop_app_2', 'app'), ['app']);
  assert.deepEqual(joinAliases(source, 'shop_bare', 'shop_app_2', 'app'), ['app']);
  assert.deepEqual(joinAliases(undefined, 'shop_web', 'shop_app_2', 'app'), ['app']);
});

test('issue 17: a service already on its target keeps its reconcile steps (the real run removes what the dry run plans)', () => {
  const plan = planRollout(project([service('app', { replicas: 2 })]), [state([
    replica(1, { inDns: false }), replica(2, { inDns: false }),
    replica(3, { imageId: 'sha256:new', rolloutId: 'old' }), replica(4, { imageId: 'sha256:new', rolloutId: 'old' }),
  ])], { rolloutId: 'r' });
  const s = plan.services[0]!;
  assert.match(s.skip ?? '', /already runs app:2 \(2 of 2/);
  assert.deepEqual(kinds(s.steps), ['remove-leftover', 'remove-leftover']);
  assert.match(renderPlan(plan), /remove shop_app_1\n.*drained by an interrupted rollout/);
});
