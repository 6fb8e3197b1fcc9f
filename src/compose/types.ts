/**
 * The compose model: what every capability reads. Loaded exactly as Compose does
 * (see load.ts); plain data, no engine access.
 */

/** Options that select and load a Compose project, as Compose's global flags do. */
export interface ComposeOptions {
  /** `-f` files, in order. Empty: COMPOSE_FILE, then discovery in the project directory. */
  files?: string[];
  /** `-p` */
  projectName?: string;
  /** `--project-directory` */
  projectDirectory?: string;
  /** `--env-file`, repeatable. Default: `.env` in the project directory when present. */
  envFiles?: string[];
  /** `--profile`, repeatable. Added to COMPOSE_PROFILES. */
  profiles?: string[];
  /** Process environment (defaults to process.env); it wins over env files in interpolation. */
  env?: Record<string, string | undefined>;
  /** Directory to start discovery from (defaults to process.cwd()). */
  cwd?: string;
  /**
   * Record what Compose would refuse about services and references (container_name with
   * replicas, undefined networks, ...) in `refusals` and load the rest, instead of throwing.
   * For linters; YAML and schema errors still throw.
   */
  lenient?: boolean;
}

/** Something Compose refuses about the project, kept when loading leniently. */
export interface ComposeRefusal {
  message: string;
  path: ModelPath;
}

/** A position in a source YAML file, 1-based. */
export interface SourceLocation {
  file: string;
  line: number;
  column: number;
}

/** A path into the model, e.g. ['services', 'app', 'ports', 0]. */
export type ModelPath = ReadonlyArray<string | number>;

export interface Healthcheck {
  test: string[] | string | undefined;
  intervalMs: number;
  timeoutMs: number;
  retries: number;
  startPeriodMs: number;
  startIntervalMs: number;
  disabled: boolean;
}

export interface PortMapping {
  /** Host IP, '' when bound to all addresses. */
  hostIp: string;
  /** Host port or range ('8080', '8080-8081'); undefined when the engine picks one (ephemeral). */
  published: string | undefined;
  target: number;
  protocol: 'tcp' | 'udp' | 'sctp';
  mode: 'ingress' | 'host';
}

export interface ServiceNetwork {
  aliases: string[];
  ipv4Address?: string;
  ipv6Address?: string;
}

export interface ServiceDependency {
  condition: 'service_started' | 'service_healthy' | 'service_completed_successfully';
  restart: boolean;
  required: boolean;
}

/** Drain strategy before an old replica is stopped. */
export type DrainConfig =
  | { strategy: 'wait'; durationMs: number }
  | { strategy: 'readiness'; path: string; port: number; durationMs: number }
  | { strategy: 'file'; path: string; durationMs: number }
  | { strategy: 'hook'; command: string[]; timeoutMs: number };

export interface ServiceRolloutConfig {
  /** Health gate timeout; undefined: derived from the healthcheck. */
  timeoutMs?: number;
  drain?: DrainConfig;
  batch?: number;
  /** Monitor window after cut-over. */
  monitorMs?: number;
  /** Declares a stateful service (database): rollout needs --stateful. */
  stateful?: boolean;
  /** stop-first instead of start-first (needs --stop-first or this). */
  stopFirst?: boolean;
  /**
   * The service's networks its traffic comes through (compose keys). New replicas are connected to
   * them only once healthy (one connect each); on the other networks they have their aliases from
   * the start, as Compose gives them. Undefined: every network is a traffic network.
   */
  trafficNetworks?: string[];
}

export type BackupTargetConfig =
  | { type: 'postgres'; database?: string; user?: string; passwordFile?: string; schedule?: string; destination?: string }
  | { type: 'mysql'; database?: string; user?: string; passwordFile?: string; schedule?: string; destination?: string }
  | { type: 'volume'; volumes: string[]; stopContainers: boolean; schedule?: string; destination?: string };

export interface ServiceBerthConfig {
  rollout: ServiceRolloutConfig;
  backup?: BackupTargetConfig;
  /** The app's own shutdown deadline (berth/graceful hardDeadline), for checks. */
  shutdownDeadlineMs?: number;
  /** x-berth monitor: the URL the agent probes. */
  monitor?: { url?: string; intervalMs?: number; timeoutMs?: number };
}

export interface HookConfig {
  command: string[] | string;
  timeoutMs: number;
}

export type BackupDestinationConfig =
  | { type: 'local'; path: string }
  | { type: 'sftp'; host: string; port: number; user: string; path: string; identityFile?: string; passwordFile?: string }
  | { type: 'restic'; repository: string; passwordFile: string };

