/**
 * The doctor's judgement, pure: facts -> findings, each with what to do. And the plan of checks
 * (`--dry-run`), from the compose model alone.
 */
import type { ComposeProject } from '../../compose/types.js';
import { formatDuration } from '../../lib/duration.js';
import type { ContainerFacts, DoctorCheck, DoctorFacts, DoctorReport, Finding, HostFacts, ServiceFacts } from './types.js';

const SIGNALS: Record<number, string> = { 1: 'SIGHUP', 2: 'SIGINT', 3: 'SIGQUIT', 6: 'SIGABRT', 9: 'SIGKILL', 11: 'SIGSEGV', 15: 'SIGTERM' };

export function signalName(n: number): string {
  return SIGNALS[n] ?? `signal ${n}`;
}

export function planChecks(project: ComposeProject, services: string[], options: { host: boolean; reach: boolean }): DoctorCheck[] {
  const checks: DoctorCheck[] = [];
  for (const name of services) {
    const service = project.services[name]!;
    checks.push({ kind: 'service', subject: name, what: `replicas (${service.replicas} desired), health and its last outputs, restarts and exits, memory and pids against limits, error lines since the last start`, reason: 'the state of every container of the service, and why the stopped ones stopped' });
    const deps = Object.keys(service.dependsOn);
    if (options.reach && deps.length) checks.push({ kind: 'reach', subject: name, what: `DNS of ${deps.join(', ')} and a TCP connect to their ports, from inside ${name}'s network namespace`, reason: 'depends_on: a dependency the service cannot reach (no shared network, not listening) fails its requests, whatever its own health says' });
  }
  if (options.host) {
    checks.push({ kind: 'host', subject: 'host', what: 'disk use of the Docker root, the volumes (cached, /system/df is slow), container logs and backup destinations', reason: 'a full disk stops the database and the engine' });
    checks.push({ kind: 'host', subject: 'host', what: 'the engine\'s own warnings and clock synchronisation', reason: 'a skewed clock breaks TLS, tokens and backup schedules' });
  }
  return checks;
}

export function diagnose(facts: DoctorFacts): DoctorReport {
  const findings: Finding[] = [];
  for (const service of facts.services) findings.push(...diagnoseService(service, facts.services));
  if (facts.host) findings.push(...diagnoseHost(facts.host));
  const ok = !findings.some((f) => f.severity !== 'info');
  return { project: facts.project, ok, findings, facts };
}

function diagnoseService(service: ServiceFacts, all: ServiceFacts[]): Finding[] {
  const findings: Finding[] = [];
  if (service.running < service.desired) {
    // Compose starts a service only once its dependencies are up (healthy, with condition: service_healthy).
    const blocked = service.dependsOn.filter((d) => {
      const dep = all.find((s) => s.name === d);
      return dep && (dep.running < dep.desired || dep.containers.some((c) => c.running && c.health?.status === 'unhealthy'));
    });
    findings.push({
      severity: 'error', kind: 'below-desired', subject: service.name,
      message: `${service.running} of ${service.desired} replica(s) running`,
      advice: blocked.length ? `it depends on ${blocked.join(', ')}, which ${blocked.length > 1 ? 'are' : 'is'} not up and healthy: fix that first, then berth up ${service.name}` : service.containers.length ? 'see why its containers stopped (below); after the fix: berth up ' + service.name : `no container exists: berth up ${service.name}`,
    });
  }
  for (const c of service.containers) findings.push(...diagnoseContainer(c));
  return findings;
}

