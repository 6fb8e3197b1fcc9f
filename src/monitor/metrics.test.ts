/**
 * The exposition's names, checked statically against what reads them: Grafana is not packaged
 * here, so every query of the provisioned dashboard and every alert rule must name only metrics
 * the agent serves (up is Prometheus' own).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { makeProject } from '../backup/testkit.js';
import { StateStore } from '../state/store.js';
import { ALERTS } from './alerts.js';
import { berthDashboard, metricNames, PANELS } from './dashboards.js';
import { createExposition } from './metrics.js';
import { WatchState } from './state.js';
import { parseExposition, sampleValue } from './testkit.js';

const dir = mkdtempSync(join(tmpdir(), 'berth-metrics-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** An exposition with every kind of series present: a container with stats and a stop, a probe, a backup, a deploy. */
async function fullExposition() {
  const store = StateStore.open(mkdtempSync(join(dir, 'state-')));
  const project = makeProject('p', { web: {} });
  store.db.prepare("INSERT INTO deploys (project, service, kind, started_at, finished_at, user, host, result) VALUES ('p', 'web', 'rollout', '2026-12-01T00:00:00Z', '2026-12-01T00:01:00Z', 'u', 'h', 'failed')").run();
  store.db.prepare("INSERT INTO backups (id, project, target, kind, destination, started_at, finished_at, status) VALUES ('db-1', 'p', 'db', 'postgres', 'local', '2026-12-01T00:00:00Z', '2026-12-01T00:00:10Z', 'verified')").run();
  const state = new WatchState();
  state.setDesired('p', { web: 2 });
  const attrs = { name: 'p_web_1', image: 'app:1', 'com.docker.compose.project': 'p', 'com.docker.compose.service': 'web' };
  const exposition = createExposition({
    state, store, project, hostPaths: [dir],
    watcher: { health: { dockerUp: true, eventsStreamUp: true, reconnects: 2, lastEventAt: null, calls: {} } },
    probes: () => [{ target: { project: 'p', service: 'web', url: 'https://app.example/', timeoutMs: 1, intervalMs: 1 }, at: 1, success: true, durationSeconds: 0.1, statusCode: 200, certExpiry: 1_800_000_000, error: undefined }],
  });
  const event = (Action: string, extra: Record<string, string> = {}, t = 1) => ({ Type: 'container', Action, Actor: { ID: 'c1', Attributes: { ...attrs, ...extra } }, timeNano: (1_700_000_000 + t) * 1e9 });
  state.applyEvent(event('start'));
  state.applyEvent(event('kill', { signal: '15' }, 2));
  state.applyEvent(event('kill', { signal: '9' }, 12));
  state.applyEvent(event('die', { exitCode: '137' }, 12));
  state.applyEvent(event('stop', {}, 12));
  state.applyEvent(event('start', {}, 13));
  state.applyEvent(event('health_status: unhealthy', {}, 14));
  state.applyEvent(event('oom', {}, 15));
  state.setResources('c1', { at: 1, cpuSeconds: 1, memoryUsageBytes: 10, memoryWorkingSetBytes: 5, cfsPeriods: 10, cfsThrottledPeriods: 1, network: { eth0: { rxBytes: 1, txBytes: 2 } }, fsReadBytes: 3, fsWriteBytes: 4 });
  exposition.observeApiCall('inspect', 0.01, true);
  const samples = parseExposition(await exposition.metrics());
  exposition.close();
  store.close();
  return samples;
}

