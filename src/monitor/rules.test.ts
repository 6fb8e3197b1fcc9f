/**
 * The shipped alert rules under the real `promtool test rules` (Debian's prometheus package,
 * installed by scripts/engine): for every alert of the catalogue, a case that fires and a near
 * miss that does not. Negative control: the same conditions written with Kubernetes labels
 * (awesome-prometheus-alerts' container/pod) and dockprom's aufs disk rule never fire on the
 * series of a plain Docker host, on the very inputs that make berth's rules fire.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parse, stringify } from 'yaml';
import { ALERTS, promDurationMs } from './alerts.js';
import { prometheusRule, renderRules } from './rules.js';

const promtool = spawnSync('promtool', ['--version']).status === 0;
const skip = promtool ? false : 'promtool not installed (scripts/engine install installs Debian\'s prometheus package)';
if (!promtool && process.env.CI === 'true') throw new Error('promtool missing in CI: scripts/engine install must install prometheus');

const dir = mkdtempSync(join(tmpdir(), 'berth-rules-'));
after(() => rmSync(dir, { recursive: true, force: true }));

interface Series {
  series: string;
  values: string;
}
interface Case {
  interval?: string;
  series: Series[];
  at: string;
}
interface Cases {
  fires: Case & { labels: Record<string, string> };
  nearMiss: Case[];
}

const agent = 'job="berth",instance="agent:9465"';
const ctr = 'id="/docker/abc",name="p_web_1",image="app:1",container_label_com_docker_compose_project="p",container_label_com_docker_compose_service="web"';
const ctrLabels = { id: '/docker/abc', name: 'p_web_1', image: 'app:1', container_label_com_docker_compose_project: 'p', container_label_com_docker_compose_service: 'web', job: 'berth', instance: 'agent:9465' };
const svc = 'project="p",service="web"';
const root = 'device="/dev/sda1",fstype="ext4",mountpoint="/"';
const rootLabels = { device: '/dev/sda1', fstype: 'ext4', mountpoint: '/', job: 'berth', instance: 'agent:9465' };
const s = (series: string, values: string): Series => ({ series, values });

/** Every alert's firing case and near misses (the near miss is just short of the threshold or of `for:`). */
const CASES: Record<string, Cases> = {
  BerthServiceBelowReplicas: {
    fires: { series: [s(`berth_service_desired_replicas{${svc},${agent}}`, '2x10'), s(`berth_service_containers{${svc},state="running",${agent}}`, '1x10')], at: '5m', labels: { project: 'p', service: 'web', job: 'berth', instance: 'agent:9465' } },
    nearMiss: [
      // Below for 1 minute (a rollout's swap), back before `for: 2m`.
      { series: [s(`berth_service_desired_replicas{${svc},${agent}}`, '2x10'), s(`berth_service_containers{${svc},state="running",${agent}}`, '1 1 2x8')], at: '5m' },
      // Exited containers of the service do not count as running, but they do not lower it either: at desired, quiet.
      { series: [s(`berth_service_desired_replicas{${svc},${agent}}`, '2x10'), s(`berth_service_containers{${svc},state="running",${agent}}`, '2x10'), s(`berth_service_containers{${svc},state="exited",${agent}}`, '3x10')], at: '5m' },
    ],
  },
  BerthContainerUnhealthy: {
    fires: { series: [s(`container_state_health_status{${ctr},status="unhealthy",${agent}}`, '0 1x10'), s(`container_state_status{${ctr},status="running",${agent}}`, '1x10')], at: '5m', labels: { ...ctrLabels, status: 'unhealthy' } },
    nearMiss: [
      // starting is not unhealthy (awesome-prometheus-alerts' `== 0` matches it).
      { series: [s(`container_state_health_status{${ctr},status="unhealthy",${agent}}`, '0x10'), s(`container_state_health_status{${ctr},status="starting",${agent}}`, '1x10'), s(`container_state_status{${ctr},status="running",${agent}}`, '1x10')], at: '5m' },
      // unhealthy for less than `for: 1m`.
      { series: [s(`container_state_health_status{${ctr},status="unhealthy",${agent}}`, '0 0 0 0 1'), s(`container_state_status{${ctr},status="running",${agent}}`, '1x10')], at: '4m' },
    ],
  },
  BerthHealthFlapping: {
    fires: { series: [s(`berth_container_health_transitions_total{${svc},to="unhealthy",${agent}}`, '0 1 2 3 3 3')], at: '5m', labels: { project: 'p', service: 'web' } },
    nearMiss: [{ series: [s(`berth_container_health_transitions_total{${svc},to="unhealthy",${agent}}`, '0 1 2 2 2 2'), s(`berth_container_health_transitions_total{${svc},to="healthy",${agent}}`, '0 5 10 15 20 25')], at: '5m' }],
  },
  BerthRestartLoop: {
    fires: { series: [s(`berth_container_exits_total{${svc},exit_code="1",requested="false",${agent}}`, '0 1 2 3 3 3')], at: '5m', labels: { project: 'p', service: 'web' } },
    nearMiss: [
      { series: [s(`berth_container_exits_total{${svc},exit_code="1",requested="false",${agent}}`, '0 1 2 2 2 2')], at: '5m' },
      // Stops asked for (a rollout replacing containers) are not a loop.
      { series: [s(`berth_container_exits_total{${svc},exit_code="143",requested="true",${agent}}`, '0 2 4 6 8 10')], at: '5m' },
    ],
  },
  BerthContainerOOMKilled: {
    fires: { series: [s(`berth_container_oom_events_total{${svc},${agent}}`, '0 0 1x5')], at: '5m', labels: { project: 'p', service: 'web' } },
    nearMiss: [{ series: [s(`berth_container_oom_events_total{${svc},${agent}}`, '0 0 1x20')], at: '15m' }],
  },
  BerthServiceExitedNonZero: {
    fires: { series: [s(`berth_container_exits_total{${svc},exit_code="2",requested="false",${agent}}`, '0 0 1x5')], at: '5m', labels: { project: 'p', service: 'web', exit_code: '2' } },
    nearMiss: [{ series: [s(`berth_container_exits_total{${svc},exit_code="143",requested="true",${agent}}`, '0 0 1x5'), s(`berth_container_exits_total{${svc},exit_code="0",requested="false",${agent}}`, '0 0 1x5')], at: '5m' }],
  },
  BerthStopForced: {
    fires: { series: [s(`berth_container_stop_forced_total{${svc},${agent}}`, '0 0 1x5')], at: '5m', labels: { project: 'p', service: 'web' } },
    nearMiss: [{ series: [s(`berth_container_stop_forced_total{${svc},${agent}}`, '0x10')], at: '5m' }],
  },
  BerthContainerMemoryNearLimit: {
    fires: { series: [s(`container_memory_working_set_bytes{${ctr},${agent}}`, '95x10'), s(`container_spec_memory_limit_bytes{${ctr},${agent}}`, '100x10')], at: '6m', labels: ctrLabels },
    nearMiss: [
      { series: [s(`container_memory_working_set_bytes{${ctr},${agent}}`, '89x10'), s(`container_spec_memory_limit_bytes{${ctr},${agent}}`, '100x10')], at: '6m' },
      // No limit (0, as cAdvisor reports unlimited): nothing to be near.
      { series: [s(`container_memory_working_set_bytes{${ctr},${agent}}`, '95x10'), s(`container_spec_memory_limit_bytes{${ctr},${agent}}`, '0x10')], at: '6m' },
    ],
  },
  BerthContainerCpuThrottled: {
    fires: { series: [s(`container_cpu_cfs_periods_total{${ctr},${agent}}`, '0+600x30'), s(`container_cpu_cfs_throttled_periods_total{${ctr},${agent}}`, '0+300x30')], at: '20m', labels: { container_label_com_docker_compose_project: 'p', container_label_com_docker_compose_service: 'web', name: 'p_web_1' } },
    nearMiss: [{ series: [s(`container_cpu_cfs_periods_total{${ctr},${agent}}`, '0+600x30'), s(`container_cpu_cfs_throttled_periods_total{${ctr},${agent}}`, '0+120x30')], at: '20m' }],
  },
  BerthHostDiskFull: {
    fires: { series: [s(`node_filesystem_avail_bytes{${root},${agent}}`, '5x20'), s(`node_filesystem_size_bytes{${root},${agent}}`, '100x20')], at: '10m', labels: rootLabels },
    nearMiss: [
      { series: [s(`node_filesystem_avail_bytes{${root},${agent}}`, '11x20'), s(`node_filesystem_size_bytes{${root},${agent}}`, '100x20')], at: '10m' },
      // A container's overlay layer is not a disk of its own.
      { series: [s(`node_filesystem_avail_bytes{device="overlay",fstype="overlay",mountpoint="/var/lib/docker/overlay2/abc/merged",${agent}}`, '5x20'), s(`node_filesystem_size_bytes{device="overlay",fstype="overlay",mountpoint="/var/lib/docker/overlay2/abc/merged",${agent}}`, '100x20')], at: '10m' },
    ],
  },
  BerthHostDiskFillingUp: {
    fires: { interval: '1m', series: [s(`node_filesystem_avail_bytes{${root},${agent}}`, '390-1x400'), s(`node_filesystem_size_bytes{${root},${agent}}`, '1000x400')], at: '3h', labels: rootLabels },
    nearMiss: [{ interval: '1m', series: [s(`node_filesystem_avail_bytes{${root},${agent}}`, '390-0.1x400'), s(`node_filesystem_size_bytes{${root},${agent}}`, '1000x400')], at: '3h' }],
  },
  BerthHostInodesLow: {
    fires: { series: [s(`node_filesystem_files_free{${root},${agent}}`, '5x20'), s(`node_filesystem_files{${root},${agent}}`, '100x20')], at: '10m', labels: rootLabels },
    nearMiss: [
      { series: [s(`node_filesystem_files_free{${root},${agent}}`, '11x20'), s(`node_filesystem_files{${root},${agent}}`, '100x20')], at: '10m' },
      // Filesystems without inode accounting (btrfs) report 0 of 0.
      { series: [s(`node_filesystem_files_free{${root},${agent}}`, '0x20'), s(`node_filesystem_files{${root},${agent}}`, '0x20')], at: '10m' },
    ],
  },
  BerthHostMemoryLow: {
    fires: { series: [s(`node_memory_MemAvailable_bytes{${agent}}`, '5x20'), s(`node_memory_MemTotal_bytes{${agent}}`, '100x20')], at: '10m', labels: { job: 'berth', instance: 'agent:9465' } },
    nearMiss: [{ series: [s(`node_memory_MemAvailable_bytes{${agent}}`, '5 5 5 12 5 5 5 5 5'), s(`node_memory_MemTotal_bytes{${agent}}`, '100x20')], at: '8m' }],
  },
  BerthBackupTooOld: {
    fires: { interval: '1h', series: [s(`berth_backup_last_success_timestamp_seconds{project="p",target="db",${agent}}`, '0x30')], at: '27h', labels: { project: 'p', target: 'db', job: 'berth', instance: 'agent:9465' } },
    nearMiss: [{ interval: '1h', series: [s(`berth_backup_last_success_timestamp_seconds{project="p",target="db",${agent}}`, '0x30')], at: '25h' }],
  },
  BerthDeployFailed: {
    fires: { series: [s(`berth_deploys_total{${svc},result="failed",${agent}}`, '0 0 1x5')], at: '5m', labels: { project: 'p', service: 'web', result: 'failed' } },
    nearMiss: [{ series: [s(`berth_deploys_total{${svc},result="succeeded",${agent}}`, '0 0 1x5')], at: '5m' }],
  },
  BerthEngineDown: {
    fires: { series: [s(`berth_docker_up{${agent}}`, '0x10')], at: '5m', labels: { job: 'berth', instance: 'agent:9465' } },
    nearMiss: [{ series: [s(`berth_docker_up{${agent}}`, '1 1 1 1 0 1')], at: '5m' }],
  },
  BerthAgentDown: {
    fires: { series: [s(`up{${agent}}`, '0x10')], at: '5m', labels: { job: 'berth', instance: 'agent:9465' } },
    nearMiss: [{ series: [s(`up{${agent}}`, '1 1 0 0 1 1')], at: '5m' }],
  },
  BerthEventsStreamDown: {
    fires: { series: [s(`berth_events_stream_up{${agent}}`, '0x10')], at: '5m', labels: { job: 'berth', instance: 'agent:9465' } },
    nearMiss: [{ series: [s(`berth_events_stream_up{${agent}}`, '1 1 0 0 1 1')], at: '5m' }],
  },
  BerthProbeFailing: {
    fires: { series: [s(`probe_success{${svc},instance="https://app.example.com/health",job="berth"}`, '0x10')], at: '5m', labels: { project: 'p', service: 'web', instance: 'https://app.example.com/health', job: 'berth' } },
    nearMiss: [{ series: [s(`probe_success{${svc},instance="https://app.example.com/health",job="berth"}`, '1 1 0 0 1 1')], at: '5m' }],
  },
  BerthCertificateExpiring: {
    fires: { series: [s(`probe_ssl_earliest_cert_expiry{${svc},instance="https://app.example.com/",job="berth"}`, '864000x200')], at: '2h', labels: { project: 'p', service: 'web', instance: 'https://app.example.com/', job: 'berth' } },
    nearMiss: [{ series: [s(`probe_ssl_earliest_cert_expiry{${svc},instance="https://app.example.com/",job="berth"}`, '1296000x200')], at: '2h' }],
  },
};

