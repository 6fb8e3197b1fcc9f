import type { Command } from 'commander';
import { BerthError, ExitCode } from '../../lib/errors.js';
import { parseDuration } from '../../lib/duration.js';
import { action } from '../context.js';

export function registerUp(program: Command): void {
  program
    .command('up')
    .description('start the project (compose up -d, building images) and wait until it is healthy')
    .argument('[service...]', 'services to start (default: all active)')
    .option('--no-build', 'do not build images')
    .option('--timeout <duration>', 'how long to wait for health (default: from the healthchecks)')
    .option('--dry-run', 'print what would run')
    .option('--swarm', 'deploy the project as a Swarm stack (DOCKER_HOST: a manager) and wait until it converged')
    .option('--lock-wait <duration>', 'with --swarm: wait this long for another deploy of the project')
    .addHelpText('after', `
Compose v1 is handed a rendering of the model without the fields it rejects (name, start_interval).

Examples:
  berth up
  berth --profile backup up db
  berth up --dry-run`)
    .action(
      action(async (ctx, services: string[], opts: { build: boolean; timeout?: string; dryRun?: boolean; swarm?: boolean; lockWait?: string }) => {
        if (opts.swarm) return (await import('./swarm.js')).stackDeploy(ctx, services, opts, 'deploy');
        const { selectServices } = await import('../../status/report.js');
        const project = await ctx.project();
        const selected = selectServices(project, services);
        const compose = await ctx.compose();
        const args = ['up', '-d', ...(opts.build ? ['--build'] : []), ...services];
        if (compose.dropped.length) ctx.output.note(ctx.output.paint.dim(`Compose ${compose.cli.version} does not know ${compose.dropped.join(', ')}: left out for it`));
        if (opts.dryRun) {
          const plan = { compose: [...compose.cli.command, ...(await import('../../compose/cli.js')).composeGlobalArgs(compose.selection), ...args], waitFor: selected };
          if (ctx.output.json) ctx.output.data(plan);
          else ctx.output.line(`would run: ${plan.compose.join(' ')}\nthen wait until healthy: ${selected.join(', ')}`);
          return ExitCode.ok;
        }
        ctx.output.note(`starting ${project.name} with ${compose.cli.command.join(' ')} ${compose.cli.version}`);
        await compose.run(args, { onOutput: ctx.output.json ? undefined : (chunk) => process.stderr.write(ctx.output.paint.dim(chunk)) });
        const { waitForHealthy, healthBudgetMs } = await import('../../status/wait.js');
        const engine = await ctx.engine();
        const timeoutMs = opts.timeout ? parseDuration(opts.timeout, '--timeout') : healthBudgetMs(project, selected);
        const result = await waitForHealthy(engine, project, selected, { timeoutMs });
        if (ctx.output.json) ctx.output.data({ ok: result.ok, reason: result.reason, status: result.report });
        else if (result.ok) ctx.output.line(ctx.output.paint.green(`✓ ${project.name} is up and healthy`));
        if (!result.ok) {
          if (ctx.output.json) return ExitCode.degraded;
          throw new BerthError(`${project.name} did not become healthy: ${result.reason}`, { exitCode: ExitCode.degraded, hint: 'berth status shows which container' });
        }
        return ExitCode.ok;
      }),
    );
}
