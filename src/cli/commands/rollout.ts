import { Option, type Command } from 'commander';
import type { DrainConfig } from '../../compose/types.js';
import { formatDuration, parseDuration } from '../../lib/duration.js';
import { BerthError, ExitCode } from '../../lib/errors.js';
import type { RolloutEvent } from '../../rollout/execute.js';
import type { RolloutRequest, RolloutResult } from '../../rollout/run.js';
import { action, type CommandContext } from '../context.js';
import { drainProblem, value } from '../values.js';

export interface RolloutFlags {
  timeout?: string;
  drain?: string;
  batch?: string;
  monitor?: string;
  rollback: boolean;
  dryRun?: boolean;
  lockWait?: string;
  stateful?: boolean;
  stopFirst?: boolean;
  force?: boolean;
  assumeReadyAfter?: string;
  joinDnsAtCreate?: boolean;
}

/** `--drain 2s`, `wait:2s`, `readiness:3s`, `file:/tmp/drain:2s`, `hook:CMD` (timeout 30s). */
export function parseDrain(spec: string): DrainConfig {
  const problem = drainProblem(spec);
  if (problem) throw new BerthError(`invalid --drain "${spec}": ${problem}`, { exitCode: ExitCode.usage });
  const [kind, ...rest] = spec.split(':');
  const tail = rest.join(':');
  switch (kind) {
    case 'wait': return { strategy: 'wait', durationMs: parseDuration(tail, '--drain') };
    case 'readiness': return { strategy: 'readiness', path: '/readyz', port: 0, durationMs: parseDuration(tail || '3s', '--drain') };
    case 'file': {
      const m = /^(.*):([^:]+)$/.exec(tail);
      return { strategy: 'file', path: m ? m[1]! : tail, durationMs: m ? parseDuration(m[2]!, '--drain') : 2000 };
    }
    case 'hook': return { strategy: 'hook', command: ['sh', '-c', tail], timeoutMs: 30_000 };
    default: return { strategy: 'wait', durationMs: parseDuration(spec, '--drain') };
  }
}

export function rolloutOptions(flags: RolloutFlags): Omit<RolloutRequest, 'services'> {
  // The values were checked as the command line was parsed (values.ts).
  const batch = flags.batch === undefined ? undefined : Number(flags.batch);
  return {
    timeoutMs: flags.timeout ? parseDuration(flags.timeout, '--timeout') : undefined,
    drain: flags.drain ? parseDrain(flags.drain) : undefined,
    batch,
    monitorMs: flags.monitor ? parseDuration(flags.monitor, '--monitor') : undefined,
    noRollback: flags.rollback === false,
    dryRun: flags.dryRun,
    lockWaitMs: flags.lockWait ? parseDuration(flags.lockWait, '--lock-wait') : undefined,
    stateful: flags.stateful,
    stopFirst: flags.stopFirst,
    force: flags.force,
    assumeReadyAfterMs: flags.assumeReadyAfter ? parseDuration(flags.assumeReadyAfter, '--assume-ready-after') : undefined,
    joinDnsAtCreate: flags.joinDnsAtCreate,
  };
}

export function addRolloutFlags(command: Command): Command {
  return command
    .option('--timeout <duration>', 'health gate per batch (default: start_period + interval × retries + 10s)', value.duration())
    .option('--drain <spec>', 'before stopping an old replica: 2s | wait:2s | readiness:3s | file:PATH:2s | hook:CMD (default 2s or x-berth rollout.drain)', value.drain())
    .option('--batch <n>', 'replace this many replicas at a time (default: all)', value.integer())
    .option('--monitor <duration>', 'after cut-over, watch the new replicas this long; roll back if one fails (0s: not at all)', value.duration({ zero: true }))
    .option('--no-rollback', 'after a failed monitor window, leave the new replicas running')
    .option('--dry-run', 'print the plan, change nothing')
    .option('--lock-wait <duration>', 'wait this long for another deploy of the project to finish (default: fail at once)', value.duration({ zero: true }))
    .option('--stateful', 'allow rolling a stateful service (database images, x-berth rollout.stateful)')
    .option('--stop-first', 'stop the old replica before the new one starts (a short outage; for container_name, fixed ports, host network)')
    .option('--force', 'replace replicas even if they already run the target image')
    .option('--assume-ready-after <duration>', 'for a service without healthcheck: ready when still running after this long', value.duration());
}

/** Progress lines on stderr, as the executor reports them. */
export function renderEvent(ctx: CommandContext, event: RolloutEvent): void {
  const { paint } = ctx.output;
  const { describeStep } = rolloutModule!;
  switch (event.type) {
    case 'step': {
      const where = paint.dim(`[${event.service} ${event.index + 1}/${event.total}]`);
      // Only steps that take a while announce themselves; every step reports its end.
      if (event.phase === 'start') { if (SLOW_STEPS.has(event.step.kind)) ctx.output.note(`${where} ${describeStep(event.step)} …`); }
      else if (event.phase === 'done') ctx.output.note(`${where} ${paint.green('✓')} ${describeStep(event.step)} ${paint.dim(formatDuration(event.ms ?? 0))}`);
      else ctx.output.note(`${where} ${paint.red('✗')} ${describeStep(event.step)}: ${event.error}`);
      return;
    }
    case 'note':
      ctx.output.note(paint.yellow(`• ${event.text}`));
      return;
    case 'failure':
      ctx.output.note(paint.red(`✗ ${event.reason}`));
      if (event.healthLog.length) ctx.output.note(`  health log of ${event.container}:\n${event.healthLog.map((l) => `    ${l}`).join('\n')}`);
      if (event.logs.length) ctx.output.note(`  last log lines of ${event.container}:\n${event.logs.map((l) => `    ${l}`).join('\n')}`);
      return;
  }
}

