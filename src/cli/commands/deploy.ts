import type { Command } from 'commander';
import { formatDuration } from '../../lib/duration.js';
import { ExitCode } from '../../lib/errors.js';
import type { DeployEvent } from '../../rollout/deploy.js';
import { action } from '../context.js';
import { value } from '../values.js';
import { addRolloutFlags, renderResult, rolloutOptions, runFromCli, type RolloutFlags } from './rollout.js';

export function registerDeploy(program: Command): void {
  addRolloutFlags(
    program
      .command('deploy')
      .description('the deployment checklist as one command: hooks, pull, build, migrate, zero-downtime rollout, verify, scan logs')
      .argument('[service...]', 'services to deploy (default: every active service that can be rolled)')
      .option('--no-migrate', 'skip x-berth deploy.migrate')
      .option('--log-scan <mode>', 'blocking (a gate before traffic), advisory (reported only) or off; default x-berth deploy.log_scan.mode, else blocking', value.oneOf(['blocking', 'advisory', 'off']))
      .option('--swarm', 'deploy the project as a Swarm stack (DOCKER_HOST: a manager), layer by layer (depends_on), and wait until it converged'),
  )
    .addHelpText('after', `
Steps (berth deploy --dry-run prints them with reasons):
  pre_hooks → pull (images that exist only locally are kept, with a note) → build → migrate
  (x-berth deploy.migrate: compose run --rm) → rollout (as berth rollout) → verify healthy →
  post_hooks. The log scan reads the new replicas' first log lines for error|exception|fatal|panic
  (x-berth deploy.log_scan: mode, patterns, ignore, lines). Blocking (the default) it is a gate
  after the health gate, before traffic: a finding removes the new replicas, the old keep serving,
  exit 1 and history "rolled-back". Advisory: the lines are reported after the rollout, exit 0.
Services that cannot roll without downtime (fixed ports, container_name) or hold state are
skipped with a note unless named.

Examples:
  berth deploy
  berth deploy app --dry-run
  berth deploy --monitor 30s --lock-wait 5m`)
    .action(
      action(async (ctx, services: string[], flags: RolloutFlags & { migrate: boolean; logScan?: 'blocking' | 'advisory' | 'off'; swarm?: boolean }) => {
        if (flags.swarm) return (await import('./swarm.js')).stackDeploy(ctx, services, flags, 'deploy');
        const [{ planDeploy, renderDeployPlan, runDeploy, describeDeployStep }, { lockProject }, { announcePlannedStop }] = await Promise.all([
          import('../../rollout/deploy.js'),
          import('../../rollout/run.js'),
          import('../../monitor/silences.js'),
        ]);
        const project = await ctx.project();
        const req = rolloutOptions(flags);
        const plan = planDeploy(project, services, { stateful: flags.stateful, stopFirst: flags.stopFirst, skipMigrate: flags.migrate === false, logScan: flags.logScan });
        if (flags.dryRun) {
          // Per rolled service: the image running now and the one it would run.
          const rolled = plan.steps.flatMap((s) => (s.kind === 'rollout' ? s.services : []));
          const { previewServices, renderDeployPreview } = await import('../../rollout/preview.js');
          const services = rolled.length ? await ctx.engine().then((engine) => previewServices(engine, project, rolled, () => ctx.compose())).catch((error: unknown) => error as Error) : [];
          if (ctx.output.json) ctx.output.data({ ...plan, services: services instanceof Error ? { error: services.message } : services });
          else ctx.output.line(`${renderDeployPlan(plan)}${rolled.length ? `\nservices (running now → after):\n${renderDeployPreview(services)}` : ''}`);
          return ExitCode.ok;
        }
        const { paint } = ctx.output;
        for (const s of plan.skipped) ctx.output.note(paint.yellow(`• skipped ${s.service}: ${s.reason}`));
        const engine = await ctx.engine();
        const store = await ctx.store();
        const lock = await lockProject({ store, project }, `deploy ${services.join(' ') || 'all'}`, req.lockWaitMs);
        // The agent's alerting holds what this deploy's planned stops cause (src/monitor/silences.ts).
        const silence = announcePlannedStop(store, { project: project.name, services, reason: `deploy ${services.join(' ') || 'all'}` });
        const onEvent = (e: DeployEvent) => {
          if (e.type === 'deploy-note') ctx.output.note(paint.yellow(`• ${e.text}`));
          else if (e.phase === 'start') ctx.output.note(paint.bold(`step ${e.index + 1}/${e.total}: ${describeDeployStep(e.step)}`));
          else if (e.phase === 'done') ctx.output.note(`${paint.green('✓')} ${describeDeployStep(e.step)} ${paint.dim(formatDuration(e.ms ?? 0))}`);
          else ctx.output.note(`${paint.red('✗')} ${describeDeployStep(e.step)}: ${e.error}`);
        };
        try {
          const result = await runDeploy(
            { project, engine, compose: () => ctx.compose(), rollout: (r) => runFromCli(ctx, { ...r, lockHeld: true }) },
            plan,
            req,
            onEvent,
          );
          if (ctx.output.json) {
            ctx.output.data(result);
            return result.exitCode;
          }
          if (result.rollout) renderResult(ctx, result.rollout);
          for (const f of result.logFindings.slice(0, 10)) ctx.output.line(paint.yellow(`  log: ${f.container}: ${f.line}`));
          ctx.output.line(result.ok ? paint.green(`✓ deployed ${project.name}`) : paint.red(`✗ deploy of ${project.name} stopped at: ${result.steps[result.steps.length - 1]?.step}`));
          return result.exitCode;
        } finally {
          silence.end();
          lock.release();
        }
      }),
    );
}
