/**
 * The Grafana dashboard `berth monitor init` provisions, built on the names the agent serves.
 * Grafana is not packaged for Debian, so tests check it statically: every query's metric names
 * exist in the agent's output (metricNames()).
 */

export interface Panel {
  title: string;
  unit: string;
  queries: Array<{ expr: string; legend: string }>;
}

export const PANELS: readonly Panel[] = [
  { title: 'Services: desired vs running', unit: 'short', queries: [
    { expr: 'berth_service_desired_replicas', legend: 'desired {{project}}/{{service}}' },
    { expr: 'sum by (project, service) (berth_service_containers{state="running"})', legend: 'running {{project}}/{{service}}' },
  ] },
  { title: 'Unhealthy containers', unit: 'short', queries: [{ expr: 'sum by (container_label_com_docker_compose_project, container_label_com_docker_compose_service) (container_state_health_status{status="unhealthy"})', legend: '{{container_label_com_docker_compose_service}}' }] },
  { title: 'Unasked exits by service (1h)', unit: 'short', queries: [{ expr: 'sum by (project, service, exit_code) (increase(berth_container_exits_total{requested="false"}[1h]))', legend: '{{service}} exit {{exit_code}}' }] },
  { title: 'OOM kills and forced stops (1h)', unit: 'short', queries: [
    { expr: 'sum by (project, service) (increase(berth_container_oom_events_total[1h]))', legend: 'OOM {{service}}' },
    { expr: 'sum by (project, service) (increase(berth_container_stop_forced_total[1h]))', legend: 'SIGKILL on stop {{service}}' },
  ] },
  { title: 'Stop duration p95', unit: 's', queries: [{ expr: 'histogram_quantile(0.95, sum by (le, service) (rate(berth_container_stop_duration_seconds_bucket[1h])))', legend: '{{service}}' }] },
  { title: 'Health transitions (1h)', unit: 'short', queries: [{ expr: 'sum by (service, to) (increase(berth_container_health_transitions_total[1h]))', legend: '{{service}} → {{to}}' }] },
  { title: 'CPU by container', unit: 'percentunit', queries: [{ expr: 'sum by (name) (rate(container_cpu_usage_seconds_total[5m]))', legend: '{{name}}' }] },
  { title: 'CPU throttling', unit: 'percentunit', queries: [{ expr: 'sum by (name) (rate(container_cpu_cfs_throttled_periods_total[5m])) / sum by (name) (rate(container_cpu_cfs_periods_total[5m]))', legend: '{{name}}' }] },
  { title: 'Memory (working set) and limit', unit: 'bytes', queries: [
    { expr: 'container_memory_working_set_bytes', legend: '{{name}}' },
    { expr: 'container_spec_memory_limit_bytes > 0', legend: 'limit {{name}}' },
    { expr: 'container_memory_usage_bytes', legend: 'usage {{name}}' },
  ] },
  { title: 'Network', unit: 'Bps', queries: [
    { expr: 'sum by (name) (rate(container_network_receive_bytes_total[5m]))', legend: 'rx {{name}}' },
    { expr: 'sum by (name) (rate(container_network_transmit_bytes_total[5m]))', legend: 'tx {{name}}' },
  ] },
  { title: 'Block I/O', unit: 'Bps', queries: [
    { expr: 'sum by (name) (rate(container_fs_reads_bytes_total[5m]))', legend: 'read {{name}}' },
    { expr: 'sum by (name) (rate(container_fs_writes_bytes_total[5m]))', legend: 'write {{name}}' },
  ] },
  { title: 'Container restarts and uptime', unit: 'short', queries: [
    { expr: 'container_restartcount', legend: 'restarts {{name}}' },
    { expr: 'time() - container_start_time_seconds', legend: 'up {{name}}' },
    { expr: 'time() - container_last_seen', legend: 'last seen {{name}}' },
  ] },
  { title: 'Disk available', unit: 'percentunit', queries: [{ expr: 'node_filesystem_avail_bytes / node_filesystem_size_bytes', legend: '{{mountpoint}}' }] },
  { title: 'Inodes free', unit: 'percentunit', queries: [{ expr: 'node_filesystem_files_free / node_filesystem_files', legend: '{{mountpoint}}' }] },
  { title: 'Host memory and load', unit: 'short', queries: [
    { expr: 'node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes', legend: 'memory available' },
    { expr: 'node_load1 / machine_cpu_cores', legend: 'load per core' },
    { expr: 'machine_memory_bytes', legend: 'memory installed' },
  ] },
  { title: 'Newest verified backup age', unit: 's', queries: [{ expr: 'time() - berth_backup_last_success_timestamp_seconds', legend: '{{project}}/{{target}}' }] },
  { title: 'Deploys (1d)', unit: 'short', queries: [{ expr: 'sum by (service, result) (increase(berth_deploys_total[1d]))', legend: '{{service}} {{result}}' }] },
  { title: 'Probes', unit: 's', queries: [
    { expr: 'probe_success', legend: 'up {{instance}}' },
    { expr: 'probe_duration_seconds', legend: 'latency {{instance}}' },
    { expr: 'probe_http_status_code', legend: 'status {{instance}}' },
    { expr: '(probe_ssl_earliest_cert_expiry - time()) / 86400', legend: 'cert days left {{instance}}' },
  ] },
  { title: 'Agent', unit: 'short', queries: [
    { expr: 'berth_docker_up', legend: 'engine up' },
    { expr: 'berth_events_stream_up', legend: 'events stream up' },
    { expr: 'increase(berth_events_reconnects_total[1h])', legend: 'reconnects (1h)' },
    { expr: 'histogram_quantile(0.99, sum by (le, call) (rate(berth_docker_api_duration_seconds_bucket[5m])))', legend: 'API p99 {{call}}' },
  ] },
];

