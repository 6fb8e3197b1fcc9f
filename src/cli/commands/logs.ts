import type { Command } from 'commander';
import { parseDuration } from '../../lib/duration.js';
import { BerthError, ExitCode } from '../../lib/errors.js';
import { value } from '../values.js';
import { action } from '../context.js';

interface LogsFlags {
  follow?: boolean;
  since?: string;
  until?: string;
  tail?: string;
  level?: string;
  grep?: string;
  timestamps?: boolean;
  removed: boolean;
  dryRun?: boolean;
}

/** `10m`, `1h30m` (ago) or an RFC 3339 time; normalised (9 fraction digits, UTC). */
export function parseTimeFlag(value: string, flag: string, now = Date.now()): string {
  const absolute = Date.parse(value);
  const ms = /^\d{4}-\d{2}-\d{2}/.test(value) && Number.isFinite(absolute) ? absolute : now - parseDuration(value, flag);
  return `${new Date(ms).toISOString().slice(0, 23)}000000Z`;
}

export function registerLogs(program: Command): void {
  program
    .command('logs')
    .description('one time-ordered stream across all replicas; structured lines (pino, bunyan, logfmt) rendered readably')
    .argument('[service...]', 'services (default: all active)')
    .option('-F, --follow', 'keep following: replicas that start (a rollout\'s new ones) join, stopped ones leave (-f is the global --file)')
    .option('--since <when>', 'lines since a duration ago (10m) or a time (2026-12-03T10:00:00Z)')
    .option('--until <when>', 'lines until a duration ago or a time')
    .option('--tail <n>', 'the last n lines of each replica', value.integer({ min: 0 }))
    .option('--level <level>', 'lines at this level or above: trace, debug, info, warn, error, fatal (lines without a level are left out)', value.oneOf(['trace', 'debug', 'info', 'warn', 'error', 'fatal']))
    .option('--grep <regex>', 'lines matching a regular expression (on the raw line)')
    .option('-t, --timestamps', 'print the engine\'s timestamp of each line')
    .option('--no-removed', 'leave out the kept last lines of replicas a rollout removed')
    .option('--dry-run', 'print which replicas would be read, and why')
    .addHelpText('after', `
Lines of all replicas are ordered by the engine's timestamp of each line (with --follow, within a
300 ms window). Compose v1 (proj_app_1) and v2 (proj-app-1) names. berth keeps the last 500 lines
of each replica a rollout removes (20 per service, in the state store): they appear marked as removed.
--json writes one JSON object per line: time, container, service, stream, level, message, fields, text.

Exit codes: 0 done, 2 bad input, 3 engine failure, 130 interrupted while not following.

Examples:
  berth logs app --since 10m --level warn
  berth logs --follow app
  berth logs app --grep 'timeout|refused' --tail 200 --json`)
    .action(
      action(async (ctx, services: string[], flags: LogsFlags) => {
        const { runLogs, logsPlan, shortName } = await import('../../runbook/logs/run.js');
        const { renderParsed, levelFromName } = await import('../../runbook/logs/parse.js');
        const tail = flags.tail === undefined ? undefined : Number(flags.tail);
        const level = flags.level === undefined ? undefined : levelFromName(flags.level);
        let grep: RegExp | undefined;
        try {
          grep = flags.grep === undefined ? undefined : new RegExp(flags.grep);
        } catch (error) {
          throw new BerthError(`invalid --grep: ${(error as Error).message}`, { exitCode: ExitCode.usage });
        }
        const options = {
          services, tail, level, grep,
          since: flags.since ? parseTimeFlag(flags.since, '--since') : undefined,
          until: flags.until ? parseTimeFlag(flags.until, '--until') : undefined,
          follow: Boolean(flags.follow),
          removed: flags.removed !== false,
        };
        const project = await ctx.project();
        const deps = { engine: await ctx.engine(), project, store: await ctx.store().catch(() => undefined) };
        if (flags.dryRun) {
          const { plan } = await logsPlan(deps, options);
          if (ctx.output.json) ctx.output.data(plan);
          else {
            for (const s of plan.sources) ctx.output.line(`${s.kind === 'removed' ? '(removed) ' : ''}${s.name}  ${ctx.output.paint.dim(s.reason)}`);
            if (plan.filters.length) ctx.output.line(ctx.output.paint.dim(`filters: ${plan.filters.join('; ')}`));
          }
          return ExitCode.ok;
        }
        const { paint } = ctx.output;
        const palette = [(s: string) => s, paint.green, paint.yellow, paint.bold, paint.dim];
        const colours = new Map<string, (s: string) => string>();
        const names = new Map<string, string>();
        const label = (container: string, removed?: boolean) => {
          if (!names.has(container)) names.set(container, shortName(project.name, container));
          if (!colours.has(container)) colours.set(container, palette[colours.size % palette.length]!);
          return colours.get(container)!(`${names.get(container)}${removed ? ' (removed)' : ''}`);
        };
        const width = () => Math.max(8, ...[...names.values()].map((n) => n.length));
        const controller = new AbortController();
        const stop = () => controller.abort();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        try {
          await runLogs(deps, options, (e) => {
            if (ctx.output.json) {
              process.stdout.write(`${JSON.stringify({ time: e.time, container: e.container, service: e.service, stream: e.stream, removed: e.removed ?? false, format: e.parsed.format, level: e.parsed.level ?? null, message: e.parsed.message, fields: Object.fromEntries(e.parsed.fields), text: e.text })}\n`);
              return;
            }
            const who = label(e.container, e.removed);
            const pad = ' '.repeat(Math.max(0, width() - names.get(e.container)!.length - (e.removed ? 10 : 0)));
            process.stdout.write(`${who}${pad} | ${flags.timestamps ? `${paint.dim(e.time)} ` : ''}${renderParsed(e.parsed, ctx.output.color ? paint : undefined)}\n`);
          }, controller.signal);
        } finally {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
        }
        return ExitCode.ok;
      }),
    );
}
