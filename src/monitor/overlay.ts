/**
 * `berth monitor init`: plans the monitoring overlay of a project (pure: model and options in,
 * files with their reasons out), and writes it. The overlay runs Prometheus with berth's rules,
 * Alertmanager, the berth agent behind a read-only socket proxy, node_exporter and Grafana with a
 * provisioned dashboard; hardened as the rest of berth asks (read_only, cap_drop, no-new-privileges,
 * limits, log rotation, internal networks).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { Document, stringify, type YAMLMap } from 'yaml';
import type { ComposeProject } from '../compose/types.js';
import { BerthError, ExitCode } from '../lib/errors.js';
import { berthDashboard } from './dashboards.js';
import { renderRules } from './rules.js';

export interface OverlayOptions {
  /** The overlay compose file, relative to the project directory. */
  composeFile?: string;
  /** Folder of the configuration files, relative to the project directory. */
  dir?: string;
  /** Use the images built here (local/prometheus, ... from images/ and scripts/berth-images.mjs) instead of the upstream ones. */
  localImages?: boolean;
  /** Where Alertmanager sends notifications (webhook_configs); none: alerts are only shown. */
  alertWebhook?: string;
  scrapeInterval?: string;
  /** Alertmanager's group_wait: how long it gathers a new group's alerts before the first notification. */
  groupWait?: string;
  grafana?: boolean;
  /** A fixed Grafana admin password (tests); default random. */
  grafanaPassword?: string;
}

export interface OverlayFile {
  /** Relative to the project directory. */
  path: string;
  content: string;
  mode: number;
  reason: string;
}

export interface OverlayPlan {
  project: string;
  files: OverlayFile[];
  /** How to run it, for the user. */
  upCommand: string;
}

export const OVERLAY_SERVICES = ['berth-socket-proxy', 'berth-agent', 'prometheus', 'alertmanager', 'node-exporter', 'grafana'] as const;

const UPSTREAM_IMAGES = {
  prometheus: 'prom/prometheus:v2.53.0',
  alertmanager: 'prom/alertmanager:v0.27.0',
  nodeExporter: 'prom/node-exporter:v1.8.1',
  grafana: 'grafana/grafana-oss:11.1.0',
};
const LOCAL_IMAGES = { prometheus: 'local/prometheus:latest', alertmanager: 'local/alertmanager:latest', nodeExporter: 'local/node-exporter:latest', grafana: UPSTREAM_IMAGES.grafana };

const hardened = {
  restart: 'unless-stopped',
  init: true,
  tmpfs: ['/tmp'],
  read_only: true,
  cap_drop: ['ALL'],
  security_opt: ['no-new-privileges:true'],
  logging: { driver: 'json-file', options: { 'max-size': '10m', 'max-file': '3' } },
};

const limits = (cpus: string, memory: string, pids: number) => ({ resources: { limits: { cpus, memory, pids } } });
const health = (test: string[]) => ({ test: ['CMD', ...test], interval: '30s', timeout: '5s', retries: 3, start_period: '20s', start_interval: '2s' });
const wget = (url: string) => health(['wget', '-q', '-O', '/dev/null', url]);

