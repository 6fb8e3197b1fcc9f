import type { Command } from 'commander';
import { BerthError, ExitCode } from '../../lib/errors.js';
import { parseDuration } from '../../lib/duration.js';
import { action } from '../context.js';
import { value } from '../values.js';

export function registerUp(program: Command): void {
  program
    .command('up')
    .description('start the project (compose up -d, building images) and wait until it is healthy')
    .argument('[service...]', 'services to start (default: all active)')
    .option('--no-build', 'do not build images')
    .option('--timeout <duration>', 'how long to wait for health (default: from the healthchecks)', value.duration())
    .option('--dry-run', 'print what would run')
    .option('--swarm', 'deploy the project as a Swarm stack (DOCKER_HOST: a manager) and wait until it converged')
    .option('--lock-wait <duration>', 'with --swarm: wait this long for another deploy of the project', value.duration({ zero: true }))
    .addHelpText('after', `
Compose v1 is handed a rendering of the model without the fields it rejects (name, start_interval).

Examples:
  berth up
  berth --profile backup up db
  berth up --dry-run`)
    .action(
      action(async (ctx, services: string[], opts: { build: boolean; timeout?: string; dryRun?: boolean; swarm?: boolean; lockWait?: string }) => {
        if (opts.swarm) return (await import('./swarm.js')).stackDeploy(ctx, services, opts, 'deploy');
        const { selectServices } = await import('../../compose/select.js');
        const project = await ctx.project();
        const selected = selectServices(project, services);
        const compose = await ctx.compose();
        const args = ['up', '-d', ...(opts.build ? ['--build'] : []), ...services];
        if (compose.dropped.length) {
          // Said once per project and set of fields (remembered in the state store), not on every up.
          const key = `note:compose-dropped:${project.name}:${compose.cli.version}:${compose.dropped.join(',')}`;
          const store = await ctx.store().catch(() => undefined);
          if (!store?.fact(key)) {
            ctx.output.note(ctx.output.paint.dim(`Compose ${compose.cli.version} does not know ${compose.dropped.join(', ')}: left out for it (said once for this project)`));
            store?.remember(key, new Date().toISOString());
          }
        }
        if (opts.dryRun) {
          // Per service: what runs now, what would run, and whether Compose recreates it in place (an outage).
          const { previewServices, renderUpPreview } = await import('../../rollout/preview.js');
          const services = await ctx.engine().then((engine) => previewServices(engine, project, selected, () => ctx.compose())).catch((error: unknown) => error as Error);
          const plan = { compose: [...compose.cli.command, ...(await import('../../compose/cli.js')).composeGlobalArgs(compose.selection), ...args], waitFor: selected, services: services instanceof Error ? { error: services.message } : services };
          if (ctx.output.json) ctx.output.data(plan);
          else ctx.output.line(`would run: ${plan.compose.join(' ')}\nthen wait until healthy: ${selected.join(', ')}\nservices (running now → after):\n${renderUpPreview(services)}`);
          return ExitCode.ok;
        }
        // The engine first: without it Compose v1 dumps a Python traceback; berth says it in one line (exit 3).
        const engine = await ctx.engine();
        ctx.output.note(`starting ${project.name} with ${compose.cli.command.join(' ')} ${compose.cli.version}`);
        await compose.run(args, { onOutput: ctx.output.json ? undefined : (chunk) => process.stderr.write(ctx.output.paint.dim(chunk)) });
        const { waitForHealthy, healthBudgetMs } = await import('../../status/wait.js');
        const timeoutMs = opts.timeout ? parseDuration(opts.timeout, '--timeout') : healthBudgetMs(project, selected);
        const result = await waitForHealthy(engine, project, selected, { timeoutMs, onHeartbeat: (text) => ctx.output.note(ctx.output.paint.dim(text)) });
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
