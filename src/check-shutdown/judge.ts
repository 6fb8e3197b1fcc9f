/** From measured facts to a verdict with fixes in the reference's ✅/❌ terms (pure). */
import type { Finding, ShutdownFacts, Verdict } from './types.js';

export const SIGNAL_NUMBERS: Record<string, number> = {
  SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGABRT: 6, SIGKILL: 9, SIGUSR1: 10, SIGUSR2: 12, SIGPIPE: 13, SIGALRM: 14, SIGTERM: 15, SIGWINCH: 28,
};

export function signalName(value: string | number): string {
  const n = Number(value);
  if (Number.isInteger(n) && String(value).trim() !== '') return Object.entries(SIGNAL_NUMBERS).find(([, num]) => num === n)?.[0] ?? `signal ${n}`;
  const upper = String(value).toUpperCase();
  return upper.startsWith('SIG') ? upper : `SIG${upper}`;
}

const seconds = (ms: number) => (ms % 1000 === 0 ? `${ms / 1000}s` : `${(ms / 1000).toFixed(1)}s`);

const FIX = {
  execForm: '✅ exec form: CMD ["node", "dist/server.js"] (not ❌ CMD npm start / ❌ CMD ["npm", "start"]), so the app itself receives SIGTERM',
  init: '✅ init: true in compose: tini as PID 1 forwards signals and reaps zombies',
  script: '✅ end the entrypoint script with exec "$@" so the app replaces the shell (without exec the shell stays PID 1 and swallows signals)',
  handler: 'handle SIGTERM in the app: readiness 503, drain, finish in-flight requests, close resources, exit 0 (berth/graceful does this)',
  grace: '✅ stop_grace_period: 30s (Docker\'s default 10s is short) with the app\'s own deadline a few seconds below it',
};