const SLOW_STEPS = new Set(['compose-up', 'wait-healthy', 'drain', 'stop', 'monitor']);

let rolloutModule: typeof import('../../rollout/plan.js') | undefined;

/** Runs a rollout request with the CLI's context: signals abort it cleanly, events render as lines. */
export async function runFromCli(ctx: CommandContext, req: RolloutRequest): Promise<RolloutResult> {
  const [plan, { runRollout }] = await Promise.all([import('../../rollout/plan.js'), import('../../rollout/run.js')]);
  rolloutModule ??= plan;
  // Loading the model, connecting to the engine and opening the store do not depend on each other.
  const [project, engine, store] = await Promise.all([ctx.project(), ctx.engine(), ctx.store()]);
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(ExitCode.interrupted);
    ctx.output.note(ctx.output.paint.yellow(`${signal}: stopping the rollout, removing new replicas that have no traffic yet (again to quit at once)`));
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await runRollout(
      { project, engine, store, compose: () => ctx.compose() },
      // Progress goes to stderr also with --json (stdout holds only the result): a long wait never looks frozen.
      { ...req, signal: controller.signal, onEvent: (e) => renderEvent(ctx, e) },
    );
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

export function renderResult(ctx: CommandContext, result: RolloutResult): number {
  const { paint } = ctx.output;
  if (ctx.output.json) {
    ctx.output.data(result);
    return result.exitCode;
  }
  for (const s of result.services) {
    const removed = s.removedLeftovers?.length ? `, removed ${s.removedLeftovers.length} leftover(s) (${s.removedLeftovers.join(', ')})` : '';
    const line = `${s.service}: ${s.result}${s.deployId ? ` (deploy #${s.deployId})` : ''}, ${s.imageAfter}, ${s.replicas} replica(s)${removed}, ${formatDuration(s.durationMs)}`;
    if (s.result === 'succeeded' || s.result === 'unchanged') ctx.output.line(paint.green(`✓ ${line}`));
    else ctx.output.line(paint.red(`✗ ${line}${s.error ? `\n  ${s.error}` : ''}${s.rolledBackTo ? `\n  rolled back to ${s.rolledBackTo}` : s.result === 'rolled-back' ? '\n  the old replicas kept serving; the new ones were removed' : ''}`));
  }
  return result.exitCode;
}

export function registerRollout(program: Command): void {
  addRolloutFlags(
    program
      .command('rollout')
      .description('zero-downtime rollout: new replicas beside the old, health gate, then drain and stop the old')
      .argument('<service...>', 'services to roll out (in depends_on order)'),
  )
    .addOption(new Option('--join-dns-at-create', 'test control: new replicas get traffic before the health gate').hideHelp())
    .option('--swarm', "on a Swarm stack: Swarm's own rolling update (start-first, health-gated, failure_action rollback), watched until converged")
    .addHelpText('after', `
How: new replicas are cloned from a running one (same networks, labels, config) with the new image,
kept out of the service's DNS name until healthy, then joined; each old replica is taken out of DNS,
drained (--drain), stopped with its stop_grace_period and removed. A failing new replica is removed
and the old ones keep serving. First deploy (nothing running): Compose starts the service.
Refused: container_name, fixed host ports, network_mode: host (unless --stop-first); databases
(unless --stateful); no healthcheck (unless --assume-ready-after).

Exit codes: 0 done, 1 failed (rolled back), 2 refused, 4 locked by another deploy, 130 interrupted.

Examples:
  berth rollout app
  berth rollout app worker --batch 1 --monitor 30s
  berth rollout app --dry-run
  berth rollout app --drain readiness:5s --lock-wait 2m`)
    .action(
      action(async (ctx, services: string[], flags: RolloutFlags & { swarm?: boolean }) => {
        if (flags.swarm) return (await import('./swarm.js')).stackUpdate(ctx, services, flags, 'rollout');
        const req = { ...rolloutOptions(flags), services, kind: 'rollout' as const };
        return finish(ctx, req);
      }),
    );
}

export async function finish(ctx: CommandContext, req: RolloutRequest): Promise<number> {
  const result = await runFromCli(ctx, req);
  if (req.dryRun) {
    const { renderPlan } = await import('../../rollout/plan.js');
    if (ctx.output.json) ctx.output.data(result.plan);
    else ctx.output.line(renderPlan(result.plan));
    return ExitCode.ok;
  }
  return renderResult(ctx, result);
}
