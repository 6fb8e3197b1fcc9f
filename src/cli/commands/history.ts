import type { Command } from 'commander';
import { formatDuration } from '../../lib/duration.js';
import { ExitCode } from '../../lib/errors.js';
import { unknownServiceError } from '../../compose/select.js';
import { action } from '../context.js';
import { value } from '../values.js';
import { table } from '../output.js';

export function registerHistory(program: Command): void {
  program
    .command('history')
    .description('rollouts, deploys and rollbacks of the project: who, when, images before and after, result')
    .argument('[service]', 'only this service')
    .option('--limit <n>', 'newest N records', value.integer(), '20')
    .addHelpText('after', `
Examples:
  berth history
  berth history app --json
  berth rollback app --to 12     # bring back the image deploy #12 installed`)
    .action(
      action(async (ctx, service: string | undefined, opts: { limit: string }) => {
        const { listDeploys } = await import('../../rollout/history.js');
        const project = await ctx.project();
        const records = listDeploys(await ctx.store(), project.name, { service, limit: Number(opts.limit) });
        // A service that is neither in the project nor in its history is a typo, not "no deploys yet".
        if (service && !records.length && !project.services[service]) throw unknownServiceError(project, service);
        if (ctx.output.json) {
          ctx.output.data(records);
          return ExitCode.ok;
        }
        if (!records.length) {
          const store = await ctx.store();
          ctx.output.line(`no deploys of ${service ?? project.name} recorded yet in ${store.dir}`);
          // berth run as root records in /var/lib/berth; another user's history is elsewhere.
          const { rootStateHint } = await import('../../state/dir.js');
          const hint = rootStateHint(store.dir);
          if (hint) ctx.output.note(ctx.output.paint.dim(`hint: ${hint}`));
          return ExitCode.ok;
        }
        const { paint } = ctx.output;
        const short = (id: string | null) => (id ? id.replace('sha256:', '').slice(0, 12) : '-');
        const rows = [['ID', 'WHEN', 'SERVICE', 'KIND', 'RESULT', 'FROM', 'TO', 'IMAGE IDS', 'TOOK', 'BY']];
        for (const r of records) {
          const result = r.result === 'succeeded' ? paint.green(r.result) : r.result === 'running' ? paint.yellow(r.result) : paint.red(r.result);
          rows.push([String(r.id), r.startedAt.slice(0, 19).replace('T', ' '), r.service, r.kind, result, r.imageBefore?.startsWith('sha256:') ? short(r.imageBefore) : r.imageBefore ?? '-', r.imageAfter ?? '-', `${short(r.imageIdBefore)} → ${short(r.imageIdAfter)}`, r.durationMs === null ? '-' : formatDuration(r.durationMs), `${r.user}@${r.host}`]);
        }
        ctx.output.line(table(rows));
        return ExitCode.ok;
      }),
    );
}
