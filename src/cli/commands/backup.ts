import type { Command } from 'commander';
import { parseDuration } from '../../lib/duration.js';
import { BerthError, ExitCode } from '../../lib/errors.js';
import type { BackupEvent } from '../../backup/types.js';
import { action, type CommandContext } from '../context.js';
import { table } from '../output.js';

/** A run with --json keeps stdout for the result: progress goes to stderr either way. */
function progressPrinter(ctx: CommandContext): (event: BackupEvent) => void {
  return (event) => {
    void import('../../backup/format.js').then(({ formatBytes, formatRate }) => {
      const p = ctx.output.paint;
      switch (event.type) {
        case 'step': ctx.output.note(p.dim(`${event.target}: ${event.step} ${event.detail}`)); break;
        case 'progress': ctx.output.note(p.dim(`${event.target}: ${event.file} ${formatBytes(event.bytes)} at ${formatRate(event.bytesPerSecond)}`)); break;
        case 'stopped': ctx.output.note(p.yellow(`${event.target}: stopped ${event.containers.join(', ')} for the snapshot`)); break;
        case 'restarted': ctx.output.note(`${event.target}: started ${event.containers.join(', ')} again`); break;
        case 'done': ctx.output.note(p.green(`${event.target}: ✓ ${event.id} ${formatBytes(event.totalBytes)} in ${(event.elapsedMs / 1000).toFixed(1)}s (${formatRate((event.totalBytes * 1000) / Math.max(1, event.elapsedMs))})`)); break;
        case 'failed': ctx.output.note(p.red(`${event.target}: ✗ ${event.error}`)); break;
      }
    });
  };
}

async function confirmTyped(expected: string, question: string): Promise<boolean> {
  if (!process.stdin.isTTY) return false;
  const { createInterface } = await import('node:readline/promises');
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return (await rl.question(`${question}\nType "${expected}" to confirm: `)).trim() === expected;
  } finally {
    rl.close();
  }
}

