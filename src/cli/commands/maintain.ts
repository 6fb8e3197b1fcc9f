import type { Command } from 'commander';
import { parseDuration } from '../../lib/duration.js';
import { ExitCode } from '../../lib/errors.js';
import type { MaintainReport, RefreshStep } from '../../runbook/maintain/run.js';
import type { PrunePlan } from '../../runbook/maintain/prune.js';
import { value } from '../values.js';
import { action } from '../context.js';
import type { Painter } from '../output.js';

interface MaintainFlags {
  refresh: boolean;
  prune: boolean;
  keep: string;
  dangling?: boolean;
  buildCache: boolean;
  buildCacheAge: string;
  dryRun?: boolean;
  timeout?: string;
  drain?: string;
}

export function registerMaintain(program: Command): void {
  program
    .command('maintain')
    .description('the maintenance runbook: refresh base images and roll out what changed, then prune images (rollback targets kept)')
    .argument('[service...]', 'services to refresh (default: all active); pruning always keeps every service\'s versions')
    .option('--keep <n>', 'versions of every service to keep besides its rollback targets', value.integer(), '3')
    .option('--no-refresh', 'skip pull, build and rollout')
    .option('--no-prune', 'skip pruning')
    .option('--dangling', 'also remove untagged images no container uses (engine-wide, as docker image prune)')
    .option('--no-build-cache', 'keep the build cache')
    .option('--build-cache-age <duration>', 'build cache older than this goes', value.duration({ zero: true }), '168h')
    .option('--timeout <duration>', 'health gate of each rollout (as berth rollout --timeout)', value.duration())
    .option('--drain <spec>', 'drain of the old replicas (as berth rollout --drain)', value.drain())
    .option('--dry-run', 'print what would be pulled, built and rolled out, exactly which images would be removed and why each kept one is kept')
    .addHelpText('after', `
Refresh: pulls the base images of built services (a base no registry has is used as it is, and
said so) and the images of the others, builds, and rolls out through berth's zero-downtime path
exactly the services whose image id changed (stateful ones are named, not rolled).
Prune: never an image a container uses, never a rollback target (berth-keep/... tags, deploy
history), never the image a service names, never the last --keep versions of any service. Then
stopped one-off containers and build cache older than --build-cache-age. The prune is planned from
the engine as it is after the refresh; with --no-refresh the dry run and the real run agree exactly.
Unlike \`docker image prune -a\`, berth rollback keeps working afterwards.

Exit codes: 0 done, 1 a step failed (a failed refresh prunes nothing), 2 bad input, 3 engine or
Compose failure, 4 another deploy of the project holds the lock.

Examples:
  berth maintain --dry-run
  berth maintain --keep 5
  berth maintain --no-refresh --dangling`)
    .action(
      action(async (ctx, services: string[], flags: MaintainFlags) => {
        const keep = Number(flags.keep);
        const { parseDrain } = await import('./rollout.js');
        const options = {
          services, keep, refresh: flags.refresh !== false, prune: flags.prune !== false, dangling: Boolean(flags.dangling),
          buildCache: flags.buildCache !== false, buildCacheAgeMs: parseDuration(flags.buildCacheAge, '--build-cache-age'), dryRun: Boolean(flags.dryRun),
          rollout: { timeoutMs: flags.timeout ? parseDuration(flags.timeout, '--timeout') : undefined, drain: flags.drain ? parseDrain(flags.drain) : undefined },
        };
        const { maintainPlans, runMaintain } = await import('../../runbook/maintain/run.js');
        const deps = { engine: await ctx.engine(), project: await ctx.project(), store: await ctx.store(), compose: () => ctx.compose() };
        const { paint } = ctx.output;
        if (flags.dryRun) {
          const plans = await maintainPlans(deps, options);
          if (ctx.output.json) ctx.output.data({ project: deps.project.name, ...plans });
          else {
            if (plans.refresh) {
              ctx.output.line(paint.bold('refresh'));
              plans.refresh.steps.forEach((s, i) => ctx.output.line(`${i + 1}. ${describeRefresh(s)}\n   ${paint.dim(s.reason)}`));
              for (const n of plans.refresh.notes) ctx.output.line(paint.yellow(`• ${n}`));
            }
            if (plans.prune) ctx.output.line(renderPrune(plans.prune, paint));
          }
          return ExitCode.ok;
        }
        const report = await runMaintain(deps, options, (text) => { if (!ctx.output.json) ctx.output.note(paint.dim(`• ${text}`)); });
        if (ctx.output.json) ctx.output.data(report);
        else ctx.output.line(renderReport(report, paint));
        return report.exitCode;
      }),
    );
}

function describeRefresh(step: RefreshStep): string {
  switch (step.kind) {
    case 'pull-base': return `pull ${step.image} (base of ${step.service})`;
    case 'pull': return `pull ${step.image} (${step.service})`;
    case 'build': return `build ${step.services.join(', ')}`;
    case 'rollout-changed': return `roll out whichever of ${step.services.join(', ')} got a new image`;
  }
}

function mib(bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MiB`;
}

function renderPrune(plan: PrunePlan, paint: Painter): string {
  const lines = [paint.bold('prune')];
  if (!plan.remove.length && !plan.containers.length) lines.push('nothing to remove');
  for (const r of plan.remove) lines.push(`${paint.red('remove')} ${r.tags.join(', ') || r.id.slice(7, 19)} ${paint.dim(`(${mib(r.size)})`)}\n   ${paint.dim(r.reason)}`);
  for (const c of plan.containers) lines.push(`${paint.red('remove')} container ${c.name}\n   ${paint.dim(c.reason)}`);
  for (const k of plan.keep) lines.push(`${paint.green('keep')} ${k.tags.join(', ') || k.id.slice(7, 19)}\n${k.reasons.map((r) => `   ${paint.dim(r)}`).join('\n')}`);
  return lines.join('\n');
}

function renderReport(report: MaintainReport, paint: Painter): string {
  const lines: string[] = [];
  if (report.refresh) {
    for (const d of report.refresh.done) lines.push(`${paint.green('✓')} ${d.step}: ${d.result}`);
    if (report.refresh.error) lines.push(paint.red(`✗ refresh failed: ${report.refresh.error} (nothing pruned)`));
  }
  if (report.prune) {
    lines.push(`${paint.green('✓')} removed ${report.prune.removed.length}: ${report.prune.removed.join(', ') || 'nothing'}; kept ${report.prune.keep.length} image(s) of the project (berth maintain --dry-run says why)`);
    for (const f of report.prune.failed) lines.push(paint.red(`✗ ${f.what}: ${f.error}`));
    const cache = report.prune.buildCache;
    lines.push(`freed: ${report.prune.freedBytes !== undefined ? `${mib(report.prune.freedBytes)} on the Docker root (measured)` : 'not measured'}; image sizes removed ${mib(report.prune.imageBytes)} (layers shared with kept images stay)${cache ? `; build cache ${cache.skipped ? `not pruned (${cache.skipped})` : mib(cache.reclaimedBytes)}` : ''}`);
  }
  lines.push(report.ok ? paint.green(`✓ ${report.project}: maintained`) : paint.red(`✗ ${report.project}: maintenance incomplete`));
  return lines.join('\n');
}

