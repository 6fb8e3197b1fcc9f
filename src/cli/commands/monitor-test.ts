import type { Command } from 'commander';
import { ExitCode } from '../../lib/errors.js';
import { action } from '../context.js';

/**
 * `berth monitor test`: one test notification through every channel of x-berth monitor.notify,
 * with the same delivery (retries and backoff) as the agent's alerts, and each result reported.
 * Registered on the `monitor` command family (created here when it does not exist yet).
 */
export function registerMonitorTest(program: Command): void {
  const monitor = program.commands.find((c) => c.name() === 'monitor') ?? program.command('monitor').description('monitoring: alert rules, notification channels, the monitoring overlay');
  monitor
    .command('test')
    .description('send a test notification through every channel in x-berth monitor.notify and report each result')
    .option('--channel <name>', 'only this channel (repeatable)', (value: string, all: string[] = []) => [...all, value])
    .option('--no-retry', 'one attempt per channel (default: retried with backoff, as alerts are)')
    .addHelpText('after', `
Examples:
  berth monitor test
  berth monitor test --channel ops-email --json
Exit codes: 0 every channel accepted it, 1 a channel failed, 2 no channel configured or bad input.`)
    .action(
      action(async (ctx, opts: { channel?: string[]; retry: boolean }) => {
        const [{ createChannel, deliver, testNotification }, { hostname }, { BerthError }] = await Promise.all([import('../../monitor/notify.js'), import('node:os'), import('../../lib/errors.js')]);
        const project = await ctx.project();
        const configured = project.berth.monitor?.notify ?? [];
        if (configured.length === 0) throw new BerthError('no notification channel configured', { exitCode: ExitCode.usage, hint: 'add x-berth: monitor: notify: [{ type: webhook, url: ... }] to the compose file' });
        const unknown = (opts.channel ?? []).filter((name) => !configured.some((c) => c.name === name));
        if (unknown.length) throw new BerthError(`no channel named ${unknown.join(', ')}`, { exitCode: ExitCode.usage, hint: `channels: ${configured.map((c) => c.name).join(', ')}` });
        const channels = configured.filter((c) => !opts.channel || opts.channel.includes(c.name)).map(createChannel);
        const notification = testNotification(project.name, hostname(), Date.now());
        const results = await Promise.all(
          channels.map(async (channel) => {
            const started = performance.now();
            const failures: string[] = [];
            const result = await deliver(channel, notification, { retryDelaysMs: opts.retry ? [1000, 3000] : [], log: (l) => (l.event === 'notify-failed' ? failures.push(String(l.error)) : undefined) });
            return { channel: channel.name, type: channel.type, target: channel.target, ok: !result.error, attempts: result.attempts, error: result.error ?? null, ms: Math.round(performance.now() - started) };
          }),
        );
        if (ctx.output.json) ctx.output.data({ project: project.name, results });
        else {
          const { paint } = ctx.output;
          for (const r of results) {
            ctx.output.line(r.ok
              ? `${paint.green('✓')} ${r.channel} (${r.type}) ${paint.dim(r.target)}: delivered in ${r.ms} ms${r.attempts > 1 ? ` after ${r.attempts} attempts` : ''}`
              : `${paint.red('✗')} ${r.channel} (${r.type}) ${paint.dim(r.target)}: ${r.error} (${r.attempts} attempt${r.attempts > 1 ? 's' : ''})`);
          }
        }
        return results.every((r) => r.ok) ? ExitCode.ok : ExitCode.degraded;
      }),
    );
}
