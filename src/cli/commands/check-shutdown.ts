import type { Command } from 'commander';
import { BerthError, ExitCode } from '../../lib/errors.js';
import { action } from '../context.js';
import { value } from '../values.js';

interface CheckShutdownFlags {
  inPlace?: boolean;
  requests?: string;
  json?: boolean;
  dryRun?: boolean;
}

/** Registers `shutdown <service>` on the `check` command. */
export function registerCheckShutdown(check: Command): void {
  check
    .command('shutdown')
    .description('stop a container of the service exactly as Docker does and report how it shuts down: PID 1, init, signal, time to exit, SIGKILL, failed requests')
    .argument('<service>', 'the compose service to probe')
    .option('--in-place', 'stop the service\'s running container (and start it again) instead of a throwaway copy: the service is down meanwhile')
    .option('--requests <n>', 'requests per second sent through 127.0.0.1 during the probe; 0 for none (default 20 when the service has a port)', value.integer({ min: 0 }))
    .option('--json', 'machine-readable report')
    .option('--dry-run', 'print the probe plan and exit')
    .addHelpText('after', `
The probe runs a throwaway container of the service (same image, command, environment, init, stop
signal and stop_grace_period; labelled berth.probe; without the service's labels, ports or named
volumes), sends requests to its first port like a proxy that follows readiness, stops it with
POST /containers/{id}/stop?t=<grace>, and removes it. Fixes follow the reference: exec-form CMD,
init: true, stop_grace_period.

Exit codes: 0 graceful, 1 not graceful (SIGKILL needed, requests failed, did not start), 2 bad input, 3 engine.

Examples:
  berth check shutdown app
  berth check shutdown app --requests 50 --json
  berth check shutdown worker --requests 0
  berth check shutdown app --in-place        # the real container; brief downtime`)
    .action(
      action(async (ctx, serviceName: string, flags: CheckShutdownFlags) => {
        const requests = flags.requests === undefined ? undefined : Number(flags.requests);
        const { planCheckShutdown, runCheckShutdown, renderShutdownReport, renderPlan } = await import('../../check-shutdown/run.js');
        const project = await ctx.project();
        const opts = { inPlace: flags.inPlace, requests };
        if (flags.dryRun) {
          const plan = planCheckShutdown(project, serviceName, opts);
          if (ctx.output.json) ctx.output.data({ service: serviceName, plan });
          else ctx.output.line(renderPlan(plan));
          return ExitCode.ok;
        }
        const engine = await ctx.engine();
        if (flags.inPlace) ctx.output.note(ctx.output.paint.yellow(`stopping the running container of ${serviceName}: it is down until it starts again`));
        const report = await runCheckShutdown(project, engine, serviceName, {
          ...opts,
          onProgress: ctx.output.json ? undefined : (message) => ctx.output.note(ctx.output.paint.dim(message)),
        });
        if (ctx.output.json) ctx.output.data(report);
        else ctx.output.line(renderShutdownReport(report, ctx.output.paint));
        return report.verdict.ok ? ExitCode.ok : ExitCode.degraded;
      }),
    );
}
