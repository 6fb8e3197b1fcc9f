/**
 * The night the agent is for, against the real engine: a container turns unhealthy, one needs
 * SIGKILL on stop, one is OOM-killed; /metrics tells each, keyed by compose service. The agent
 * reads through berth's socket proxy with read-only rights (CONTAINERS=1 EVENTS=1). Then the
 * faults of the engine connection: the events stream cut (reconnect with since=, de-duplicated,
 * resync: no event lost), and a container removed between the list and its inspection.
 */
import assert from 'node:assert/strict';
import { get } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { after, test } from 'node:test';
import type Docker from 'dockerode';
import { execInContainer } from '../backup/exec.js';
import { makeProject, composeLabels, tempDir, waitFor } from '../backup/testkit.js';
import { Engine } from '../engine/client.js';
import { startAgent } from '../agent/scheduler.js';
import { startTestProxy } from '../socket-proxy/testkit.js';
import { StateStore } from '../state/store.js';
import { integrationEngine, removeLabelled, TEST_LABEL, testName, testScope } from '../testing/engine.js';
import { startMonitor } from './monitor.js';
import type { StateChange } from './state.js';
import { parseExposition, sampleValue, startEngineRelay } from './testkit.js';

const { engine, skip } = await integrationEngine();
const SCOPE = testScope('monitor');
const label = { [TEST_LABEL]: SCOPE };

after(async () => {
  if (engine) await removeLabelled(engine, SCOPE);
});

async function run(spec: { name: string; project: string; service: string; cmd: string[]; healthcheck?: Docker.HealthConfig; memory?: number; oneOff?: boolean }): Promise<Docker.Container> {
  const container = await engine!.docker.createContainer({
    name: spec.name,
    Image: 'local/busybox:latest',
    Cmd: spec.cmd,
    Labels: { ...label, ...composeLabels(spec.project, spec.service), ...(spec.oneOff ? { 'com.docker.compose.oneoff': 'True' } : {}) },
    Healthcheck: spec.healthcheck,
    HostConfig: spec.memory ? { Memory: spec.memory, MemorySwap: spec.memory } : {},
  });
  await container.start();
  return container;
}

const ms = (n: number) => n * 1_000_000;