/** Expands the {{ $labels.NAME }} templates of an annotation (the catalogue uses no others). */
function expand(template: string, labels: Record<string, string>): string {
  return template.replace(/\{\{\s*\$labels\.(\w+)\s*\}\}/g, (_, name: string) => labels[name] ?? '');
}

function promtoolTest(name: string, rulesYaml: string, tests: unknown[]): { ok: boolean; output: string } {
  const rules = join(dir, `${name}.rules.yml`);
  const file = join(dir, `${name}.test.yml`);
  writeFileSync(rules, rulesYaml);
  writeFileSync(file, stringify({ rule_files: [rules], evaluation_interval: '1m', tests }, { lineWidth: 0 }));
  const r = spawnSync('promtool', ['test', 'rules', file], { encoding: 'utf8' });
  return { ok: r.status === 0, output: `${r.stdout}${r.stderr}` };
}

function testGroup(c: Case, alertname: string, expected: Array<{ exp_labels: Record<string, string>; exp_annotations: Record<string, string> }>) {
  return { interval: c.interval ?? '1m', input_series: c.series, alert_rule_test: [{ eval_time: c.at, alertname, exp_alerts: expected }] };
}

test('the rules file is valid Prometheus (promtool check rules) and lists every alert of the catalogue', { skip }, () => {
  const path = join(dir, 'berth.rules.yml');
  writeFileSync(path, renderRules());
  const out = execFileSync('promtool', ['check', 'rules', path], { encoding: 'utf8' });
  assert.match(out, new RegExp(`SUCCESS: ${ALERTS.length} rules found`));
  const parsed = parse(renderRules()) as { groups: Array<{ rules: Array<{ alert: string }> }> };
  assert.deepEqual(parsed.groups[0]!.rules.map((r) => r.alert), ALERTS.map((a) => a.name));
});