/** The verdict on one probe. Errors fail the check; warnings and infos are advice. */
export function judge(facts: ShutdownFacts): Verdict {
  const findings: Finding[] = [];
  const add = (f: Finding) => findings.push(f);
  const signal = facts.stopSignal;
  const grace = seconds(facts.gracePeriodMs);
  const wrapped = facts.pid1.kind === 'shell' || facts.pid1.kind === 'package-manager' || facts.pid1.kind === 'script';

  if (!facts.started) {
    add({ severity: 'error', code: 'did-not-start', message: `the container did not stay up to be stopped: ${facts.startError ?? 'unknown reason'}`, fix: 'run the service and read its logs (berth compose logs SERVICE)' });
    return finish(facts, findings);
  }

  if (facts.sigkill) {
    let fix: string;
    let why: string;
    switch (facts.pid1.kind) {
      case 'shell':
        why = `${facts.pid1.note}`;
        fix = `${FIX.execForm}; ${FIX.init}`;
        break;
      case 'package-manager':
        why = `${facts.pid1.note}`;
        fix = `${FIX.execForm}; ${FIX.init}`;
        break;
      case 'script':
        why = `${facts.pid1.note}`;
        fix = `${FIX.script}; ${FIX.init}`;
        break;
      default:
        why = facts.init
          ? `the app ignored ${signal} or needed longer than ${grace}`
          : `the app ignored ${signal} or needed longer than ${grace} (as PID 1 without init, a process without a ${signal} handler ignores it: the kernel applies no default action to PID 1)`;
        fix = `${FIX.handler}; ${facts.init ? FIX.grace : FIX.init}`;
    }
    add({ severity: 'error', code: 'sigkill', message: `still running ${grace} after ${signal}: Docker sent SIGKILL (${why})`, fix });
  } else if (facts.exitCode !== undefined && facts.exitCode === 128 + (SIGNAL_NUMBERS[signal] ?? -200)) {
    // Killed, not shut down: whatever was in flight was cut. That is not graceful (exit 1).
    add({
      severity: 'error',
      code: 'killed-by-signal',
      message: `exited ${facts.exitCode} = killed by ${signal}'s default action: nothing in the container handles ${signal}, in-flight work is cut off`,
      fix: FIX.handler,
    });
  } else if (facts.exitCode !== undefined && facts.exitCode !== 0) {
    const deadline = facts.appDeadlineMs !== undefined && facts.timeToExitMs !== undefined && Math.abs(facts.timeToExitMs - facts.appDeadlineMs) < 1000;
    add({
      severity: 'warning',
      code: 'exit-code',
      message: `exited with code ${facts.exitCode} after ${signal}${deadline ? ' at about the app\'s own shutdown deadline (it gave up on open work)' : ''}: restart policies and deploy tools read that as a failure`,
      fix: deadline ? 'find what kept the shutdown open (long requests, hooks) or give it more time below stop_grace_period' : 'exit 0 after a clean shutdown',
    });
  }

  const r = facts.requests;
  if (r && r.failedDuringShutdown > 0) {
    const causes = Object.entries(r.failed).map(([cause, n]) => `${cause} ×${n}`).join(', ');
    add({
      severity: 'error',
      code: 'dropped-requests',
      message: `${r.failedDuringShutdown} of ${r.sent} requests failed during the shutdown (${causes})`,
      fix: facts.sigkill
        ? 'these were cut by the SIGKILL: fix the signal path first, then the app\'s own shutdown (berth/graceful)'
        : 'keep serving while readiness answers 503 so the proxy moves away, answer with Connection: close, and never exit with requests in flight (berth/graceful does this)',
    });
  }

  if (!facts.sigkill && facts.timeToExitMs !== undefined && facts.timeToExitMs > facts.gracePeriodMs * 0.8) {
    add({
      severity: 'warning',
      code: 'near-grace',
      message: `took ${seconds(Math.round(facts.timeToExitMs))} of the ${grace} grace period: a slower day ends in SIGKILL`,
      fix: FIX.grace,
    });
  }
  if (facts.appDeadlineMs !== undefined && facts.appDeadlineMs >= facts.gracePeriodMs) {
    add({
      severity: 'warning',
      code: 'deadline-over-grace',
      message: `the app's shutdown deadline ${seconds(facts.appDeadlineMs)} is not below stop_grace_period ${grace}: Docker kills first`,
      fix: FIX.grace,
    });
  }
  if (wrapped && !facts.sigkill) {
    add({
      severity: 'warning',
      code: 'pid1-wrapper',
      message: `PID 1 is a wrapper: ${facts.pid1.note}; it exited in time here, but the app may not have run its own shutdown`,
      fix: facts.pid1.kind === 'script' ? FIX.script : FIX.execForm,
    });
  }
  if (!facts.init) add({ severity: 'info', code: 'no-init', message: 'no init process: PID 1 is the app (or its wrapper), which must handle signals and reap zombies itself', fix: FIX.init });
  if (facts.gracePeriodMs === 10_000) add({ severity: 'info', code: 'default-grace', message: 'stop_grace_period is Docker\'s default 10s', fix: FIX.grace });
  if (r && r.readiness === 'absent' && r.sent > 0) {
    add({ severity: 'info', code: 'no-readiness', message: 'no readiness endpoint answered: a proxy cannot tell that this replica is draining', fix: 'serve readiness that turns 503 on SIGTERM (berth/graceful: /readyz)' });
  }
  return finish(facts, findings);
}

function finish(facts: ShutdownFacts, findings: Finding[]): Verdict {
  const order = { error: 0, warning: 1, info: 2 } as const;
  findings.sort((a, b) => order[a.severity] - order[b.severity]);
  const errors = findings.filter((f) => f.severity === 'error');
  const ok = errors.length === 0;
  const took = facts.timeToExitMs === undefined ? '' : ` in ${seconds(Math.round(facts.timeToExitMs))}`;
  const requests = facts.requests && facts.requests.sent > 0 ? `, ${facts.requests.failedDuringShutdown} of ${facts.requests.sent} requests failed` : '';
  // "graceful" only when nothing is wrong: with warnings, it stopped in time but the warnings say what was not clean.
  const warnings = findings.filter((f) => f.severity === 'warning').length;
  const summary = !ok
    ? `${facts.service}: not graceful: ${errors.map((e) => e.message).join('; ')}`
    : warnings
      ? `${facts.service}: stopped in time, with ${warnings} warning${warnings === 1 ? '' : 's'}: exited ${facts.exitCode ?? '?'}${took} after ${facts.stopSignal}${requests}`
      : `${facts.service}: graceful: exited ${facts.exitCode ?? '?'}${took} after ${facts.stopSignal}${requests}`;
  return { ok, warnings, summary, findings };
}