/** A Grafana dashboard (schema 39) of the panels, on the provisioned Prometheus datasource. */
export function berthDashboard(): Record<string, unknown> {
  const datasource = { type: 'prometheus', uid: 'berth-prometheus' };
  return {
    uid: 'berth-overview',
    title: 'berth: services, containers and host',
    tags: ['berth', 'docker'],
    timezone: 'browser',
    schemaVersion: 39,
    refresh: '30s',
    time: { from: 'now-6h', to: 'now' },
    panels: PANELS.map((p, i) => ({
      id: i + 1,
      type: 'timeseries',
      title: p.title,
      datasource,
      gridPos: { h: 8, w: 12, x: (i % 2) * 12, y: Math.floor(i / 2) * 8 },
      fieldConfig: { defaults: { unit: p.unit }, overrides: [] },
      targets: p.queries.map((q, j) => ({ refId: String.fromCharCode(65 + j), datasource, expr: q.expr, legendFormat: q.legend })),
    })),
  };
}

const PROMQL_WORDS = new Set(['sum', 'by', 'without', 'rate', 'increase', 'irate', 'time', 'histogram_quantile', 'and', 'or', 'unless', 'on', 'ignoring', 'group_left', 'group_right', 'avg', 'max', 'min', 'count', 'bool', 'offset', 'predict_linear', 'changes', 'le']);

/** The metric names a PromQL expression reads (label names, functions, keywords and strings left out). */
export function metricNames(expr: string): string[] {
  const names = new Set<string>();
  const text = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""').replace(/\{[^}]*\}/g, '{}').replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '').replace(/\[[^\]]*\]/g, '');
  for (const m of text.matchAll(/[a-zA-Z_:][a-zA-Z0-9_:]*/g)) {
    const word = m[0];
    const after = text.slice(m.index! + word.length).trimStart();
    if (PROMQL_WORDS.has(word) || after.startsWith('(')) continue;
    names.add(word);
  }
  return [...names];
}