test('the night: unhealthy, SIGKILL on stop, OOM kill and a graceful stop, seen on /metrics through a read-only socket proxy', { skip, timeout: 120_000 }, async () => {
  const project = testName('mon');
  const proxy = await startTestProxy({ CONTAINERS: '1', EVENTS: '1' });
  const viaProxy = await Engine.connect({ host: proxy.dockerHost });
  const store = StateStore.open(tempDir('monitor-state'));
  const model = makeProject(project, { web: {}, worker: {}, hog: {}, calm: {} });
  model.services.web!.replicas = 2;
  const logs: Array<Record<string, unknown>> = [];
  const agent = await startAgent({ engine: viaProxy, store, project: model, listen: '127.0.0.1:0', log: (l) => logs.push(l), schedules: false, monitor: { statsIntervalMs: 1000 } });
  try {
    await agent.monitor!.watcher.ready;
    const scrape = async () => parseExposition(await (await fetch(`http://${agent.address}/metrics`)).text());
    // web: healthy until its file goes (the test removes it), then unhealthy (the night's first page).
    const web = await run({ name: `${project}_web_1`, project, service: 'web', cmd: ['sh', '-c', 'echo ok > /tmp/ok; exec sleep 3600'], healthcheck: { Test: ['CMD-SHELL', 'test -f /tmp/ok'], Interval: ms(500), Timeout: ms(2000), Retries: 1 } });
    // worker: sleep as PID 1 ignores SIGTERM: `docker stop` has to SIGKILL it.
    const worker = await run({ name: `${project}_worker_1`, project, service: 'worker', cmd: ['sleep', '3600'] });
    // calm: stops on SIGTERM within the grace period: the negative control of the forced stop.
    const calm = await run({ name: `${project}_calm_1`, project, service: 'calm', cmd: ['sh', '-c', 'trap "exit 0" TERM; while :; do sleep 0.2; done'] });
    // hog: doubles a shell string until the 16 MiB limit kills it.
    await run({ name: `${project}_hog_1`, project, service: 'hog', cmd: ['sh', '-c', 'a=aaaaaaaaaaaaaaaa; while :; do a=$a$a; done'], memory: 16 * 1024 * 1024 });
    // A one-off container (docker compose run) that exits non-zero: a job, not a service exit.
    await run({ name: `${project}_worker_run_1`, project, service: 'worker', cmd: ['sh', '-c', 'exit 3'], oneOff: true });

    await waitFor('web healthy', async () => sampleValue(await scrape(), 'container_state_health_status', { name: `${project}_web_1`, status: 'healthy' }) === 1, 30_000);
    assert.equal((await execInContainer(engine!, web.id, ['rm', '/tmp/ok'])).exitCode, 0);
    await Promise.all([worker.stop({ t: 1 }), calm.stop({ t: 10 })]);
    await waitFor('web unhealthy, worker and calm stopped, hog OOM-killed', async () => {
      const s = await scrape();
      return sampleValue(s, 'container_state_health_status', { name: `${project}_web_1`, status: 'unhealthy' }) === 1
        && sampleValue(s, 'berth_container_oom_events_total', { project, service: 'hog' })! >= 1
        && sampleValue(s, 'container_state_oomkilled', { name: `${project}_hog_1` }) === 1
        && sampleValue(s, 'container_state_status', { name: `${project}_calm_1`, status: 'exited' }) === 1;
    }, 30_000);
    const s = await scrape();
    const svc = (service: string) => ({ project, service });
    // Unhealthy: one-hot, and the transition counted by service.
    assert.equal(sampleValue(s, 'container_state_health_status', { name: `${project}_web_1`, status: 'healthy' }), 0);
    assert.equal(sampleValue(s, 'berth_container_health_transitions_total', { ...svc('web'), to: 'unhealthy' }), 1);
    // The forced stop: counted for worker, not for calm (which stopped in time).
    assert.equal(sampleValue(s, 'berth_container_stop_forced_total', svc('worker')), 1);
    assert.equal(sampleValue(s, 'berth_container_stop_forced_total', svc('calm')), 0);
    assert.equal(sampleValue(s, 'berth_container_exits_total', { ...svc('worker'), exit_code: '137', requested: 'true' }), 1);
    assert.equal(sampleValue(s, 'berth_container_exits_total', { ...svc('calm'), exit_code: '0', requested: 'true' }), 1);
    assert.ok(sampleValue(s, 'berth_container_stop_duration_seconds_count', svc('worker')) === 1);
    assert.ok(sampleValue(s, 'berth_container_stop_duration_seconds_sum', svc('worker'))! >= 0.9, 'the forced stop took the grace period');
    // OOM: an exit nobody asked for, 137.
    assert.equal(sampleValue(s, 'berth_container_exits_total', { ...svc('hog'), exit_code: '137', requested: 'false' }), 1);
    // The one-off job's exit 3 is not a service exit.
    assert.equal(s.filter((x) => x.name === 'berth_container_exits_total' && x.labels.exit_code === '3').length, 0);
    // Desired replicas from the model, containers by state.
    assert.equal(sampleValue(s, 'berth_service_desired_replicas', svc('web')), 2);
    assert.equal(sampleValue(s, 'berth_service_containers', { ...svc('web'), state: 'running' }), 1);
    assert.equal(sampleValue(s, 'berth_service_containers', { ...svc('worker'), state: 'exited' }), 1);
    // Resources (cAdvisor names) for the running ones.
    await waitFor('stats of web', async () => (sampleValue(await scrape(), 'container_memory_usage_bytes', { name: `${project}_web_1` }) ?? 0) > 0, 10_000).catch((e: Error) => { throw new Error(`${e.message}: ${JSON.stringify(logs.filter((l) => String(l.event).startsWith('monitor')))}`); });
    const r = await scrape();
    assert.ok(sampleValue(r, 'container_cpu_usage_seconds_total', { name: `${project}_web_1` })! >= 0);
    assert.equal(r.find((x) => x.name === 'container_memory_usage_bytes' && x.labels.name === `${project}_web_1`)!.labels.container_label_com_docker_compose_service, 'web');
    assert.equal(sampleValue(r, 'berth_events_stream_up'), 1);
    assert.equal(sampleValue(r, 'berth_docker_up'), 1);
    assert.ok((sampleValue(r, 'node_filesystem_size_bytes', { mountpoint: '/' }) ?? sampleValue(r, 'node_memory_MemTotal_bytes'))! > 0);
    // Read-only through the proxy: every request a GET, none denied.
    assert.deepEqual(proxy.entries.filter((e) => e.method !== 'GET').map((e) => `${e.method} ${e.path}`), []);
    assert.deepEqual(proxy.entries.filter((e) => e.verdict !== 'allow').map((e) => `${e.method} ${e.path}: ${e.verdict}`), []);
    assert.ok(proxy.entries.length > 0);
    // Prometheus asks for gzip and gets it; without the header the text comes plain.
    const gz = await new Promise<{ encoding: string | undefined; body: Buffer }>((resolve, reject) => {
      get(`http://${agent.address}/metrics`, { headers: { 'accept-encoding': 'gzip' } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ encoding: res.headers['content-encoding'], body: Buffer.concat(chunks) }));
      }).on('error', reject);
    });
    assert.equal(gz.encoding, 'gzip');
    assert.ok(gunzipSync(gz.body).toString().includes(`name="${project}_web_1"`));
    const plain = await new Promise<string | undefined>((resolve, reject) => get(`http://${agent.address}/metrics`, (res) => { res.resume(); resolve(res.headers['content-encoding']); }).on('error', reject));
    assert.equal(plain, undefined);
  } finally {
    await agent.stop();
    store.close();
    await proxy.close();
  }
});