test('every metric the issue names is served, with the labels the anchors use', async () => {
  const samples = await fullExposition();
  const names = new Set(samples.map((s) => s.name));
  for (const name of [
    'container_state_health_status', 'container_state_status', 'container_state_oomkilled', 'container_state_startedat', 'container_state_finishedat', 'container_restartcount',
    'container_cpu_usage_seconds_total', 'container_memory_usage_bytes', 'container_memory_working_set_bytes', 'container_spec_memory_limit_bytes', 'container_cpu_cfs_periods_total',
    'container_cpu_cfs_throttled_periods_total', 'container_network_receive_bytes_total', 'container_network_transmit_bytes_total', 'container_fs_reads_bytes_total', 'container_fs_writes_bytes_total',
    'container_last_seen', 'container_start_time_seconds', 'machine_cpu_cores', 'machine_memory_bytes',
    'berth_service_desired_replicas', 'berth_service_containers', 'berth_container_exits_total', 'berth_container_oom_events_total', 'berth_container_stop_forced_total',
    'berth_container_stop_duration_seconds_bucket', 'berth_container_health_transitions_total', 'berth_backup_last_success_timestamp_seconds', 'berth_deploys_total',
    'berth_docker_up', 'berth_events_stream_up', 'berth_events_reconnects_total', 'berth_docker_api_duration_seconds_bucket',
    'node_filesystem_avail_bytes', 'node_filesystem_size_bytes', 'node_memory_MemAvailable_bytes', 'node_memory_MemTotal_bytes', 'node_load1',
    'probe_success', 'probe_duration_seconds', 'probe_http_status_code', 'probe_ssl_earliest_cert_expiry',
  ]) assert.ok(names.has(name), `${name} missing`);
  const cpu = samples.find((s) => s.name === 'container_cpu_usage_seconds_total')!;
  assert.deepEqual(Object.keys(cpu.labels).sort(), ['container_label_com_docker_compose_project', 'container_label_com_docker_compose_service', 'id', 'image', 'name']);
  assert.equal(cpu.labels.id, '/docker/c1');
  assert.equal(sampleValue(samples, 'container_state_health_status', { status: 'unhealthy' }), 1);
  assert.equal(sampleValue(samples, 'container_state_health_status', { status: 'starting' }), 0);
  assert.equal(sampleValue(samples, 'berth_container_stop_forced_total', { project: 'p', service: 'web' }), 1);
  assert.equal(sampleValue(samples, 'berth_container_stop_duration_seconds_sum', { project: 'p', service: 'web' }), 10);
  assert.equal(sampleValue(samples, 'berth_deploys_total', { project: 'p', service: 'web', result: 'failed' }), 1);
  assert.equal(sampleValue(samples, 'berth_backup_last_success_timestamp_seconds', { project: 'p', target: 'db' }), Date.parse('2026-12-01T00:00:10Z') / 1000);
  assert.equal(sampleValue(samples, 'berth_service_desired_replicas', { project: 'p', service: 'web' }), 2);
  assert.equal(sampleValue(samples, 'berth_events_reconnects_total'), 2);
});

test('Grafana dashboard (static check): every query names only metrics the agent serves', async () => {
  const served = new Set((await fullExposition()).map((s) => s.name));
  const dashboard = berthDashboard() as { panels: Array<{ title: string; targets: Array<{ expr: string }> }> };
  assert.equal(dashboard.panels.length, PANELS.length);
  const unknown: string[] = [];
  let checked = 0;
  for (const panel of dashboard.panels) for (const target of panel.targets) for (const name of metricNames(target.expr)) {
    checked++;
    if (!served.has(name)) unknown.push(`${panel.title}: ${name}`);
  }
  assert.deepEqual(unknown, []);
  assert.ok(checked >= 40, `${checked} names checked`);
  // The checker itself catches a misspelt name (its control).
  assert.deepEqual(metricNames('sum by (name) (rate(container_cpu_usage_seconds_totl{name!=""}[5m])) / on(id) machine_cpu_cores'), ['container_cpu_usage_seconds_totl', 'machine_cpu_cores']);
});

test('alert rules (static check): every expression names only metrics the agent serves (and Prometheus\' up)', async () => {
  const served = new Set([...(await fullExposition()).map((s) => s.name), 'up']);
  const unknown = ALERTS.flatMap((a) => metricNames(a.expr).filter((n) => !served.has(n)).map((n) => `${a.name}: ${n}`));
  assert.deepEqual(unknown, []);
});

test('containerResources: false leaves the cAdvisor series out (where cAdvisor runs); hostPaths: false the node series', async () => {
  const state = new WatchState();
  state.applyEvent({ Type: 'container', Action: 'start', Actor: { ID: 'c', Attributes: { name: 'x', image: 'i' } }, timeNano: 1e18 });
  state.setResources('c', { at: 1, cpuSeconds: 1, memoryUsageBytes: 1, memoryWorkingSetBytes: 1, cfsPeriods: 0, cfsThrottledPeriods: 0, network: {}, fsReadBytes: 0, fsWriteBytes: 0 });
  const names = async (options: Parameters<typeof createExposition>[0]) => new Set(parseExposition(await createExposition(options).metrics()).map((s) => s.name));
  const without = await names({ state, containerResources: false, hostPaths: false });
  assert.ok(!without.has('container_cpu_usage_seconds_total'));
  assert.ok(!without.has('node_load1'));
  assert.ok(without.has('container_state_status'), 'docker_state_exporter names stay');
  const withAll = await names({ state });
  assert.ok(withAll.has('container_cpu_usage_seconds_total') && withAll.has('node_load1'));
});
