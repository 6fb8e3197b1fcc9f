import type { Command } from 'commander';
import { parseDuration } from '../../lib/duration.js';
import { BerthError, ExitCode } from '../../lib/errors.js';
import type { BackupEvent } from '../../backup/types.js';
import { onClosedPipe } from '../../lib/closed-pipe.js';
import { action, type CommandContext } from '../context.js';
import { value } from '../values.js';
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
  berth backup run                 # back up every target, then apply retention
  berth backup run db --dry-run    # show the plan for one target
  berth backup list --json
  berth backup list --all-hosts     # a new server: what the old one left at the destinations
  berth backup sync                 # rebuild the catalog from the destinations
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
    .option('--lock-wait <duration>', 'wait this long for another backup operation to finish', value.duration({ zero: true }), '0s')
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
        const handlers = { SIGINT: () => onSignal('SIGINT'), SIGTERM: () => onSignal('SIGTERM'), SIGHUP: () => onSignal('SIGHUP') };
        process.once('SIGINT', handlers.SIGINT).once('SIGTERM', handlers.SIGTERM).once('SIGHUP', handlers.SIGHUP);
        // `berth backup run | head -1`: the reader left; stop as cleanly as on Ctrl-C (not mid-way).
        const offPipe = onClosedPipe(() => abort.abort());
        const report = await runBackups({ engine, store, project, targets, dryRun: opts.dryRun, prune: opts.prune, swarm: opts.swarm, lockWaitMs: parseDuration(opts.lockWait, '--lock-wait'), onEvent: progressPrinter(ctx), signal: abort.signal }).finally(() => {
          process.off('SIGINT', handlers.SIGINT).off('SIGTERM', handlers.SIGTERM).off('SIGHUP', handlers.SIGHUP);
          offPipe();
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
          if (report.removedHelpers.length) ctx.output.line(ctx.output.paint.yellow(`removed helper container(s) ${report.removedHelpers.join(', ')}, left by a killed run`));
          if (report.interrupted.length) ctx.output.line(ctx.output.paint.yellow(`marked failed (interrupted): ${report.interrupted.join(', ')}`));
          for (const r of report.results) {
            ctx.output.line(r.status === 'verified' ? ctx.output.paint.green(`✓ ${r.target} ${r.id} ${formatBytes(r.totalBytes ?? 0)} at ${r.location}`) : ctx.output.paint.red(`✗ ${r.target}: ${r.error}`));
            for (const note of r.notes ?? []) ctx.output.line(`  note: ${note}`);
          }
          const pruned = report.retention?.decisions.filter((d) => d.action === 'prune') ?? [];
          if (pruned.length) ctx.output.line(`pruned ${pruned.map((d) => d.id).join(', ')}`);
          for (const s of report.retention?.skipped ?? []) ctx.output.line(ctx.output.paint.dim(`retention: ${s.target}: ${s.reason}`));
        }
        return report.ok ? ExitCode.ok : ExitCode.degraded;
      }),
    );

  backup
    .command('list')
    .description("this project's backups, newest first: read from the destinations (the truth), cached in the catalog")
    .argument('[target...]', 'only these targets')
    .option('--all', 'include pruned and failed-and-removed backups')
    .option('--all-hosts', 'include backups made by other hosts (an old server, a shared destination)')
    .option('--host <name>', 'only backups made by this host name')
    .option('--offline', 'the catalog only: do not read the destinations')
    .addHelpText('after', `
Safety backups (taken by restores) are listed apart; they never count toward retention.

Examples:
  berth backup list
  berth backup list --all-hosts        # on a new server: what the old one left at the destinations
  berth backup list db --json`)
    .action(
      action(async (ctx, targets: string[], opts: { all?: boolean; allHosts?: boolean; host?: string; offline?: boolean }) => {
        const [{ Catalog }, { formatBytes }, { syncCatalog }, { resolveTargets }, { hostName }] = await Promise.all([import('../../backup/catalog.js'), import('../../backup/format.js'), import('../../backup/sync.js'), import('../../backup/targets.js'), import('../../state/store.js')]);
        const project = await ctx.project();
        const store = await ctx.store();
        const sync = opts.offline ? undefined : await syncCatalog(store, project);
        const host = opts.host ?? hostName();
        const catalog = new Catalog(store).list({ project: project.name, includePruned: true });
        // A name that is neither a target of the project nor in its catalog is a typo, not "no backups".
        const unknown = targets.filter((t) => !catalog.some((e) => e.target === t));
        if (unknown.length) resolveTargets(project, unknown);
        const all = catalog.filter((e) => (opts.all || e.status !== 'pruned') && (targets.length === 0 || targets.includes(e.target)));
        const entries = all.filter((e) => opts.allHosts || e.host === null || e.host === host);
        const others = new Map<string, number>();
        for (const e of all) if (!entries.includes(e)) others.set(e.host ?? '?', (others.get(e.host ?? '?') ?? 0) + 1);
        if (ctx.output.json) {
          ctx.output.data(entries.map(({ manifest, ...e }) => ({ ...e, files: manifest?.files ?? [], notes: manifest?.notes ?? [] })));
          for (const u of sync?.unreachable ?? []) ctx.output.note(`destination ${u.destination}: ${u.error}`);
          return ExitCode.ok;
        }
        const p = ctx.output.paint;
        const color = (s: string) => (s === 'verified' ? p.green(s) : s === 'failed' ? p.red(s) : p.dim(s));
        const verify = (e: (typeof entries)[number]) => (e.lastVerify ? `${e.lastVerify.ok ? '✓' : '✗'} ${e.lastVerify.at.replace('T', ' ').slice(0, 16)}` : '-');
        const rows = (list: typeof entries) => table([['ID', 'TARGET', 'KIND', 'STATUS', 'STARTED (UTC)', 'SIZE', 'VERIFIED', 'HOST', 'DESTINATION'], ...list.map((e) => [e.id, e.target, e.kind, color(e.status), e.startedAt.replace('T', ' ').slice(0, 19), e.sizeBytes === null ? '-' : formatBytes(e.sizeBytes), verify(e), e.host ?? '-', e.destination])]);
        const normal = entries.filter((e) => e.purpose !== 'safety');
        const safety = entries.filter((e) => e.purpose === 'safety');
        ctx.output.line(normal.length ? rows(normal) : p.dim(`no backups of ${project.name}${opts.allHosts ? '' : ` made by ${host}`}`));
        if (safety.length) ctx.output.line(`\nsafety backups (taken by restores; kept ${project.berth.backup.retention.safetyDays ?? 7} days, outside retention):\n${rows(safety)}`);
        // Errors under the table, each with its backup: the DESTINATION column holds destinations only.
        const failed = entries.filter((e) => e.error);
        if (failed.length) ctx.output.line(`\n${failed.map((e) => `${p.red('✗')} ${e.id}: ${e.error}`).join('\n')}`);
        if (others.size) ctx.output.line(p.yellow(`\n${[...others].map(([h, n]) => `${n} backup(s) made by ${h}`).join(', ')} not shown: berth backup list --all-hosts`));
        for (const u of sync?.unreachable ?? []) ctx.output.note(p.yellow(`destination ${u.destination} not read: ${u.error}`));
        for (const i of sync?.incomplete ?? []) ctx.output.note(p.dim(`destination ${i.destination}: ${i.relDir}: ${i.problem}`));
        if (sync?.added.length) ctx.output.note(p.dim(`${sync.added.length} backup(s) found at the destinations were added to the catalog`));
        return ExitCode.ok;
      }),
    );

  backup
    .command('sync')
    .description('rebuild the catalog from the destinations: record what they hold, mark what they lost')
    .option('--all-projects', 'also record backups of other projects at the same destinations')
    .addHelpText('after', `
berth backup list, restore and verify do this by themselves when needed; sync does only this.

Examples:
  berth backup sync
  berth backup sync --json`)
    .action(
      action(async (ctx, opts: { allProjects?: boolean }) => {
        const { syncCatalog } = await import('../../backup/sync.js');
        const report = await syncCatalog(await ctx.store(), await ctx.project(), { allProjects: opts.allProjects });
        if (ctx.output.json) ctx.output.data(report);
        else {
          const p = ctx.output.paint;
          for (const [name, n] of Object.entries(report.found)) ctx.output.line(`${p.green('✓')} ${name}: ${n} backup(s)`);
          for (const u of report.unreachable) ctx.output.line(`${p.red('✗')} ${u.destination}: ${u.error}`);
          ctx.output.line(`${report.added.length} added to the catalog${report.missing.length ? `; ${report.missing.length} no longer at their destination (marked failed): ${report.missing.join(', ')}` : ''}`);
          for (const i of report.incomplete) ctx.output.line(p.dim(`${i.destination}: ${i.relDir}: ${i.problem}`));
        }
        return report.unreachable.length ? ExitCode.degraded : ExitCode.ok;
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
    .option('--lock-wait <duration>', 'wait this long for another backup operation to finish', value.duration({ zero: true }), '0s')
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
        // A restore stopped half-way leaves the target half-restored and its services stopped: a
        // signal or a reader that went away lets it finish (and start them again); a second
        // Ctrl-C exits at once (the next backup command starts what was left stopped).
        let signalled = false;
        const onSignal = (signal: string) => {
          if (signalled && signal === 'SIGINT') process.exit(ExitCode.interrupted);
          signalled = true;
          ctx.output.note(ctx.output.paint.yellow(`${signal}: the restore finishes first, then the stopped services start again (Ctrl-C again to exit at once)`));
        };
        const handlers = { SIGINT: () => onSignal('SIGINT'), SIGTERM: () => onSignal('SIGTERM'), SIGHUP: () => onSignal('SIGHUP') };
        process.on('SIGINT', handlers.SIGINT).on('SIGTERM', handlers.SIGTERM).on('SIGHUP', handlers.SIGHUP);
        const offPipe = onClosedPipe(() => undefined);
        const report = await restoreBackup({ ...base, yes, onStep: (s) => ctx.output.note(ctx.output.paint.dim(`${s.action}: ${s.detail}`)) }).finally(() => {
          process.off('SIGINT', handlers.SIGINT).off('SIGTERM', handlers.SIGTERM).off('SIGHUP', handlers.SIGHUP);
          offPipe();
        });
        if (ctx.output.json) ctx.output.data({ ...report, safetyBackup: report.safetyBackup && { id: report.safetyBackup.id, status: report.safetyBackup.status, location: report.safetyBackup.location } });
        else if (report.ok) ctx.output.line(ctx.output.paint.green(`✓ restored ${report.id} into ${report.target}${report.safetyBackup ? ` (safety backup ${report.safetyBackup.id})` : ''}`));
        else ctx.output.line(ctx.output.paint.red(`✗ restore of ${report.id} failed: ${report.error}${report.safetyBackup?.id ? ` (safety backup ${report.safetyBackup.id})` : ''}`));
        if (!ctx.output.json) for (const note of report.notes) ctx.output.line(`  note: ${note}`);
        if (!ctx.output.json && report.hint) ctx.output.line(ctx.output.paint.dim(`hint: ${report.hint}`));
        return report.ok ? ExitCode.ok : ExitCode.degraded;
      }),
    );

  backup
    .command('prune')
    .description('apply the retention policy (x-berth.backup.retention: keep_last, daily, weekly, monthly) to verified backups')
    .argument('[target...]', 'only these targets')
    .option('--dry-run', 'show what would be removed and why the rest is kept')
    .option('--lock-wait <duration>', 'wait this long for another backup operation to finish', value.duration({ zero: true }), '0s')
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