test('events stream cut: reconnect with since=, de-duplicated, and a resync: no event lost or counted twice', { skip, timeout: 90_000 }, async () => {
  const project = testName('monre');
  const relay = await startEngineRelay();
  const viaRelay = await Engine.connect({ host: relay.host });
  const logs: Array<Record<string, unknown>> = [];
  const monitor = startMonitor({ engine: viaRelay, project: makeProject(project, { a: {}, b: {} }), statsIntervalMs: 0, hostMetrics: false, log: (l) => logs.push(l) });
  const changes: StateChange[] = [];
  monitor.state.onChange((c) => changes.push(c));
  try {
    const a = await run({ name: `${project}_a_1`, project, service: 'a', cmd: ['sleep', '3600'] });
    await monitor.watcher.ready;
    await waitFor('a running', async () => monitor.state.container(a.id)?.status === 'running', 10_000);
    // The engine becomes unreachable and the stream is cut; meanwhile a dies (SIGKILL on stop)
    // and b is created, started and exits 5.
    relay.down = true;
    assert.equal(relay.cut(/\/events/), 1);
    await waitFor('the stream seen down', async () => !monitor.watcher.health.eventsStreamUp, 5_000);
    await a.stop({ t: 1 });
    const b = await run({ name: `${project}_b_1`, project, service: 'b', cmd: ['sh', '-c', 'exit 5'] });
    await waitFor('b exited', async () => (await b.inspect()).State.Status === 'exited', 10_000);
    relay.down = false;
    await waitFor('reconnected and resynced', async () => monitor.watcher.health.reconnects >= 1 && monitor.state.container(b.id)?.status === 'exited' && monitor.state.container(a.id)?.status === 'exited', 20_000);
    await monitor.watcher.resync();
    const s = parseExposition(await monitor.exposition.metrics());
    assert.equal(sampleValue(s, 'berth_container_exits_total', { project, service: 'a', exit_code: '137', requested: 'true' }), 1);
    assert.equal(sampleValue(s, 'berth_container_stop_forced_total', { project, service: 'a' }), 1, 'the kill events of the outage were replayed (since=), not only the state resynced');
    assert.equal(sampleValue(s, 'berth_container_exits_total', { project, service: 'b', exit_code: '5', requested: 'false' }), 1);
    assert.ok(sampleValue(s, 'berth_events_reconnects_total')! >= 1);
    assert.equal(sampleValue(s, 'berth_events_stream_up'), 1);
    // Replayed, not inferred: the exits came from events.
    // (The engine is shared: other people's containers change too; only this project's count.)
    assert.deepEqual(changes.filter((c) => c.type === 'exit' && c.container.project === project).map((c) => (c as { inferred: boolean }).inferred), [false, false]);
    // The subscription after the cut asked for the events since the last one it had.
    assert.ok(relay.requests.some((l) => /\/events\?.*since=\d+\.\d{9}/.test(l)), relay.requests.filter((l) => l.includes('events')).join('\n'));
  } finally {
    await monitor.stop();
    await relay.close();
  }
});