/** Why a container that is not running stopped, or why a running one restarted. */
export function explainExit(c: ContainerFacts): Finding | undefined {
  const at = c.finishedAt ? ` at ${c.finishedAt}` : '';
  if (c.oomKilled) {
    return {
      severity: 'error', kind: 'oom-killed', subject: c.name,
      message: `killed by the kernel's OOM killer${at} (exit ${c.exitCode ?? 137})${c.memory?.limit ? `, memory limit ${mib(c.memory.limit)}` : ''}`,
      advice: 'raise deploy.resources.limits.memory, or find what grows (heap size flags such as node --max-old-space-size must stay below the limit)',
    };
  }
  if (c.exitCode === undefined || c.exitCode === 0) return undefined;
  if (c.exitCode === 137) {
    const stop = c.kills?.find((k) => k.signal !== 9);
    const kill = c.kills?.find((k) => k.signal === 9);
    if (stop && kill) {
      const waited = (Date.parse(kill.at) - Date.parse(stop.at)) / 1000;
      return {
        severity: 'warning', kind: 'sigkill-on-stop', subject: c.name,
        message: `killed by SIGKILL on stop${at}: it did not exit within its grace period (${c.stopTimeoutS}s) after ${signalName(stop.signal)}${Number.isFinite(waited) ? `, killed ${waited.toFixed(1)}s later` : ''}`,
        advice: `make it exit on ${c.stopSignal}: exec-form CMD or init: true so PID 1 gets the signal, a handler that closes the server (berth/graceful); or raise stop_grace_period. berth check shutdown ${c.service} shows what happens`,
      };
    }
    if (kill) {
      return { severity: 'error', kind: 'sigkill', subject: c.name, message: `killed by SIGKILL${at} (docker kill or kill -9), not a stop and not the OOM killer`, advice: 'find who sent it (audit logs, scripts calling docker kill)' };
    }
    return {
      severity: 'error', kind: 'sigkill', subject: c.name,
      message: `killed by SIGKILL${at} (exit 137, not the OOM killer); the engine no longer has the events that say whether a stop's grace period (${c.stopTimeoutS}s) ran out`,
      advice: `if it was being stopped: make it exit on ${c.stopSignal} in time (berth check shutdown ${c.service}); else find who sent SIGKILL`,
    };
  }
  if (c.exitCode > 128 && c.exitCode < 160) {
    const sig = c.exitCode - 128;
    const stopped = c.kills?.some((k) => k.signal === sig);
    return {
      severity: stopped ? 'info' : 'error', kind: stopped ? 'stopped' : 'killed-by-signal', subject: c.name,
      message: stopped ? `stopped by ${signalName(sig)}${at} (exit ${c.exitCode}: the process died of the signal instead of exiting cleanly)` : `died of ${signalName(sig)}${at} (exit ${c.exitCode})`,
      advice: stopped ? 'handle the stop signal and exit 0' : sig === 11 || sig === 6 ? 'a crash in native code: see the last log lines' : 'see the last log lines',
    };
  }
  return { severity: 'error', kind: 'crashed', subject: c.name, message: `exited with code ${c.exitCode}${at}`, advice: `read its last lines: berth logs ${c.service} --tail 50` };
}

function diagnoseContainer(c: ContainerFacts): Finding[] {
  const findings: Finding[] = [];
  if (!c.running) {
    const exit = explainExit(c);
    if (exit) findings.push(exit);
    else if (c.state === 'created') findings.push({ severity: 'error', kind: 'never-started', subject: c.name, message: 'created but never started', advice: `berth up ${c.service}` });
  } else if (c.restartCount > 0) {
    const last = c.dies?.[c.dies.length - 1];
    findings.push({
      severity: 'warning', kind: 'restarted', subject: c.name,
      message: `restarted ${c.restartCount} time(s) (restart: ${c.restartPolicy})${last ? `, last exit ${last.exitCode} at ${last.at}` : ''}${c.oomKilled ? ', the last one by the OOM killer' : ''}`,
      advice: `read what it logged before: berth logs ${c.service} --since ${c.startedAt ?? '1h'}`,
    });
  }
  if (c.running && c.health) {
    const outputs = c.health.log.slice(-3).map((h) => `exit ${h.exitCode} at ${h.end}: ${h.output.trim().split('\n').slice(-2).join(' | ') || '(no output)'}`);
    if (c.health.status === 'unhealthy') {
      const timedOut = c.health.log.slice(-3).filter((h) => /exceeded timeout/i.test(h.output)).length;
      const byHand = `run it by hand: docker exec ${c.name} ${c.health.test ?? '<its healthcheck command>'}`;
      const advice = timedOut >= 2
        ? `the check itself did not finish within its timeout (${c.health.timeoutS ?? '?'}s): the host is overloaded or the check is slow to start (a runtime such as node -e); raise healthcheck.timeout, use a lighter probe, or look at the load (CPU limits throttle the check too). ${byHand}`
        : `the outputs above say what the check saw; ${byHand}`;
      findings.push({ severity: 'error', kind: 'unhealthy', subject: c.name, message: `unhealthy: ${c.health.failingStreak} failed health check(s) in a row`, advice, details: outputs });
    } else if (c.health.status === 'starting') {
      findings.push({ severity: 'info', kind: 'starting', subject: c.name, message: 'health: starting (within its start period)', advice: 'wait, or look again with berth doctor', details: outputs });
    }
  }
  const missing = c.expectedNetworks.filter((n) => !c.networks.includes(n));
  if (c.running && missing.length) {
    findings.push({ severity: 'error', kind: 'network-missing', subject: c.name, message: `not attached to ${missing.join(', ')} (the compose file puts it there)`, advice: `reattach it (docker network connect ${missing[0]} ${c.name}) or recreate it: berth rollout ${c.service}` });
  }
  for (const r of c.reach ?? []) {
    if (r.dns === 'failed') {
      findings.push({ severity: 'error', kind: 'unreachable', subject: c.name, message: `cannot resolve ${r.name} from inside ${c.name}'s network namespace${r.detail ? ` (${r.detail})` : ''}`, advice: missing.length ? `it left ${missing.join(', ')}: reconnect it` : `put ${c.service} and ${r.name} on a common network, and check that ${r.name} runs` });
    } else if (r.tcp === 'failed') {
      findings.push({ severity: 'error', kind: 'unreachable', subject: c.name, message: `${r.name} (${r.addresses.join(', ')}) resolves but refuses or drops TCP port ${r.port}${r.detail ? ` (${r.detail})` : ''}`, advice: `check that ${r.name} listens on ${r.port} on all interfaces, not only 127.0.0.1` });
    }
  }
  if (c.memory && c.memory.limit > 0 && c.memory.usage / c.memory.limit >= 0.9) {
    findings.push({ severity: 'warning', kind: 'memory-near-limit', subject: c.name, message: `memory ${mib(c.memory.usage)} of its ${mib(c.memory.limit)} limit (${Math.round((100 * c.memory.usage) / c.memory.limit)}%)`, advice: 'the OOM killer is next: raise the limit or find the leak' });
  }
  if (c.pids?.limit && c.pids.current / c.pids.limit >= 0.9) {
    findings.push({ severity: 'warning', kind: 'pids-near-limit', subject: c.name, message: `${c.pids.current} of ${c.pids.limit} processes/threads`, advice: 'raise deploy.resources.limits.pids, or find the runaway forks' });
  }
  if (c.errorLineCount > 0) {
    findings.push({ severity: 'warning', kind: 'log-errors', subject: c.name, message: `${c.errorLineCount} error line(s) in its logs since it ${c.running ? 'started' : 'last ran'}`, advice: `berth logs ${c.service} --level error --since ${c.startedAt ?? '1h'}`, details: c.errorLines });
  }
  if (c.reachSkipped) findings.push({ severity: 'info', kind: 'reach-not-checked', subject: c.name, message: `dependencies not checked: ${c.reachSkipped}`, advice: 'set BERTH_HELPER_IMAGE to a busybox image the engine has' });
  return findings;
}

