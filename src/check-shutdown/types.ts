/** Types of `berth check shutdown`: what is probed (spec), what was measured (facts), what it means (verdict). */

/** A container to probe, as Compose would create it for the service (only what matters for shutdown). */
export interface ShutdownSpec {
  /** For the report and the probe's name. */
  service: string;
  project?: string;
  image: string;
  /** undefined: the image's. A string is split into words as Compose does (it is not a shell form). */
  entrypoint?: string[] | string;
  command?: string[] | string;
  env: Record<string, string>;
  /** Networks to attach the probe to (full engine names); missing ones are skipped with a note. */
  networks: string[];
  /** Compose `init`; undefined = the engine default (no init). */
  init?: boolean;
  /** Compose `stop_signal`; undefined = the image's StopSignal, else SIGTERM. */
  stopSignal?: string;
  /** Compose `stop_grace_period` (Docker's default 10 s). */
  stopGracePeriodMs: number;
  /** Labels of the probe container. Never the service's own labels: a proxy would route traffic to the probe. */
  labels: Record<string, string>;
  workingDir?: string;
  user?: string;
  /** Host binds, e.g. '/abs/path:/app:ro'. */
  binds?: string[];
  /** The container port HTTP requests go to (published on 127.0.0.1 only); undefined: no requests. */
  port?: number;
  /** Path of the request stream. Default '/'. */
  path?: string;
  /** Readiness path the simulated proxy polls; a 404 there means "no readiness endpoint" (passive mode). Default '/readyz'. */
  readinessPath?: string;
  /** The app's own shutdown deadline (x-berth shutdownDeadlineMs), checked against the grace period. */
  appDeadlineMs?: number;
}

export interface ProbeOptions {
  /** Requests per second during the probe (0: none). Default 20 when spec.port is set. */
  requestsPerSecond?: number;
  /** How often the simulated proxy polls readiness. Default 1000 ms. */
  readinessPollMs?: number;
  /** How long to wait for the app to answer after start. Default 30 s. */
  startTimeoutMs?: number;
  /** Extra labels (tests add berth.test=<run id>). */
  labels?: Record<string, string>;
  /** Progress lines. */
  onProgress?: (message: string) => void;
}

export type StepKind = 'inspect-image' | 'create' | 'start' | 'wait-ready' | 'subscribe-events' | 'start-requests' | 'stop' | 'wait-exit' | 'collect' | 'remove';

export interface ProbeStep {
  kind: StepKind;
  /** What the step does, concretely. */
  description: string;
  /** Why it is needed. */
  reason: string;
}

/** How PID 1 runs the app, from the command line alone. */
export type Pid1Kind = 'exec' | 'shell' | 'shell-exec' | 'package-manager' | 'script' | 'unknown';

export interface Pid1Analysis {
  /** The container's command line: entrypoint + cmd as the engine runs it. */
  argv: string[];
  kind: Pid1Kind;
  /** Where the command came from. */
  source: 'service' | 'image' | 'service+image';
  /** e.g. 'npm' for package-manager, 'sh' for shell. */
  wrapper?: string;
  note: string;
}

export interface RequestStats {
  sent: number;
  ok: number;
  /** Requests that failed (error or 5xx), by cause (ECONNRESET, "socket hang up", "HTTP 502"...). */
  failed: Record<string, number>;
  /** Failures of requests that were sent after the stop began or were in flight then. */
  failedDuringShutdown: number;
  /** Requests in flight when the stop began. */
  inFlightAtStop: number;
  /** Whether the app had a readiness endpoint the simulated proxy followed. */
  readiness: 'followed' | 'absent' | 'unused';
  /** ms after the stop when readiness first failed, if it did. */
  readinessFailedAfterMs?: number;
}

/** What the probe measured. judge() turns these into a verdict. */
export interface ShutdownFacts {
  service: string;
  image: string;
  mode: 'throwaway' | 'in-place';
  pid1: Pid1Analysis;
  /** Processes in the container before the stop (PID 1 first), as `docker top` shows them. */
  processes: string[];
  init: boolean;
  stopSignal: string;
  gracePeriodMs: number;
  appDeadlineMs?: number;
  /** False when the container did not stay up long enough to be stopped. */
  started: boolean;
  startError?: string;
  /** From the stop request to the container's exit. */
  timeToExitMs?: number;
  exitCode?: number;
  /** Signals the engine sent, from its events ('kill' events): e.g. ['SIGTERM', 'SIGKILL']. */
  signalsSent: string[];
  sigkill: boolean;
  requests?: RequestStats;
  /** Last lines of the container's output, for the report when something went wrong. */
  logTail?: string[];
  notes: string[];
}

export type Severity = 'error' | 'warning' | 'info';

export interface Finding {
  severity: Severity;
  code: string;
  message: string;
  /** The fix, in terms of the reference's ✅ patterns. */
  fix?: string;
}

export interface Verdict {
  /** No error findings. */
  ok: boolean;
  /** Warning findings: with ok, the container stopped in time but not cleanly in every respect. */
  warnings: number;
  summary: string;
  findings: Finding[];
}

export interface ShutdownReport {
  facts: ShutdownFacts;
  verdict: Verdict;
  plan: ProbeStep[];
}
