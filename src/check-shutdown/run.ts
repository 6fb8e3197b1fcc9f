/** `berth check shutdown SERVICE` without the CLI: from the compose project to a report, and its text. */
import type { ComposeProject } from '../compose/types.js';
import { listServiceContainers } from '../compose/containers.js';
import { projectNetworkNames } from '../compose/networks.js';
import { unknownServiceError } from '../compose/select.js';
import type { Engine } from '../engine/client.js';
import { BerthError, ExitCode } from '../lib/errors.js';
import { planShutdownProbe } from './plan.js';
import { probeShutdown, probeShutdownInPlace } from './probe.js';
import { shutdownSpecFromService } from './spec.js';
import type { Finding, ProbeStep, ShutdownReport, ShutdownSpec } from './types.js';

export interface CheckShutdownOptions {
  /** Stop the service's running container instead of a throwaway one (it is started again). */
  inPlace?: boolean;
  /** Requests per second during the probe; 0: none. Default 20 when the service has a port. */
  requests?: number;
  readinessPollMs?: number;
  labels?: Record<string, string>;
  onProgress?: (message: string) => void;
}

export function shutdownSpecOf(project: ComposeProject, serviceName: string): ShutdownSpec {
  const service = project.services[serviceName];
  if (!service) throw unknownServiceError(project, serviceName);
  return shutdownSpecFromService(service, project.name, projectNetworkNames(project));
}

export function planCheckShutdown(project: ComposeProject, serviceName: string, opts: CheckShutdownOptions = {}): ProbeStep[] {
  const spec = shutdownSpecOf(project, serviceName);
  requireRequestPort(spec, serviceName, opts);
  return planShutdownProbe(spec, { requestsPerSecond: opts.requests }, opts.inPlace ? 'in-place' : 'throwaway');
}

/** Requests asked for (--requests N > 0) need a port to send them to: refuse rather than send nothing. */
function requireRequestPort(spec: ShutdownSpec, serviceName: string, opts: CheckShutdownOptions): void {
  if (opts.requests !== undefined && opts.requests > 0 && spec.port === undefined) {
    throw new BerthError(`--requests ${opts.requests}: service ${serviceName} has no TCP port to send requests to (no ports:, no readiness drain port)`, {
      exitCode: ExitCode.usage,
      hint: `publish its port (ports: ["127.0.0.1::PORT"]), or probe without requests (--requests 0)`,
    });
  }
}

export async function runCheckShutdown(project: ComposeProject, engine: Engine, serviceName: string, opts: CheckShutdownOptions = {}): Promise<ShutdownReport> {
  const spec = shutdownSpecOf(project, serviceName);
  requireRequestPort(spec, serviceName, opts);
  const probeOptions = { requestsPerSecond: opts.requests, readinessPollMs: opts.readinessPollMs, labels: opts.labels, onProgress: opts.onProgress };
  if (!opts.inPlace) return probeShutdown(engine, spec, probeOptions);
  const running = (await listServiceContainers(engine, project.name, { services: [serviceName], includeStopped: false })).filter((c) => c.state === 'running');
  const target = running[0];
  if (!target) {
    throw new BerthError(`service ${serviceName} has no running container to probe in place`, { exitCode: ExitCode.degraded, hint: 'berth up first, or probe a throwaway container (without --in-place)' });
  }
  return probeShutdownInPlace(engine, spec, target.id, probeOptions);
}

interface Paint {
  green(text: string): string;
  red(text: string): string;
  yellow(text: string): string;
  dim(text: string): string;
  bold(text: string): string;
}
const plain: Paint = { green: (t) => t, red: (t) => t, yellow: (t) => t, dim: (t) => t, bold: (t) => t };

const secs = (ms: number) => `${(ms / 1000).toFixed(1)}s`;

export function renderShutdownReport(report: ShutdownReport, paint: Paint = plain): string {
  const f = report.facts;
  const rows: Array<[string, string]> = [];
  rows.push(['PID 1', `${f.pid1.argv.join(' ')}  ${paint.dim(`(${f.pid1.note})`)}`]);
  if (f.processes.length) rows.push(['processes', f.processes.join(paint.dim(' | '))]);
  rows.push(['init', f.init ? 'yes (docker-init/tini is PID 1)' : 'no']);
  rows.push(['stop', `${f.stopSignal}, then SIGKILL after ${secs(f.gracePeriodMs)} (stop_grace_period)`]);
  if (f.started) {
    const exit = `exit ${f.exitCode ?? '?'} after ${f.timeToExitMs === undefined ? '?' : secs(f.timeToExitMs)}`;
    rows.push(['result', f.sigkill ? paint.red(`${exit}: SIGKILL needed (signals: ${f.signalsSent.join(', ')})`) : paint.green(`${exit}, no SIGKILL`)]);
  }
  if (f.requests) {
    const r = f.requests;
    const failed = Object.entries(r.failed).map(([k, n]) => `${k} ×${n}`).join(', ');
    const readiness =
      r.readiness === 'followed'
        ? `readiness followed${r.readinessFailedAfterMs !== undefined ? `, 503 after ${secs(r.readinessFailedAfterMs)}` : ''}`
        : r.readiness === 'absent'
          ? 'no readiness endpoint'
          : '';
    const text = `${r.sent} sent, ${r.ok} ok, ${r.inFlightAtStop} in flight at the stop, ${r.failedDuringShutdown} failed during shutdown${failed ? ` (${failed})` : ''}; ${readiness}`;
    rows.push(['requests', r.failedDuringShutdown > 0 ? paint.red(text) : text]);
  }
  const width = Math.max(...rows.map(([k]) => k.length)) + 2;
  const lines = [paint.bold(`shutdown of ${f.service} (${f.mode === 'in-place' ? 'its running container' : `a throwaway container of ${f.image}`})`)];
  for (const [key, value] of rows) lines.push(`  ${key.padEnd(width)}${value}`);
  for (const note of f.notes) lines.push(paint.dim(`  note: ${note}`));
  if (f.logTail?.length && (!f.started || f.sigkill || (f.exitCode ?? 0) !== 0)) {
    lines.push(paint.dim('  last log lines:'));
    for (const line of f.logTail.slice(-8)) lines.push(paint.dim(`    ${line}`));
  }
  lines.push('');
  const mark = (finding: Finding) =>
    finding.severity === 'error' ? paint.red('✗ error  ') : finding.severity === 'warning' ? paint.yellow('! warning') : paint.dim('i info   ');
  for (const finding of report.verdict.findings) {
    lines.push(`${mark(finding)} ${finding.message}`);
    if (finding.fix) lines.push(`          ${paint.dim('fix:')} ${finding.fix}`);
  }
  if (report.verdict.findings.length) lines.push('');
  const { ok, warnings, summary } = report.verdict;
  lines.push(!ok ? paint.red(`✗ ${summary}`) : warnings ? paint.yellow(`! ${summary}`) : paint.green(`✓ ${summary}`));
  return lines.join('\n');
}

export function renderPlan(plan: ProbeStep[]): string {
  return plan.map((s, i) => `${i + 1}. ${s.description}\n   why: ${s.reason}`).join('\n');
}