/** The deploy's scan of the new replicas' first log lines. */
export interface LogScanConfig {
  /** blocking: a gate before traffic (a finding rolls back); advisory: reported only; off. */
  mode: 'blocking' | 'advisory' | 'off';
  /** Regular expressions (case-insensitive) that mark an error line. */
  patterns: string[];
  /** Lines that match one of these are not findings ("Sentry error reporting enabled"). */
  ignore: string[];
  /** How many of the first log lines are read. */
  lines: number;
}

export interface ProjectBerthConfig {
  deploy: {
    /** One-off service run before rollout (`docker compose run --rm SERVICE`). */
    migrate?: { service: string; command?: string[] | string; timeoutMs: number };
    preHooks: HookConfig[];
    postHooks: HookConfig[];
    lockWaitMs?: number;
    /** x-berth deploy.log_scan (defaults in rollout/log-scan.ts). */
    logScan?: Partial<LogScanConfig>;
  };
  backup: {
    destinations: Record<string, BackupDestinationConfig>;
    defaultDestination?: string;
    retention: { keepLast?: number; daily?: number; weekly?: number; monthly?: number; safetyDays?: number };
    encryption?: { ageRecipients?: string[]; ageIdentityFile?: string };
  };
  check: {
    rules: Record<string, 'off' | 'info' | 'warning' | 'error'>;
  };
  /** x-berth monitor: built-in alerting's channels, the heartbeat, the status page. */
  monitor?: MonitorConfig;
  /** berth maintain: run by berth agent on this cron schedule, keeping this many versions. */
  maintain?: { schedule?: string; keep?: number };
}

/** A channel the agent's built-in alerting notifies (x-berth monitor.notify). */
export type NotifierConfig =
  | { type: 'webhook'; name: string; url: string; headers: Record<string, string> }
  | { type: 'ntfy'; name: string; url: string; tokenFile?: string; priority?: number }
  | { type: 'email'; name: string; smtp: string; from: string; to: string[]; user?: string; passwordFile?: string };

export interface MonitorConfig {
  notify: NotifierConfig[];
  heartbeat?: { url: string; everyMs: number };
  /** How long a group of alert changes is gathered before one notification goes out. */
  groupWaitMs?: number;
  /** A firing alert is notified again after this long (Alertmanager's repeat_interval). */
  repeatIntervalMs?: number;
  status?: { public?: boolean; tokenFile?: string; title?: string };
}

export interface ServiceModel {
  name: string;
  /** The merged, interpolated service definition as written (Compose Specification shape). */
  raw: Record<string, unknown>;
  image: string | undefined;
  hasBuild: boolean;
  /** Desired replicas: deploy.replicas, else scale, else 1. */
  replicas: number;
  containerName: string | undefined;
  networkMode: string | undefined;
  /** Networks with their aliases; the implicit 'default' network when none is given. */
  networks: Record<string, ServiceNetwork>;
  ports: PortMapping[];
  dependsOn: Record<string, ServiceDependency>;
  healthcheck: Healthcheck | undefined;
  labels: Record<string, string>;
  environment: Record<string, string | null>;
  profiles: string[];
  init: boolean | undefined;
  stopSignal: string | undefined;
  /** stop_grace_period, default 10 s as Docker. */
  stopGracePeriodMs: number;
  restart: string | undefined;
  /** Parsed x-berth of this service. */
  berth: ServiceBerthConfig;
}

export interface ComposeProject {
  /** Normalized project name (lowercase, [a-z0-9_-]). */
  name: string;
  /** Project directory: relative paths in the model resolve from here. */
  workingDir: string;
  /** Absolute paths of the compose files, in merge order. */
  files: string[];
  /** Absolute paths of env files that were read. */
  envFiles: string[];
  /** Active profiles. */
  profiles: string[];
  /** The merged, interpolated model (spec shape), all services included. */
  model: Record<string, unknown>;
  /** Services active under the selected profiles, in file order. */
  services: Record<string, ServiceModel>;
  /** Services defined but disabled by profiles. */
  inactiveServices: string[];
  berth: ProjectBerthConfig;
  /** Non-fatal notes: unknown x-berth keys, obsolete `version`, and so on. */
  warnings: string[];
  /** Where a model path was defined (the last file that set it), if known. */
  locate(path: ModelPath): SourceLocation | undefined;
  /** With `lenient`: what Compose refuses (otherwise loading throws). */
  refusals?: ComposeRefusal[];
}