test('every alert has a firing case and a near miss; names are unique; for: and thresholds are data', () => {
  assert.deepEqual(Object.keys(CASES).sort(), ALERTS.map((a) => a.name).sort());
  assert.equal(new Set(ALERTS.map((a) => a.name)).size, ALERTS.length);
  for (const a of ALERTS) {
    assert.ok(CASES[a.name]!.nearMiss.length >= 1, a.name);
    assert.ok(a.expr.includes(String(a.threshold)), `${a.name}: the expression uses the threshold ${a.threshold}`);
    assert.ok(promDurationMs(a.for) >= 0 && /^\d+[smh]$/.test(a.for), `${a.name}: for ${a.for}`);
    assert.doesNotMatch(a.expr, /\b(pod|namespace)\b|container!?=~?"/, `${a.name} uses Kubernetes labels`);
  }
});

for (const alert of ALERTS) {
  test(`promtool: ${alert.name} fires, and its near misses do not`, { skip }, () => {
    const cases = CASES[alert.name]!;
    const labels = { ...cases.fires.labels, alertname: alert.name, severity: alert.severity, source: 'berth' };
    const expected = [{ exp_labels: { ...cases.fires.labels, severity: alert.severity, source: 'berth' }, exp_annotations: { summary: expand(alert.summary, labels), description: expand(alert.description, labels) } }];
    const tests = [testGroup(cases.fires, alert.name, expected), ...cases.nearMiss.map((c) => testGroup(c, alert.name, []))];
    const result = promtoolTest(alert.name, renderRules([alert]), tests);
    assert.ok(result.ok, result.output);
    // Control of the test itself: the near misses, expected to fire, make promtool fail.
    const inverted = cases.nearMiss.map((c) => promtoolTest(`${alert.name}-inverted`, renderRules([alert]), [testGroup(c, alert.name, expected)]));
    for (const r of inverted) assert.equal(r.ok, false, `a near miss of ${alert.name} fired:\n${r.output}`);
  });
}

/**
 * The anchors' expressions on a Docker host: awesome-prometheus-alerts' container rules select
 * and group by Kubernetes labels (container, pod, namespace), which Docker series do not carry;
 * dockprom's disk rule matches fstype="aufs", which overlay2 hosts do not have.
 */
const KUBERNETES_VARIANTS: Array<{ like: string; rule: ReturnType<typeof prometheusRule> }> = [
  {
    like: 'BerthContainerCpuThrottled',
    rule: { alert: 'ContainerCpuThrottled', expr: 'sum(increase(container_cpu_cfs_throttled_periods_total{container!=""}[5m])) by (container, pod, namespace) / sum(increase(container_cpu_cfs_periods_total[5m])) by (container, pod, namespace) > ( 25 / 100 )', for: '5m', labels: { severity: 'warning' }, annotations: {} },
  },
  {
    like: 'BerthContainerMemoryNearLimit',
    rule: { alert: 'ContainerHighMemoryUsage', expr: 'sum(container_memory_working_set_bytes{container!=""}) by (container, pod, namespace) / sum(container_spec_memory_limit_bytes{container!=""} > 0) by (container, pod, namespace) > 0.9', for: '2m', labels: { severity: 'warning' }, annotations: {} },
  },
  {
    like: 'BerthContainerUnhealthy',
    rule: { alert: 'ContainerUnhealthy', expr: 'container_state_health_status{status="unhealthy",container!=""} == 1', for: '1m', labels: { severity: 'critical' }, annotations: {} },
  },
  {
    like: 'BerthHostDiskFull',
    rule: { alert: 'high_storage_load', expr: '(node_filesystem_size_bytes{fstype="aufs"} - node_filesystem_free_bytes{fstype="aufs"}) / node_filesystem_size_bytes{fstype="aufs"} * 100 > 85', for: '30s', labels: { severity: 'warning' }, annotations: {} },
  },
];

test('negative control: the same conditions with Kubernetes labels (and dockprom\'s aufs disk rule) never fire on Docker series', { skip }, () => {
  for (const { like, rule } of KUBERNETES_VARIANTS) {
    const fires = CASES[like]!.fires;
    // The inputs on which berth's rule fires, at the time it fires (past the anchor's `for:` too): nothing.
    assert.ok(promDurationMs(rule.for!) <= promDurationMs(fires.at));
    const tests = [testGroup(fires, rule.alert, [])];
    const rules = stringify({ groups: [{ name: 'anchors', rules: [rule] }] });
    const result = promtoolTest(`k8s-${rule.alert}`, rules, tests);
    assert.ok(result.ok, `${rule.alert} fired on Docker series:\n${result.output}`);
    // While berth's rule fires on those very inputs at that time.
    const berth = ALERTS.find((a) => a.name === like)!;
    const mustFail = promtoolTest(`k8s-${rule.alert}-berth`, renderRules([berth]), [testGroup(fires, berth.name, [])]);
    assert.equal(mustFail.ok, false, `${berth.name} did not fire on the inputs`);
  }
});
