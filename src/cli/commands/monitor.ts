import type { Command } from 'commander';
import { ExitCode } from '../../lib/errors.js';
import { action } from '../context.js';

export function registerMonitor(program: Command): void {
  const monitor = program
    .command('monitor')
    .description('monitoring: the alert rules berth ships, and a Prometheus/Alertmanager/Grafana overlay for the project')
    .addHelpText('after', `
The agent (\`berth agent\`) serves the metrics on /metrics; these commands set up what reads them.

Examples:
  berth monitor rules > berth.rules.yml
  berth monitor init --dry-run
  berth monitor init --alert-webhook https://hooks.example.com/alertmanager`);

  monitor
    .command('rules')
    .description('print the Prometheus alert rules (they work on plain Docker: Docker labels, compose project and service)')
    .addHelpText('after', `
Examples:
  berth monitor rules > monitoring/berth.rules.yml
  berth monitor rules --json                     # the catalogue as data (names, thresholds, for:)`)
    .action(
      action(async (ctx) => {
        const { ALERTS } = await import('../../monitor/alerts.js');
        if (ctx.output.json) {
          ctx.output.data(ALERTS);
          return;
        }
        const { renderRules } = await import('../../monitor/rules.js');
        process.stdout.write(renderRules());
      }),
    );

  monitor
    .command('init')
    .description('write the monitoring overlay (compose.monitoring.yaml and monitoring/): Prometheus with the rules, Alertmanager, the agent behind a read-only socket proxy, node_exporter, Grafana')
    .option('--dry-run', 'print the files, write nothing')
    .option('--force', 'overwrite files that exist')
    .option('--alert-webhook <url>', 'Alertmanager sends alerts (and resolutions) to this webhook')
    .option('--scrape-interval <duration>', 'Prometheus scrape and rule evaluation interval', '15s')
    .option('--group-wait <duration>', 'Alertmanager: how long to gather a new group of alerts before notifying', '30s')
    .option('--local-images', 'use the images built on this machine (local/prometheus, local/alertmanager, local/node-exporter: scripts/engine) instead of the upstream ones')
    .option('--no-grafana', 'leave Grafana out')
    .option('--dir <path>', 'folder for the configuration files, relative to the project directory', 'monitoring')
    .addHelpText('after', `
Then: berth -f compose.yaml -f compose.monitoring.yaml up   (DOCKER_GID=$(stat -c %g /var/run/docker.sock))
Exit codes: 0 written (or printed), 2 bad input or files exist (without --force).

Examples:
  berth monitor init --dry-run
  berth monitor init --alert-webhook https://hooks.example.com/alertmanager
  berth monitor init --local-images --no-grafana --force   # Debian's packages built here, no Grafana`)
    .action(
      action(async (ctx, opts: { dryRun?: boolean; force?: boolean; alertWebhook?: string; scrapeInterval: string; groupWait: string; localImages?: boolean; grafana: boolean; dir: string }) => {
        const { planOverlay, writeOverlay } = await import('../../monitor/overlay.js');
        const { BerthError } = await import('../../lib/errors.js');
        for (const [flag, value] of [['--scrape-interval', opts.scrapeInterval], ['--group-wait', opts.groupWait]] as const) {
          if (!/^(\d+(ms|s|m|h))+$/.test(value)) throw new BerthError(`invalid ${flag} "${value}": expected a Prometheus duration such as 15s or 1m`, { exitCode: ExitCode.usage });
        }
        if (opts.alertWebhook !== undefined && !/^https?:\/\/[^/\s]+/.test(opts.alertWebhook)) throw new BerthError(`invalid --alert-webhook "${opts.alertWebhook}": expected an http:// or https:// URL`, { exitCode: ExitCode.usage });
        const project = await ctx.project();
        const plan = planOverlay(project, { alertWebhook: opts.alertWebhook, scrapeInterval: opts.scrapeInterval, groupWait: opts.groupWait, localImages: opts.localImages, grafana: opts.grafana, dir: opts.dir });
        if (opts.dryRun) {
          if (ctx.output.json) ctx.output.data({ ...plan, files: plan.files.map((f) => (f.path.includes('/secrets/') ? { ...f, content: '(generated)' } : f)) });
          else {
            for (const f of plan.files) {
              ctx.output.line(ctx.output.paint.bold(`# ${f.path}: ${f.reason}`));
              if (f.path.includes('/secrets/')) ctx.output.line('(generated when written)');
              else if (!f.path.endsWith('.json')) ctx.output.line(f.content.trimEnd());
              else ctx.output.line(`(${f.content.length} bytes of JSON)`);
              ctx.output.line();
            }
            ctx.output.line(ctx.output.paint.dim(`dry run: nothing written. Then: ${plan.upCommand}`));
          }
          return ExitCode.ok;
        }
        const written = writeOverlay(plan, project.workingDir, { force: opts.force });
        if (ctx.output.json) ctx.output.data({ project: plan.project, written, upCommand: plan.upCommand });
        else {
          for (const f of plan.files) ctx.output.line(`${ctx.output.paint.green('✓')} ${f.path} ${ctx.output.paint.dim(f.reason)}`);
          ctx.output.line(`Then: ${plan.upCommand}`);
        }
        return ExitCode.ok;
      }),
    );
}