test('a container removed between the list and its inspection is dropped; the watcher carries on', { skip, timeout: 60_000 }, async () => {
  const project = testName('monrm');
  const gone = await run({ name: `${project}_gone_1`, project, service: 'gone', cmd: ['sleep', '3600'] });
  const stays = await run({ name: `${project}_stays_1`, project, service: 'stays', cmd: ['sleep', '3600'] });
  const relay = await startEngineRelay();
  let removed!: () => void;
  const removedNow = new Promise<void>((resolve) => (removed = resolve));
  // The inspection of `gone` waits until the test has removed it: the daemon answers 404.
  relay.hold(new RegExp(`/containers/${gone.id}/json`), () => removedNow);
  const viaRelay = await Engine.connect({ host: relay.host });
  const logs: Array<Record<string, unknown>> = [];
  const monitor = startMonitor({ engine: viaRelay, project: makeProject(project, { gone: {}, stays: {} }), statsIntervalMs: 0, hostMetrics: false, log: (l) => logs.push(l) });
  try {
    await waitFor('the list asked for', async () => relay.requests.some((l) => l.includes(`/containers/${gone.id}/json`)), 10_000);
    await gone.remove({ force: true });
    removed();
    await monitor.watcher.ready;
    await waitFor('stays inspected', async () => monitor.state.container(stays.id)?.status === 'running', 10_000);
    assert.equal(monitor.state.container(gone.id), undefined);
    // It carries on: a new container is seen from its events.
    const later = await run({ name: `${project}_later_1`, project, service: 'later', cmd: ['sleep', '3600'] });
    await waitFor('later seen', async () => monitor.state.container(later.id)?.status === 'running', 10_000);
    const s = parseExposition(await monitor.exposition.metrics());
    assert.equal(s.filter((x) => x.labels.name === `${project}_gone_1`).length, 0);
    assert.equal(sampleValue(s, 'container_state_status', { name: `${project}_stays_1`, status: 'running' }), 1);
    assert.equal(sampleValue(s, 'berth_docker_up'), 1);
    assert.deepEqual(logs.filter((l) => l.event === 'monitor-inspect-failed'), [], 'a 404 is not an error');
  } finally {
    await monitor.stop();
    await relay.close();
  }
});

test('through Tecnativa\'s rules (berth socket-proxy --compat, CONTAINERS=1 with its EVENTS default): events, inspect and one-shot stats all pass', { skip, timeout: 60_000 }, async () => {
  const project = testName('montec');
  // Tecnativa's image sets EVENTS=1 PING=1 VERSION=1 POST=0 as its defaults.
  const proxy = await startTestProxy({ CONTAINERS: '1', EVENTS: '1', PING: '1', VERSION: '1', POST: '0' }, { compat: true });
  try {
    const viaProxy = await Engine.connect({ host: proxy.dockerHost });
    const monitor = startMonitor({ engine: viaProxy, project: makeProject(project, { a: {} }), statsIntervalMs: 0, hostMetrics: false });
    try {
      await monitor.watcher.ready;
      const a = await run({ name: `${project}_a_1`, project, service: 'a', cmd: ['sleep', '3600'] });
      await waitFor('a seen from its events', async () => monitor.state.container(a.id)?.status === 'running', 10_000);
      await monitor.watcher.sampleStats();
      assert.ok(monitor.state.container(a.id)!.resources, 'one-shot stats through the proxy');
      assert.equal(monitor.watcher.health.eventsStreamUp, true);
      assert.deepEqual(proxy.entries.filter((e) => e.verdict !== 'allow').map((e) => `${e.method} ${e.path}`), []);
    } finally {
      await monitor.stop();
    }
  } finally {
    await proxy.close();
  }
});