export function registerBackup(program: Command): void {
  const backup = program
    .command('backup')
    .description('back up, verify, restore and prune Postgres, MySQL/MariaDB and volume targets (x-berth.backup)')
    .addHelpText('after', `
Targets are services with x-berth: { backup: { type: postgres|mysql|volume } }. Backups go to
DEST/PROJECT/TARGET/ID/ with manifest.json written last; one backup operation at a time per host.

Examples:
  berth backup run                 back up every target, then apply retention
  berth backup run db --dry-run    show the plan for one target
  berth backup list --json
  berth backup verify db-20261127T010000Z-1a2b --restore-test
  berth backup restore db-20261127T010000Z-1a2b
  berth backup prune --dry-run`);

  backup
    .command('run')
    .description('back up targets now: dump or archive, verify, checksum, fsync, rename, manifest last')
    .argument('[target...]', 'targets (service names) to back up (default: all)')
    .option('--dry-run', 'print the plan, change nothing')
    .option('--no-prune', 'do not apply the retention policy afterwards')
    .option('--swarm', 'the project runs as a Swarm stack: back up each target on the node that runs it (through that node\'s docker context)')
    .option('--lock-wait <duration>', 'wait this long for another backup operation to finish', '0s')
    .addHelpText('after', `
Exit codes: 0 every target verified, 1 a target failed (nothing of it is left that looks complete), 4 locked.

Examples:
  berth backup run
  berth backup run db uploads --json
  berth backup run --dry-run`)
    .action(
      action(async (ctx, targets: string[], opts: { dryRun?: boolean; prune: boolean; lockWait: string; swarm?: boolean }) => {
        const { runBackups } = await import('../../backup/run.js');
        const [project, engine, store] = [await ctx.project(), await ctx.engine(), await ctx.store()];
        // Ctrl-C or SIGTERM: stop the stream, start stopped containers again, remove partial files.
        const abort = new AbortController();
        const onSignal = (signal: string) => {
          ctx.output.note(ctx.output.paint.yellow(`${signal}: stopping the backup cleanly (containers are started again, partial files removed)`));
          abort.abort();
        };
        const handlers = { SIGINT: () => onSignal('SIGINT'), SIGTERM: () => onSignal('SIGTERM') };
        process.once('SIGINT', handlers.SIGINT).once('SIGTERM', handlers.SIGTERM);
        const report = await runBackups({ engine, store, project, targets, dryRun: opts.dryRun, prune: opts.prune, swarm: opts.swarm, lockWaitMs: parseDuration(opts.lockWait, '--lock-wait'), onEvent: progressPrinter(ctx), signal: abort.signal }).finally(() => {
          process.off('SIGINT', handlers.SIGINT).off('SIGTERM', handlers.SIGTERM);
        });
        if (abort.signal.aborted) {
          if (ctx.output.json) ctx.output.data({ ...report, interrupted: true, results: report.results.map(({ plan, ...r }) => r) });
          else for (const r of report.results) ctx.output.line(r.status === 'verified' ? `✓ ${r.target} ${r.id}` : `✗ ${r.target}: ${r.error}`);
          return ExitCode.interrupted;
        }
        if (ctx.output.json) {
          ctx.output.data({ ...report, results: report.results.map(({ plan, ...r }) => ({ ...r, steps: plan.steps })) });
        } else if (report.dryRun) {
          for (const r of report.results) {
            ctx.output.line(ctx.output.paint.bold(`${r.target} (${r.kind}) -> ${r.destination}`));
            if (r.error) ctx.output.line(ctx.output.paint.red(`  ✗ ${r.error}`));
            for (const s of r.plan.steps) ctx.output.line(`  ${s.action.padEnd(14)} ${s.detail}\n  ${' '.repeat(14)} ${ctx.output.paint.dim(`why: ${s.reason}`)}`);
          }
        } else {
          const { formatBytes } = await import('../../backup/format.js');
          if (report.recovered.length) ctx.output.line(ctx.output.paint.yellow(`restarted ${report.recovered.map((r) => r.name).join(', ')}, left stopped by an interrupted run`));
          for (const r of report.results) ctx.output.line(r.status === 'verified' ? ctx.output.paint.green(`✓ ${r.target} ${r.id} ${formatBytes(r.totalBytes ?? 0)} at ${r.location}`) : ctx.output.paint.red(`✗ ${r.target}: ${r.error}`));
          const pruned = report.retention?.decisions.filter((d) => d.action === 'prune') ?? [];
          if (pruned.length) ctx.output.line(`pruned ${pruned.map((d) => d.id).join(', ')}`);
          for (const s of report.retention?.skipped ?? []) ctx.output.line(ctx.output.paint.dim(`retention: ${s.target}: ${s.reason}`));
        }
        return report.ok ? ExitCode.ok : ExitCode.degraded;
      }),
    );

  backup
    .command('list')
    .description('the backup catalog of this project, newest first')
    .argument('[target...]', 'only these targets')
    .option('--all', 'include pruned backups')
    .addHelpText('after', `
Examples:
  berth backup list
  berth backup list db --json`)
    .action(
      action(async (ctx, targets: string[], opts: { all?: boolean }) => {
        const [{ Catalog }, { formatBytes }] = await Promise.all([import('../../backup/catalog.js'), import('../../backup/format.js')]);
        const project = await ctx.project();
        const entries = new Catalog(await ctx.store()).list({ project: project.name, includePruned: opts.all }).filter((e) => targets.length === 0 || targets.includes(e.target));
        if (ctx.output.json) {
          ctx.output.data(entries.map(({ manifest, ...e }) => ({ ...e, files: manifest?.files ?? [] })));
          return ExitCode.ok;
        }
        const p = ctx.output.paint;
        const color = (s: string) => (s === 'verified' ? p.green(s) : s === 'failed' ? p.red(s) : p.dim(s));
        ctx.output.line(table([['ID', 'TARGET', 'KIND', 'STATUS', 'STARTED (UTC)', 'SIZE', 'DESTINATION'], ...entries.map((e) => [e.id, e.target, e.kind, color(e.status), e.startedAt.replace('T', ' ').slice(0, 19), e.sizeBytes === null ? '-' : formatBytes(e.sizeBytes), e.error ? p.red(e.error) : e.destination])]));
        return ExitCode.ok;
      }),
    );

  backup
    .command('verify')
    .description('re-read a backup from its destination: sizes and sha256 against the manifest, structure again')
    .argument('<id>', 'backup id (or a unique prefix)')
    .option('--restore-test', 'restore a database dump into a throwaway container of the same image and count rows')
    .addHelpText('after', `
Exit codes: 0 intact, 1 a check failed.

Examples:
  berth backup verify db-20261127T010000Z-1a2b
  berth backup verify db-20261127T010000Z-1a2b --restore-test --json`)
    .action(
      action(async (ctx, id: string, opts: { restoreTest?: boolean }) => {
        const { verifyBackup } = await import('../../backup/restore.js');
        const report = await verifyBackup({ engine: await ctx.engine(), store: await ctx.store(), project: await ctx.project(), id, restoreTest: opts.restoreTest });
        if (ctx.output.json) ctx.output.data(report);
        else {
          const p = ctx.output.paint;
          for (const f of report.files) ctx.output.line(`${f.ok ? p.green('✓') : p.red('✗')} ${f.name}: ${f.detail}`);
          if (report.restoreTest) ctx.output.line(`${p.green('✓')} restore test: ${report.restoreTest}`);
          if (report.error) ctx.output.line(p.red(`✗ ${report.error}`));
          ctx.output.line(report.ok ? p.green(`✓ ${report.id} is intact`) : p.red(`✗ ${report.id} failed verification`));
        }
        return report.ok ? ExitCode.ok : ExitCode.degraded;
      }),
    );

  backup
    .command('restore')
    .description('restore a backup: safety backup first, stop dependent services, restore, start them, check health')
    .argument('<id>', 'backup id (or a unique prefix)')
    .option('--yes', 'do not ask for the typed confirmation')
    .option('--dry-run', 'print the steps, change nothing')
    .option('--no-safety-backup', 'skip the backup of the current state (not recommended)')
    .option('--no-globals', 'Postgres: do not apply roles from the globals dump')
    .option('--swarm', 'the project runs as a Swarm stack: restore on the node that runs the target')
    .option('--lock-wait <duration>', 'wait this long for another backup operation to finish', '0s')
    .addHelpText('after', `
Without --yes, asks you to type the target name (needs a terminal).

Examples:
  berth backup restore db-20261127T010000Z-1a2b --dry-run
  berth backup restore db-20261127T010000Z-1a2b
  berth backup restore db-20261127T010000Z-1a2b --yes --json`)
    .action(
      action(async (ctx, id: string, opts: { yes?: boolean; dryRun?: boolean; safetyBackup: boolean; globals: boolean; lockWait: string; swarm?: boolean }) => {
        const { restoreBackup } = await import('../../backup/restore.js');
        const [project, engine, store] = [await ctx.project(), await ctx.engine(), await ctx.store()];
        const base = { engine, store, project, id, safetyBackup: opts.safetyBackup, globals: opts.globals, swarm: opts.swarm, lockWaitMs: parseDuration(opts.lockWait, '--lock-wait') };
        const plan = await restoreBackup({ ...base, dryRun: true });
        const render = (steps: typeof plan.steps) => steps.map((s) => `  ${s.action.padEnd(14)} ${s.detail}  ${ctx.output.paint.dim(`(${s.reason})`)}`).join('\n');
        if (opts.dryRun) {
          if (ctx.output.json) ctx.output.data(plan);
          else ctx.output.line(`would restore ${plan.id} into ${plan.target}:\n${render(plan.steps)}`);
          return ExitCode.ok;
        }
        let yes = opts.yes ?? false;
        if (!yes) {
          yes = await confirmTyped(plan.target, `Restoring ${plan.id} overwrites ${plan.target}:\n${render(plan.steps)}`);
          if (!yes) throw new BerthError('restore not confirmed: nothing changed', { exitCode: ExitCode.usage, hint: process.stdin.isTTY ? undefined : 'no terminal to confirm on: pass --yes' });
        }
        const report = await restoreBackup({ ...base, yes, onStep: (s) => ctx.output.note(ctx.output.paint.dim(`${s.action}: ${s.detail}`)) });
        if (ctx.output.json) ctx.output.data({ ...report, safetyBackup: report.safetyBackup && { id: report.safetyBackup.id, status: report.safetyBackup.status, location: report.safetyBackup.location } });
        else if (report.ok) ctx.output.line(ctx.output.paint.green(`✓ restored ${report.id} into ${report.target}${report.safetyBackup ? ` (safety backup ${report.safetyBackup.id})` : ''}`));
        else ctx.output.line(ctx.output.paint.red(`✗ restore of ${report.id} failed: ${report.error}${report.safetyBackup?.id ? ` (safety backup ${report.safetyBackup.id})` : ''}`));
        return report.ok ? ExitCode.ok : ExitCode.degraded;
      }),
    );

  backup
    .command('prune')
    .description('apply the retention policy (x-berth.backup.retention: keep_last, daily, weekly, monthly) to verified backups')
    .argument('[target...]', 'only these targets')
    .option('--dry-run', 'show what would be removed and why the rest is kept')
    .option('--lock-wait <duration>', 'wait this long for another backup operation to finish', '0s')
    .addHelpText('after', `
Ages count from the newest verified backup, not the clock; the newest verified backup is never
removed; nothing is removed for a target whose latest run failed.

Examples:
  berth backup prune --dry-run
  berth backup prune db --json`)
    .action(
      action(async (ctx, targets: string[], opts: { dryRun?: boolean; lockWait: string }) => {
        const [{ applyRetention, lockBackups }, { resolveTargets }] = await Promise.all([import('../../backup/run.js'), import('../../backup/targets.js')]);
        const project = await ctx.project();
        const store = await ctx.store();
        if (targets.length) resolveTargets(project, targets);
        const lock = opts.dryRun ? undefined : await lockBackups(store, `backup prune ${project.name}`, parseDuration(opts.lockWait, '--lock-wait'));
        try {
          const plan = await applyRetention(store, project, { dryRun: Boolean(opts.dryRun), targets: targets.length ? targets : undefined });
          if (ctx.output.json) ctx.output.data({ dryRun: Boolean(opts.dryRun), policy: project.berth.backup.retention, ...plan });
          else {
            const p = ctx.output.paint;
            for (const d of plan.decisions) ctx.output.line(`${d.action === 'prune' ? p.red(opts.dryRun ? 'would prune' : 'pruned') : p.green('keep')} ${d.id}  ${p.dim(d.reasons.join('; '))}`);
            for (const s of plan.skipped) ctx.output.line(p.yellow(`${s.target}: ${s.reason}`));
            if (plan.decisions.length === 0) ctx.output.line('no backups');
          }
        } finally {
          lock?.release();
        }
        return ExitCode.ok;
      }),
    );
}