/** Pure: the overlay's files for this project and options. */
export function planOverlay(project: ComposeProject, options: OverlayOptions = {}): OverlayPlan {
  const clash = OVERLAY_SERVICES.filter((s) => s in project.services || project.inactiveServices.includes(s));
  if (clash.length > 0) throw new BerthError(`the project already has service(s) named ${clash.join(', ')}: the monitoring overlay would replace them`, { exitCode: ExitCode.usage, hint: 'rename them, or merge the overlay by hand from `berth monitor init --dry-run`' });
  const dir = options.dir ?? 'monitoring';
  const composeFile = options.composeFile ?? 'compose.monitoring.yaml';
  const images = options.localImages ? LOCAL_IMAGES : UPSTREAM_IMAGES;
  const scrapeInterval = options.scrapeInterval ?? '15s';
  const grafana = options.grafana !== false;
  const projectFiles = project.files.map((f) => relative(project.workingDir, f)).filter((f) => !f.startsWith('..'));
  const agentFiles = [...(projectFiles.length > 0 ? projectFiles : ['compose.yaml']), composeFile];
  const at = (p: string) => `./${dir}/${p}`;

  // Each service gets its own copy: shared objects would come out as YAML anchors and aliases.
  const hardenedCopy = () => structuredClone(hardened);
  const services: Record<string, unknown> = {
    'berth-socket-proxy': {
      ...hardenedCopy(),
      // berth's own socket proxy (Tecnativa's variables): containers and events, read-only.
      image: 'local/berth-socket-proxy:latest',
      environment: { CONTAINERS: 1, EVENTS: 1, POST: 0 },
      group_add: ['${DOCKER_GID:-0}'],
      volumes: ['/var/run/docker.sock:/var/run/docker.sock:ro'],
      healthcheck: health(['node', '-e', "fetch('http://127.0.0.1:2375/_ping').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]),
      networks: ['monitoring-docker'],
      deploy: limits('0.25', '128M', 50),
    },
    'berth-agent': {
      ...hardenedCopy(),
      image: 'local/berth:latest',
      user: '${BERTH_AGENT_USER:-0:0}',
      command: [...agentFiles.flatMap((f) => ['-f', `/project/${f}`]), '-p', project.name, 'agent', '--no-schedules', '--no-host-metrics', '--listen', '0.0.0.0:9465'],
      environment: { DOCKER_HOST: 'tcp://berth-socket-proxy:2375', BERTH_STATE_DIR: '/state' },
      volumes: ['.:/project:ro', '${BERTH_STATE_DIR:-/var/lib/berth}:/state'],
      depends_on: { 'berth-socket-proxy': { condition: 'service_healthy' } },
      healthcheck: health(['node', '-e', "fetch('http://127.0.0.1:9465/metrics').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]),
      networks: ['monitoring-docker', 'monitoring'],
      deploy: limits('0.5', '256M', 100),
    },
    prometheus: {
      ...hardenedCopy(),
      image: images.prometheus,
      user: '65534:65534',
      command: ['--config.file=/etc/prometheus/prometheus.yml', '--storage.tsdb.path=/prometheus', '--storage.tsdb.retention.time=15d', '--web.listen-address=0.0.0.0:9090'],
      volumes: [`${at('prometheus')}:/etc/prometheus:ro`, 'prometheus_data:/prometheus'],
      ports: ['${PROMETHEUS_BIND:-127.0.0.1:9090}:9090'],
      healthcheck: wget('http://127.0.0.1:9090/-/healthy'),
      networks: ['monitoring', 'monitoring-egress'],
      deploy: limits('1', '1G', 200),
    },
    alertmanager: {
      ...hardenedCopy(),
      image: images.alertmanager,
      user: '65534:65534',
      command: ['--config.file=/etc/alertmanager/alertmanager.yml', '--storage.path=/alertmanager', '--web.listen-address=0.0.0.0:9093', '--cluster.listen-address='],
      volumes: [`${at('alertmanager')}:/etc/alertmanager:ro`, 'alertmanager_data:/alertmanager'],
      ports: ['${ALERTMANAGER_BIND:-127.0.0.1:9093}:9093'],
      healthcheck: wget('http://127.0.0.1:9093/-/healthy'),
      // Egress: it delivers notifications.
      networks: ['monitoring', 'monitoring-egress'],
      deploy: limits('0.25', '128M', 100),
    },
    'node-exporter': {
      ...hardenedCopy(),
      image: images.nodeExporter,
      user: '65534:65534',
      command: ['--path.rootfs=/host', '--web.listen-address=0.0.0.0:9100', '--collector.filesystem.mount-points-exclude=^/(dev|proc|run|sys|var/lib/docker/.+)($$|/)'],
      // Not rslave: that needs / to be a shared mount, which many hosts' is not.
      volumes: ['/:/host:ro'],
      healthcheck: wget('http://127.0.0.1:9100/metrics'),
      networks: ['monitoring'],
      deploy: limits('0.25', '64M', 50),
    },
  };
  if (grafana) {
    services.grafana = {
      ...hardenedCopy(),
      image: images.grafana,
      user: '472:0',
      environment: { GF_SECURITY_ADMIN_PASSWORD__FILE: '/run/secrets/grafana_admin_password', GF_USERS_ALLOW_SIGN_UP: 'false', GF_ANALYTICS_REPORTING_ENABLED: 'false', GF_ANALYTICS_CHECK_FOR_UPDATES: 'false' },
      secrets: ['grafana_admin_password'],
      volumes: [`${at('grafana/provisioning')}:/etc/grafana/provisioning:ro`, `${at('grafana/dashboards')}:/etc/grafana/dashboards:ro`, 'grafana_data:/var/lib/grafana'],
      stop_grace_period: '10s',
      ports: ['${GRAFANA_BIND:-127.0.0.1:3000}:3000'],
      depends_on: { prometheus: { condition: 'service_healthy' } },
      healthcheck: wget('http://127.0.0.1:3000/api/health'),
      networks: ['monitoring', 'monitoring-egress'],
      deploy: limits('0.5', '256M', 200),
    };
  }
  const overlay = {
    services,
    networks: {
      // The socket proxy speaks the Docker API unauthenticated: only the agent reaches it.
      'monitoring-docker': { internal: true },
      monitoring: { internal: true },
      'monitoring-egress': {},
    },
    volumes: { prometheus_data: {}, alertmanager_data: {}, ...(grafana ? { grafana_data: {} } : {}) },
    ...(grafana ? { secrets: { grafana_admin_password: { file: at('secrets/grafana_admin_password') } } } : {}),
  };
  const composeHeader = `# Generated by \`berth monitor init\`: the monitoring overlay of project ${project.name}.
# Run it with the project:  ${upCommand(projectFiles, composeFile)}
# Local images carry :latest (built here, no registry); in production pin a version or digest.
# berth-disable image-tag
`;
  const prometheus = {
    global: { scrape_interval: scrapeInterval, evaluation_interval: scrapeInterval, external_labels: { berth_project: project.name } },
    rule_files: ['/etc/prometheus/rules/*.yml'],
    alerting: { alertmanagers: [{ static_configs: [{ targets: ['alertmanager:9093'] }] }] },
    scrape_configs: [
      { job_name: 'berth', static_configs: [{ targets: ['berth-agent:9465'] }] },
      { job_name: 'node', static_configs: [{ targets: ['node-exporter:9100'] }] },
      { job_name: 'prometheus', static_configs: [{ targets: ['localhost:9090'] }] },
      { job_name: 'alertmanager', static_configs: [{ targets: ['alertmanager:9093'] }] },
    ],
  };
  const alertmanager = {
    route: { receiver: 'default', group_by: ['alertname', 'project', 'service'], group_wait: options.groupWait ?? '30s', group_interval: '5m', repeat_interval: '4h' },
    // The engine being down explains the rest: no page for each symptom.
    inhibit_rules: [{ source_matchers: ['alertname="BerthEngineDown"'], target_matchers: ['alertname=~"BerthEventsStreamDown|BerthServiceBelowReplicas"'], equal: ['instance'] }],
    receivers: [{ name: 'default', ...(options.alertWebhook ? { webhook_configs: [{ url: options.alertWebhook, send_resolved: true }] } : {}) }],
  };
  const files: OverlayFile[] = [
    { path: composeFile, content: composeHeader + overlayYaml(overlay, grafana), mode: 0o644, reason: 'the overlay: Prometheus, Alertmanager, the agent behind a read-only socket proxy, node_exporter' + (grafana ? ', Grafana' : '') },
    { path: `${dir}/prometheus/prometheus.yml`, content: `# Generated by \`berth monitor init\`.\n${stringify(prometheus, { lineWidth: 0 })}`, mode: 0o644, reason: `scrapes the agent every ${scrapeInterval} and evaluates berth's rules` },
    { path: `${dir}/prometheus/rules/berth.rules.yml`, content: renderRules(), mode: 0o644, reason: 'berth\'s alert rules (`berth monitor rules`)' },
    {
      path: `${dir}/alertmanager/alertmanager.yml`,
      content: `# Generated by \`berth monitor init\`. Add receivers (email, Slack, ...): https://prometheus.io/docs/alerting/latest/configuration/\n${stringify(alertmanager, { lineWidth: 0 })}`,
      mode: 0o644,
      reason: options.alertWebhook ? `sends alerts to ${redactUrl(options.alertWebhook)}` : 'no receiver yet (--alert-webhook URL adds one): alerts show in Alertmanager only',
    },
  ];
  if (grafana) {
    const datasource = { apiVersion: 1, datasources: [{ name: 'Prometheus', uid: 'berth-prometheus', type: 'prometheus', access: 'proxy', url: 'http://prometheus:9090', isDefault: true }] };
    const provider = { apiVersion: 1, providers: [{ name: 'berth', type: 'file', disableDeletion: true, options: { path: '/etc/grafana/dashboards' } }] };
    files.push(
      { path: `${dir}/grafana/provisioning/datasources/berth.yml`, content: stringify(datasource), mode: 0o644, reason: 'Grafana reads Prometheus' },
      { path: `${dir}/grafana/provisioning/dashboards/berth.yml`, content: stringify(provider), mode: 0o644, reason: 'Grafana loads the dashboards folder' },
      { path: `${dir}/grafana/dashboards/berth-overview.json`, content: `${JSON.stringify(berthDashboard(), null, 2)}\n`, mode: 0o644, reason: 'services, containers (cAdvisor names), host, backups, deploys, probes, the agent' },
      // Readable by Grafana's user in the container; its folder (0700) keeps other host users out.
      { path: `${dir}/secrets/grafana_admin_password`, content: `${options.grafanaPassword ?? randomBytes(18).toString('base64url')}\n`, mode: 0o644, reason: 'Grafana\'s admin password (a Compose secret, never in the environment)' },
    );
  }
  return { project: project.name, files, upCommand: upCommand(projectFiles, composeFile) };
}

/** The overlay as YAML, with the reasons berth check's findings do not apply where they do not. */
function overlayYaml(overlay: Record<string, unknown>, grafana: boolean): string {
  const doc = new Document(overlay);
  const comment = (path: Array<string | number>, text: string) => {
    const node = doc.getIn(path, true) as { commentBefore?: string } | undefined;
    if (node) node.commentBefore = text;
  };
  const keyComment = (service: string, key: string, text: string) => {
    const map = doc.getIn(['services', service], true) as YAMLMap | undefined;
    const pair = map?.items.find((p) => (p.key as { value?: unknown }).value === key);
    if (pair) (pair.key as { commentBefore?: string }).commentBefore = text;
  };
  keyComment('berth-agent', 'user', ' The state store (backups, deploys) is root\'s on the host (0700): the agent opens it as root,\n with no capabilities and a read-only root filesystem.\n berth-disable-next-line user');
  for (const [service, volume] of [['prometheus', 1], ['alertmanager', 1], ...(grafana ? [['grafana', 2] as const] : [])] as const) {
    comment(['services', service, 'volumes', volume], ' Metrics, silences and dashboards state: rebuilt by running, not worth a backup.\n berth-disable-next-line backup-target');
  }
  if (grafana) comment(['services', 'grafana', 'ports', 0], ' A known port on 127.0.0.1 (reach it through an SSH tunnel or your proxy).\n berth-disable-next-line fixed-host-port');
  return doc.toString({ lineWidth: 0 });
}

function upCommand(projectFiles: string[], composeFile: string): string {
  return `berth ${[...projectFiles, composeFile].map((f) => `-f ${f}`).join(' ')} up`;
}

function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname.length > 1 ? '/…' : '/'}`;
  } catch {
    return 'the webhook';
  }
}

/** Writes the plan's files under the project directory; existing files are kept unless `force`. */
export function writeOverlay(plan: OverlayPlan, workingDir: string, options: { force?: boolean } = {}): string[] {
  const existing = plan.files.filter((f) => existsSync(join(workingDir, f.path)));
  if (existing.length > 0 && !options.force) {
    throw new BerthError(`${existing.map((f) => f.path).join(', ')} already exist${existing.length === 1 ? 's' : ''}`, { exitCode: ExitCode.usage, hint: 'pass --force to overwrite them (the Grafana password is generated anew), or --dry-run to compare' });
  }
  const written: string[] = [];
  for (const file of plan.files) {
    const path = join(workingDir, file.path);
    mkdirSync(dirname(path), { recursive: true, mode: file.path.includes('/secrets/') ? 0o700 : 0o755 });
    writeFileSync(path, file.content, { mode: file.mode });
    written.push(file.path);
  }
  return written;
}
