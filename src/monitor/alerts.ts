/**
 * The alert catalogue: every alert berth ships, once, as data. The Prometheus rules file
 * (`berth monitor rules`) is generated from it, and built-in alerting evaluated by the agent
 * itself must use the same names, thresholds and `for:` durations (read them from here).
 *
 * Every expression works on a plain Docker host: it uses the series berth's agent serves
 * (docker_state_exporter, cAdvisor, node_exporter and blackbox names with Docker's labels, and
 * berth_* keyed by compose project and service), never Kubernetes labels (container, pod).
 */

export type Severity = 'critical' | 'warning';

export interface AlertDefinition {
  /** The alertname, e.g. BerthContainerUnhealthy. */
  name: string;
  severity: Severity;
  /** How long the condition must hold before it fires (Prometheus duration, '0s' = at once). */
  for: string;
  /** The threshold the expression compares with, in the unit `unit` says. */
  threshold: number;
  unit: 'count' | 'ratio' | 'seconds' | 'bool';
  /** The look-back window of a counter increase, when the condition has one. */
  window?: string;
  /** The labels that identify one firing instance (what a notification groups by). */
  by: string[];
  /** One line; templated with {{ $labels.NAME }} only (no $value: tests can predict it). */
  summary: string;
  description: string;
  /** The PromQL, built from `threshold` and `window`. */
  expr: string;
}

/** Filesystems that hold data: not pseudo or per-container layers (dockprom's aufs-only rule never fires on overlay2). */
export const REAL_FILESYSTEM = 'fstype!~"tmpfs|devtmpfs|ramfs|squashfs|overlay|aufs|nsfs|proc|sysfs|cgroup2?|autofs|fuse\\\\.lxcfs",mountpoint!~"/run(/.*)?|/var/lib/docker/(overlay2|aufs|containers|netns)/.+"';

interface Draft extends Omit<AlertDefinition, 'expr'> {
  promql: (threshold: number, window: string) => string;
}

const define = ({ promql, ...rest }: Draft): AlertDefinition => ({ ...rest, expr: promql(rest.threshold, rest.window ?? '') });

const DAY = 86_400;

