import type { Command } from 'commander';
import { parseDuration } from '../../lib/duration.js';
import { BerthError, ExitCode } from '../../lib/errors.js';
import { action } from '../context.js';
import { value } from '../values.js';

export function registerAgent(program: Command): void {
  program
    .command('agent')
    .description('long-running: run backup schedules (x-berth.backup.schedule, cron), serve dead-man health on /health, watch the engine and serve Prometheus /metrics')
    .option('--listen <host:port>', 'HTTP address for GET /health (200 fresh, 503 stale) and GET /metrics', value.hostPort(), '127.0.0.1:9465')
    .option('--no-listen', 'no HTTP endpoint')
    .option('--swarm', 'the project runs as a Swarm stack: each scheduled backup runs on the node that runs its target (through its docker context)')
    .option('--once', 'print the health (age of the newest verified backup per target) and exit: 0 fresh, 1 stale')
    .option('--max-age <duration>', 'how old the newest verified backup may be (default: two schedule intervals + 10m, or 26h)', value.duration())
    .option('--no-monitor', 'do not watch the engine (no /metrics)')
    .option('--no-schedules', 'monitoring only: run no backups and no maintenance (an agent behind a read-only socket proxy)')
    .option('--stats-interval <duration>', 'how often to read container resource stats (one-shot); 0 turns them off', value.duration({ zero: true }), '15s')
    .option('--no-container-resources', 'leave out the cAdvisor-named container_* resource series (where cAdvisor runs)')
    .option('--no-host-metrics', 'leave out the node_* host series (where node_exporter runs)')
    .option('--docker-root <path>', 'the engine\'s data root, for the disk series', '/var/lib/docker')
    .addHelpText('after', `
Examples:
  berth agent                                  # run schedules; health on http://127.0.0.1:9465/health
  berth agent --once --json                    # for a monitoring check
  berth agent --listen 0.0.0.0:9465 --max-age 26h
  berth agent --no-schedules --listen 0.0.0.0:9465   # watch only (behind a read-only socket proxy)`)
    .action(
      action(async (ctx, opts: { listen: string | false; once?: boolean; maxAge?: string; monitor: boolean; schedules: boolean; statsInterval: string; containerResources: boolean; hostMetrics: boolean; dockerRoot: string; swarm?: boolean }) => {
        const { agentHealth, startAgent } = await import('../../agent/scheduler.js');
        const project = await ctx.project();
        const store = await ctx.store();
        const maxAgeMs = opts.maxAge ? parseDuration(opts.maxAge, '--max-age') : undefined;
        if (opts.once) {
          const health = agentHealth(store, project, new Date(), maxAgeMs);
          // Nothing to watch is not "stale" (exit 1, silently) nor fine: say so, as backup run does.
          if (health.targets.length === 0) {
            throw new BerthError(`project ${project.name} has no backup targets: the agent has nothing to watch`, { exitCode: ExitCode.usage, hint: 'add x-berth: { backup: { type: postgres|mysql|volume, schedule: "0 3 * * *" } } to a service' });
          }
          if (ctx.output.json) ctx.output.data(health);
          else for (const t of health.targets) ctx.output.line(`${t.ok ? ctx.output.paint.green('✓') : ctx.output.paint.red('✗')} ${t.target}: ${t.reason}${t.nextRun ? ctx.output.paint.dim(` (next run ${t.nextRun})`) : ''}`);
          return health.ok ? ExitCode.ok : ExitCode.degraded;
        }
        const engine = await ctx.engine();
        const log = (line: Record<string, unknown>) => process.stdout.write(`${JSON.stringify({ at: new Date().toISOString(), ...line })}\n`);
        const monitor = opts.monitor
          ? { statsIntervalMs: parseDuration(opts.statsInterval, '--stats-interval'), containerResources: opts.containerResources, hostMetrics: opts.hostMetrics, dockerRoot: opts.dockerRoot }
          : undefined;
        const agent = await startAgent({ engine, store, project, listen: opts.listen || undefined, maxAgeMs, log, schedules: opts.schedules, monitor, swarm: opts.swarm });
        if (agent.jobs.length === 0 && !agent.maintain && opts.schedules) log({ event: 'warning', message: 'no target has x-berth.backup.schedule and there is no x-berth.maintain.schedule: nothing is scheduled' });
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
