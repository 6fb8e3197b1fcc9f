/** The facts `berth doctor` collects (collect.ts) and judges (diagnose.ts). Plain data. */

export interface HealthAttempt {
  exitCode: number;
  output: string;
  end: string;
}

/** A kill the engine recorded for a container (events): the signal and when. */
export interface KillEvent {
  at: string;
  signal: number;
}

export interface ReachResult {
  /** The depends_on name, as the service resolves it. */
  name: string;
  port?: number;
  dns: 'ok' | 'failed';
  addresses: string[];
  tcp?: 'ok' | 'failed';
  detail?: string;
}

export interface ContainerFacts {
  id: string;
  name: string;
  service: string;
  state: string;
  running: boolean;
  startedAt?: string;
  finishedAt?: string;
  exitCode?: number;
  oomKilled: boolean;
  restartCount: number;
  restartPolicy: string;
  stopTimeoutS: number;
  stopSignal: string;
  health?: { status: string; failingStreak: number; log: HealthAttempt[]; test?: string; timeoutS?: number };
  memory?: { usage: number; limit: number };
  pids?: { current: number; limit?: number };
  /** Kill and die events since shortly before the last exit (undefined: the engine no longer had them). */
  kills?: KillEvent[];
  /** The engine's die event exit codes since the container started (restarts between). */
  dies?: Array<{ at: string; exitCode: number }>;
  /** Networks the container is on (engine names) vs those the compose file gives the service. */
  networks: string[];
  expectedNetworks: string[];
  errorLines: string[];
  errorLineCount: number;
  reach?: ReachResult[];
  /** Why a probe could not run (no helper image, container not running). */
  reachSkipped?: string;
}

export interface ServiceFacts {
  name: string;
  desired: number;
  running: number;
  dependsOn: string[];
  containers: ContainerFacts[];
}

export interface DiskUse {
  what: string;
  path: string;
  usedPercent: number;
  freeBytes: number;
  totalBytes: number;
}

export interface HostFacts {
  disks: DiskUse[];
  /** What could not be read, said as such (never guessed). */
  unknown: string[];
  volumes?: { totalBytes: number; largest: Array<{ name: string; bytes: number }>; measuredAt: string; cached: boolean };
  containerLogs?: { totalBytes: number; unrotated: string[]; largest: Array<{ name: string; bytes: number }> };
  engineWarnings: string[];
  clock: { synchronized?: boolean; source: string; skewMs?: number };
}

export interface DoctorFacts {
  project: string;
  services: ServiceFacts[];
  host?: HostFacts;
  collectedAt: string;
}

export type Severity = 'error' | 'warning' | 'info';

export interface Finding {
  severity: Severity;
  /** A stable name for machines: unhealthy, oom-killed, sigkill-on-stop, unreachable, ... */
  kind: string;
  /** service, container or 'host'. */
  subject: string;
  message: string;
  /** What to do about it. */
  advice: string;
  details?: string[];
}

export interface DoctorReport {
  project: string;
  ok: boolean;
  findings: Finding[];
  facts: DoctorFacts;
}

/** What doctor will look at and why: the plan `--dry-run` prints. */
export interface DoctorCheck {
  kind: 'service' | 'reach' | 'host';
  subject: string;
  what: string;
  reason: string;
}