export const ALERTS: readonly AlertDefinition[] = [
  define({
    name: 'BerthServiceBelowReplicas', severity: 'critical', for: '2m', threshold: 0, unit: 'count', by: ['project', 'service'],
    summary: 'Service {{ $labels.project }}/{{ $labels.service }} runs fewer containers than it should',
    description: 'Fewer running containers than the replicas the compose file asks for (berth_service_desired_replicas) for 2 minutes.',
    promql: (t) => `berth_service_desired_replicas - ignoring(state) berth_service_containers{state="running"} > ${t}`,
  }),
  define({
    name: 'BerthContainerUnhealthy', severity: 'critical', for: '1m', threshold: 1, unit: 'bool', by: ['container_label_com_docker_compose_project', 'container_label_com_docker_compose_service', 'name'],
    summary: 'Container {{ $labels.name }} is unhealthy',
    description: 'Its healthcheck fails (unhealthy, not starting) while it runs, for 1 minute.',
    promql: (t) => `container_state_health_status{status="unhealthy"} == ${t} and on(id, instance) container_state_status{status="running"} == 1`,
  }),
  define({
    name: 'BerthHealthFlapping', severity: 'warning', for: '0s', threshold: 3, unit: 'count', window: '30m', by: ['project', 'service'],
    summary: 'Health of {{ $labels.project }}/{{ $labels.service }} is flapping',
    description: 'Its containers turned unhealthy 3 times or more in 30 minutes.',
    promql: (t, w) => `sum by (project, service) (increase(berth_container_health_transitions_total{to="unhealthy"}[${w}])) >= ${t}`,
  }),
  define({
    name: 'BerthRestartLoop', severity: 'critical', for: '0s', threshold: 3, unit: 'count', window: '15m', by: ['project', 'service'],
    summary: 'Service {{ $labels.project }}/{{ $labels.service }} is in a restart loop',
    description: 'Its containers exited unasked 3 times or more in 15 minutes (counted by service: restart counts reset when a container is recreated).',
    promql: (t, w) => `sum by (project, service) (increase(berth_container_exits_total{requested="false"}[${w}])) >= ${t}`,
  }),
  define({
    name: 'BerthContainerOOMKilled', severity: 'warning', for: '0s', threshold: 0, unit: 'count', window: '10m', by: ['project', 'service'],
    summary: 'A container of {{ $labels.project }}/{{ $labels.service }} was OOM-killed',
    description: 'The kernel OOM killer killed a process of the service in the last 10 minutes.',
    promql: (t, w) => `sum by (project, service) (increase(berth_container_oom_events_total[${w}])) > ${t}`,
  }),
  define({
    name: 'BerthServiceExitedNonZero', severity: 'warning', for: '0s', threshold: 0, unit: 'count', window: '10m', by: ['project', 'service', 'exit_code'],
    summary: 'Service {{ $labels.project }}/{{ $labels.service }} exited with code {{ $labels.exit_code }}',
    description: 'A container of a long-running service exited non-zero without a stop asking for it (one-off `compose run` containers are not counted).',
    promql: (t, w) => `sum by (project, service, exit_code) (increase(berth_container_exits_total{requested="false",exit_code!="0"}[${w}])) > ${t}`,
  }),
  define({
    name: 'BerthStopForced', severity: 'warning', for: '0s', threshold: 0, unit: 'count', window: '30m', by: ['project', 'service'],
    summary: 'Stopping {{ $labels.project }}/{{ $labels.service }} needed SIGKILL',
    description: 'A container did not stop on its stop signal within the grace period and was killed: its graceful shutdown is broken (requests in flight were cut).',
    promql: (t, w) => `sum by (project, service) (increase(berth_container_stop_forced_total[${w}])) > ${t}`,
  }),
  define({
    name: 'BerthContainerMemoryNearLimit', severity: 'warning', for: '5m', threshold: 0.9, unit: 'ratio', by: ['container_label_com_docker_compose_project', 'container_label_com_docker_compose_service', 'name'],
    summary: 'Container {{ $labels.name }} uses over 90% of its memory limit',
    description: 'Working set above 90% of the memory limit for 5 minutes: the OOM killer is near.',
    promql: (t) => `container_memory_working_set_bytes / (container_spec_memory_limit_bytes > 0) > ${t}`,
  }),
  define({
    name: 'BerthContainerCpuThrottled', severity: 'warning', for: '10m', threshold: 0.25, unit: 'ratio', window: '5m', by: ['container_label_com_docker_compose_project', 'container_label_com_docker_compose_service', 'name'],
    summary: 'Container {{ $labels.name }} is CPU-throttled',
    description: 'Throttled in over 25% of its CFS periods for 10 minutes: its CPU limit is too low for its load.',
    promql: (t, w) =>
      `sum by (container_label_com_docker_compose_project, container_label_com_docker_compose_service, name) (rate(container_cpu_cfs_throttled_periods_total[${w}])) / sum by (container_label_com_docker_compose_project, container_label_com_docker_compose_service, name) (rate(container_cpu_cfs_periods_total[${w}])) > ${t}`,
  }),
  define({
    name: 'BerthHostDiskFull', severity: 'critical', for: '5m', threshold: 0.1, unit: 'ratio', by: ['instance', 'mountpoint'],
    summary: 'Disk {{ $labels.mountpoint }} on {{ $labels.instance }} is over 90% full',
    description: 'Less than 10% of the filesystem is available (the Docker root or a backup destination).',
    promql: (t) => `node_filesystem_avail_bytes{${REAL_FILESYSTEM}} / node_filesystem_size_bytes{${REAL_FILESYSTEM}} < ${t}`,
  }),
  define({
    name: 'BerthHostDiskFillingUp', severity: 'warning', for: '1h', threshold: DAY, unit: 'seconds', window: '6h', by: ['instance', 'mountpoint'],
    summary: 'Disk {{ $labels.mountpoint }} on {{ $labels.instance }} fills up within 24 hours',
    description: 'At the rate of the last 6 hours the filesystem is full within a day, and it is already over 60% full.',
    promql: (t, w) => `predict_linear(node_filesystem_avail_bytes{${REAL_FILESYSTEM}}[${w}], ${t}) < 0 and node_filesystem_avail_bytes{${REAL_FILESYSTEM}} / node_filesystem_size_bytes{${REAL_FILESYSTEM}} < 0.4`,
  }),
  define({
    name: 'BerthHostInodesLow', severity: 'warning', for: '5m', threshold: 0.1, unit: 'ratio', by: ['instance', 'mountpoint'],
    summary: 'Filesystem {{ $labels.mountpoint }} on {{ $labels.instance }} is running out of inodes',
    description: 'Less than 10% of the inodes are free: writes fail although space is left.',
    promql: (t) => `node_filesystem_files_free{${REAL_FILESYSTEM}} / (node_filesystem_files{${REAL_FILESYSTEM}} > 0) < ${t}`,
  }),
  define({
    name: 'BerthHostMemoryLow', severity: 'warning', for: '5m', threshold: 0.1, unit: 'ratio', by: ['instance'],
    summary: 'Host {{ $labels.instance }} has less than 10% memory available',
    description: 'MemAvailable below 10% of the total for 5 minutes.',
    promql: (t) => `node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes < ${t}`,
  }),
  define({
    name: 'BerthBackupTooOld', severity: 'critical', for: '0s', threshold: 26 * 3600, unit: 'seconds', by: ['project', 'target'],
    summary: 'Newest verified backup of {{ $labels.project }}/{{ $labels.target }} is older than 26 hours',
    description: 'No backup of the target was verified in the last 26 hours (a daily schedule and two hours of slack).',
    promql: (t) => `time() - berth_backup_last_success_timestamp_seconds > ${t}`,
  }),
  define({
    name: 'BerthDeployFailed', severity: 'warning', for: '0s', threshold: 0, unit: 'count', window: '30m', by: ['project', 'service', 'result'],
    summary: 'A deploy of {{ $labels.project }}/{{ $labels.service }} {{ $labels.result }}',
    description: 'A berth deploy, rollout or rollback failed or rolled back in the last 30 minutes.',
    promql: (t, w) => `sum by (project, service, result) (increase(berth_deploys_total{result=~"failed|rolled-back|interrupted"}[${w}])) > ${t}`,
  }),
  define({
    name: 'BerthEngineDown', severity: 'critical', for: '1m', threshold: 0, unit: 'bool', by: ['instance'],
    summary: 'The agent on {{ $labels.instance }} cannot reach the Docker engine',
    description: 'The engine (or the socket proxy in front of it) did not answer the agent for 1 minute.',
    promql: (t) => `berth_docker_up == ${t}`,
  }),
  define({
    name: 'BerthAgentDown', severity: 'critical', for: '2m', threshold: 0, unit: 'bool', by: ['instance'],
    summary: 'The berth agent on {{ $labels.instance }} is not scraped',
    description: 'Prometheus could not scrape the agent (job berth) for 2 minutes: nothing watches the server.',
    promql: (t) => `up{job="berth"} == ${t}`,
  }),
  define({
    name: 'BerthEventsStreamDown', severity: 'warning', for: '2m', threshold: 0, unit: 'bool', by: ['instance'],
    summary: 'The agent on {{ $labels.instance }} lost the engine events stream',
    description: 'The events subscription is down for 2 minutes: health changes and exits are seen late (by the periodic list) or not counted.',
    promql: (t) => `berth_events_stream_up == ${t}`,
  }),
  define({
    name: 'BerthProbeFailing', severity: 'critical', for: '2m', threshold: 0, unit: 'bool', by: ['project', 'service', 'instance'],
    summary: 'Probe of {{ $labels.instance }} ({{ $labels.project }}/{{ $labels.service }}) fails',
    description: 'The URL from x-berth monitor.url did not answer 2xx/3xx for 2 minutes.',
    promql: (t) => `probe_success == ${t}`,
  }),
  define({
    name: 'BerthCertificateExpiring', severity: 'warning', for: '1h', threshold: 14 * DAY, unit: 'seconds', by: ['project', 'service', 'instance'],
    summary: 'TLS certificate of {{ $labels.instance }} expires within 14 days',
    description: 'The certificate the probe saw expires in less than 14 days: renewal is not working.',
    promql: (t) => `probe_ssl_earliest_cert_expiry - time() < ${t}`,
  }),
];

/** Milliseconds of a Prometheus duration ('90s', '5m', '1h', '0s'). */
export function promDurationMs(value: string): number {
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
  let total = 0;
  for (const m of value.matchAll(/(\d+)(ms|s|m|h|d|w)/g)) total += Number(m[1]) * units[m[2]!]!;
  return total;
}
