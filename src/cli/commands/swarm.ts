/**
 * The `--swarm` side of up, deploy, rollout, rollback and status: the same commands with the stack
 * target (src/swarm, src/status/stack.ts). Parses nothing of its own; renders text or --json.
 */
import { formatDuration, parseDuration } from '../../lib/duration.js';
import { BerthError, ExitCode } from '../../lib/errors.js';
import type { StackEvent } from '../../swarm/deploy.js';
import type { StackStatusReport } from '../../status/stack.js';
import type { CommandContext } from '../context.js';
import { table, type Painter } from '../output.js';

export interface StackDeployFlags { timeout?: string; dryRun?: boolean; lockWait?: string; build?: boolean }

/** Progress lines on stderr; a service's task count is printed when it changes. */
function stackEventRenderer(ctx: CommandContext, describe: (s: import('../../swarm/deploy.js').StackStep) => string): (event: StackEvent) => void {
  const last = new Map<string, string>();
  return (event) => {
    if (event.type !== 'progress') return renderStackEvent(ctx, event, describe);
    for (const s of event.states) {
      const text = `${s.running}/${s.desired} tasks running${s.updateState ? `, update ${s.updateState}` : ''}`;
      if (last.get(s.service) === text) continue;
      last.set(s.service, text);
      ctx.output.note(ctx.output.paint.dim(`  ${s.service}: ${text}`));
    }
  };
}

function renderStackEvent(ctx: CommandContext, event: StackEvent, describe: (s: import('../../swarm/deploy.js').StackStep) => string): void {
  const { paint } = ctx.output;
  if (event.type === 'note') ctx.output.note(paint.yellow(`• ${event.text}`));
  else if (event.type === 'step') {
    if (event.phase === 'start') ctx.output.note(`${describe(event.step)} …`);
    else if (event.phase === 'done') ctx.output.note(`${paint.green('✓')} ${describe(event.step)} ${paint.dim(formatDuration(event.ms ?? 0))}`);
    else ctx.output.note(`${paint.red('✗')} ${describe(event.step)}: ${event.error}`);
  }
}

/** Ctrl-C stops berth's wait (Swarm carries on with what it was told, as after `docker service update`). */
function withSignals<T>(ctx: CommandContext, fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(ExitCode.interrupted);
    ctx.output.note(ctx.output.paint.yellow(`${signal}: no longer waiting (Swarm finishes or rolls back the update by itself; again to quit at once)`));
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return fn(controller.signal).finally(() => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  });
}