function diagnoseHost(host: HostFacts): Finding[] {
  const findings: Finding[] = [];
  for (const d of host.disks) {
    if (d.usedPercent >= 85) {
      findings.push({ severity: d.usedPercent >= 95 ? 'error' : 'warning', kind: 'disk-full', subject: 'host', message: `${d.what} (${d.path}): ${d.usedPercent}% used, ${gib(d.freeBytes)} free`, advice: d.what.startsWith('backup') ? 'prune backups (berth backup prune) or move them' : 'berth maintain --dry-run shows what pruning frees (rollback targets kept)' });
    }
  }
  if (host.containerLogs?.unrotated.length) {
    findings.push({ severity: 'warning', kind: 'logs-unrotated', subject: 'host', message: `json-file logs without max-size: ${host.containerLogs.unrotated.join(', ')}`, advice: 'set logging.options max-size and max-file (berth check names the services)' });
  }
  for (const w of host.engineWarnings) findings.push({ severity: 'warning', kind: 'engine-warning', subject: 'engine', message: w, advice: 'see the engine documentation for this warning' });
  if (host.clock.synchronized === false) findings.push({ severity: 'warning', kind: 'clock-unsynchronized', subject: 'host', message: `the clock is not synchronised (${host.clock.source})`, advice: 'enable NTP: timedatectl set-ntp true (systemd-timesyncd or chrony)' });
  if (host.clock.skewMs !== undefined && Math.abs(host.clock.skewMs) > 2000) findings.push({ severity: 'warning', kind: 'clock-skew', subject: 'engine', message: `the engine's clock differs from berth's by ${formatDuration(Math.abs(host.clock.skewMs))}`, advice: 'synchronise both clocks (NTP)' });
  for (const u of host.unknown) findings.push({ severity: 'info', kind: 'not-determined', subject: 'host', message: `could not determine ${u}`, advice: u.startsWith('clock') ? 'check it by hand: chronyc tracking, or timedatectl on a systemd host' : 'run berth doctor on the Docker host, as root, to see it' });
  return findings;
}

function mib(bytes: number): string {
  return `${Math.round(bytes / 1048576)} MiB`;
}

function gib(bytes: number): string {
  return `${(bytes / 1073741824).toFixed(1)} GiB`;
}
