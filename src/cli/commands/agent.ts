import type { Command } from 'commander';
import { parseDuration } from '../../lib/duration.js';
import { ExitCode } from '../../lib/errors.js';
import { action } from '../context.js';

export function registerAgent(program: Command): void {
  program
    .command('agent')
    .description('long-running: run backup schedules (x-berth.backup.schedule, cron) and serve dead-man health on /health')
    .option('--listen <host:port>', 'HTTP address for GET /health (200 fresh, 503 stale)', '127.0.0.1:9465')
    .option('--no-listen', 'no HTTP endpoint')
    .option('--swarm', 'the project runs as a Swarm stack: each scheduled backup runs on the node that runs its target (through its docker context)')
    .option('--once', 'print the health (age of the newest verified backup per target) and exit: 0 fresh, 1 stale')
    .option('--max-age <duration>', 'how old the newest verified backup may be (default: two schedule intervals + 10m, or 26h)')
    .addHelpText('after', `
Examples:
  berth agent                                  run schedules; health on http://127.0.0.1:9465/health
  berth agent --once --json                    for a monitoring check
  berth agent --listen 0.0.0.0:9465 --max-age 26h`)
    .action(
      action(async (ctx, opts: { listen: string | false; once?: boolean; maxAge?: string; swarm?: boolean }) => {
        const { agentHealth, startAgent } = await import('../../agent/scheduler.js');
        const project = await ctx.project();
        const store = await ctx.store();
        const maxAgeMs = opts.maxAge ? parseDuration(opts.maxAge, '--max-age') : undefined;
        if (opts.once) {
          const health = agentHealth(store, project, new Date(), maxAgeMs);
          if (ctx.output.json) ctx.output.data(health);
          else for (const t of health.targets) ctx.output.line(`${t.ok ? ctx.output.paint.green('✓') : ctx.output.paint.red('✗')} ${t.target}: ${t.reason}${t.nextRun ? ctx.output.paint.dim(` (next run ${t.nextRun})`) : ''}`);
          return health.ok ? ExitCode.ok : ExitCode.degraded;
        }
        const engine = await ctx.engine();
        const log = (line: Record<string, unknown>) => process.stdout.write(`${JSON.stringify({ at: new Date().toISOString(), ...line })}\n`);
        const agent = await startAgent({ engine, store, project, listen: opts.listen || undefined, maxAgeMs, log, swarm: opts.swarm });
        if (agent.jobs.length === 0) log({ event: 'warning', message: 'no target has x-berth.backup.schedule: only health is served' });
        await new Promise<void>((resolve) => {
          const stop = (signal: string) => {
            log({ event: 'stopping', signal });
            void agent.stop().then(resolve);
          };
          process.once('SIGTERM', () => stop('SIGTERM'));
          process.once('SIGINT', () => stop('SIGINT'));
        });
        return ExitCode.ok;
      }),
    );
}