/** `berth up --swarm` and `berth deploy --swarm`. */
export async function stackDeploy(ctx: CommandContext, services: string[], flags: StackDeployFlags, kind: 'deploy'): Promise<number> {
  const [{ deployStack, planStackDeploy, renderStackPlan, describeStackStep }, { selectServices }, { renderStack }] = await Promise.all([import('../../swarm/deploy.js'), import('../../compose/select.js'), import('../../compose/stack.js')]);
  const project = await ctx.project();
  selectServices(project, services);
  const built = flags.build === false ? [] : Object.values(project.services).filter((s) => s.hasBuild && s.image).map((s) => s.name);
  const req = { services, kind, build: built.length > 0, compose: () => ctx.compose(), timeoutMs: flags.timeout ? parseDuration(flags.timeout, '--timeout') : undefined, lockWaitMs: flags.lockWait ? parseDuration(flags.lockWait, '--lock-wait') : undefined };
  if (flags.dryRun) {
    const plan = planStackDeploy(renderStack(project, { built: new Set(built) }), services, built);
    if (ctx.output.json) ctx.output.data(plan);
    else ctx.output.line(renderStackPlan(plan));
    return ExitCode.ok;
  }
  const [engine, store] = await Promise.all([ctx.engine(), ctx.store()]);
  const { paint } = ctx.output;
  const result = await withSignals(ctx, (signal) => deployStack({ project, engine, store }, {
    ...req,
    signal,
    onEvent: ctx.output.json ? undefined : stackEventRenderer(ctx, describeStackStep),
  }));
  if (!ctx.output.json) for (const n of result.plan.notes) ctx.output.note(paint.dim(`• ${n}`));
  if (!ctx.output.json) for (const w of result.plan.warnings) ctx.output.note(paint.yellow(`! ${w}`));
  if (ctx.output.json) { ctx.output.data(result); return result.exitCode; }
  for (const s of result.services) {
    const line = `${s.service}: ${s.result}${s.deployId ? ` (deploy #${s.deployId})` : ''}, ${s.imageAfter}, ${s.running}/${s.desired} tasks`;
    ctx.output.line(s.result === 'succeeded' ? paint.green(`✓ ${line}`) : paint.red(`✗ ${line}${s.errors.map((e) => `\n  ${e}`).join('')}`));
  }
  if (!result.ok) throw new BerthError(`stack ${project.name} did not converge: ${result.error}`, { exitCode: result.exitCode, hint: 'berth status --swarm shows every task with its node and full error' });
  ctx.output.line(paint.green(`✓ stack ${project.name} converged ${paint.dim(formatDuration(result.durationMs))}`));
  return ExitCode.ok;
}

export interface StackUpdateFlags { timeout?: string; dryRun?: boolean; lockWait?: string; force?: boolean }

/** `berth rollout --swarm` and `berth rollback --swarm`. */
export async function stackUpdate(ctx: CommandContext, services: string[], flags: StackUpdateFlags, kind: 'rollout' | 'rollback', to?: number): Promise<number> {
  const { updateStack, stackRollbackTarget } = await import('../../swarm/update.js');
  const { describeStackStep } = await import('../../swarm/deploy.js');
  const [project, engine, store] = await Promise.all([ctx.project(), ctx.engine(), ctx.store()]);
  const targets = kind === 'rollback' ? { [services[0]!]: stackRollbackTarget(store, project.name, services[0]!, to).ref } : undefined;
  if (targets && !ctx.output.json) ctx.output.note(`rolling ${services[0]} back to ${targets[services[0]!]}`);
  const { paint } = ctx.output;
  const result = await withSignals(ctx, (signal) => updateStack({ project, engine, store }, {
    services, kind, targets, force: flags.force, dryRun: flags.dryRun, signal,
    timeoutMs: flags.timeout ? parseDuration(flags.timeout, '--timeout') : undefined,
    lockWaitMs: flags.lockWait ? parseDuration(flags.lockWait, '--lock-wait') : undefined,
    onEvent: ctx.output.json ? undefined : stackEventRenderer(ctx, (s) => `${describeStackStep(s)} (${s.reason})`),
  }));
  if (ctx.output.json) { ctx.output.data(flags.dryRun ? result.plan : result); return flags.dryRun ? ExitCode.ok : result.exitCode; }
  if (flags.dryRun) {
    for (const p of result.plan) ctx.output.line(`${p.service}: ${p.skip ?? `${p.imageBefore} → ${p.imageAfter}`}\n  ${p.reason}`);
    return ExitCode.ok;
  }
  for (const s of result.services) {
    const line = `${s.service}: ${s.result}${s.deployId ? ` (deploy #${s.deployId})` : ''}, ${s.imageAfter}, ${s.running}/${s.desired} tasks, ${formatDuration(s.durationMs)}`;
    if (s.result === 'succeeded' || s.result === 'unchanged') ctx.output.line(paint.green(`✓ ${line}`));
    else ctx.output.line(paint.red(`✗ ${line}\n  ${s.error ?? ''}${s.errors.map((e) => `\n  ${e}`).join('')}${s.result === 'rolled-back' ? `\n  Swarm rolled back to ${s.imageBefore}` : ''}`));
  }
  return result.exitCode;
}

/** `berth status --swarm`. */
export async function stackStatus(ctx: CommandContext, services: string[]): Promise<number> {
  const [{ selectServices }, { collectStackStatus }] = await Promise.all([import('../../compose/select.js'), import('../../status/stack.js')]);
  const project = await ctx.project();
  const selected = selectServices(project, services);
  const report = await collectStackStatus(await ctx.engine(), project, selected);
  if (ctx.output.json) ctx.output.data(report);
  else ctx.output.line(renderStackStatus(report, ctx.output.paint));
  return report.ok ? ExitCode.ok : ExitCode.degraded;
}

export function renderStackStatus(report: StackStatusReport, paint: Painter): string {
  const rows: string[][] = [['SERVICE', 'TASKS', 'TASK', 'NODE', 'STATE', 'HEALTH', 'IMAGE', 'PORTS']];
  const errors: string[] = [];
  for (const s of report.services) {
    const count = `${s.running}/${s.desired}`;
    const first = [paint.bold(s.name), s.ok ? paint.green(count) : paint.red(count)];
    if (!s.tasks.length) rows.push([...first, paint.dim('-'), '', paint.red('no tasks'), '', s.image, '']);
    s.tasks.forEach((t, i) => {
      const state = t.desiredState === 'running' ? (t.state === 'running' ? t.state : paint.yellow(t.state)) : paint.dim(`${t.state} (→ ${t.desiredState})`);
      const health = t.health === 'healthy' ? paint.green(t.health) : t.health === 'unhealthy' ? paint.red(t.health) : t.health === 'starting' ? paint.yellow(t.health) : t.health;
      const digest = t.digest ? ` ${paint.dim(t.digest.replace('sha256:', '').slice(0, 12))}` : '';
      rows.push([...(i === 0 ? first : ['', '']), `${t.slot ?? ''}.${t.id.slice(0, 12)}`, t.node, state, t.healthFrom === 'swarm' && t.health !== 'none' ? `${health}${paint.dim('*')}` : health, `${t.image}${digest}`, t.ports.map((p) => `${p.published ?? '-'}->${p.target} ${p.mode ?? ''}`.trim()).join(', ')]);
      if (t.error) errors.push(`${s.name} task ${t.id.slice(0, 12)} on ${t.node}: ${t.error}`);
    });
    if (s.update?.state) errors.push(`${s.name}: update ${s.update.state}${s.update.message ? `: ${s.update.message}` : ''}`);
  }
  const lines = [table(rows)];
  if (report.services.some((s) => s.tasks.some((t) => t.healthFrom === 'swarm' && t.health !== 'none'))) lines.push(paint.dim('* from Swarm\'s health-gated task state (no docker context for that node)'));
  for (const e of errors) lines.push(e);
  const problems = report.services.flatMap((s) => s.problems.map((p) => `${s.name}: ${p}`));
  lines.push('', problems.length ? paint.red(`✗ ${problems.join('; ')}`) : paint.green(`✓ ${report.project}: every service at its desired tasks and healthy (Swarm)`));
  return lines.join('\n');
}
