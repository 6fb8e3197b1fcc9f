import type { Command } from 'commander';
import { ExitCode } from '../../lib/errors.js';
import type { DoctorReport, Finding } from '../../runbook/doctor/types.js';
import { action } from '../context.js';
import type { Painter } from '../output.js';

export function registerDoctor(program: Command): void {
  program
    .command('doctor')
    .description('the diagnostics runbook: what is wrong with each service and the host, and what to do')
    .argument('[service...]', 'services to examine (default: all active, and the host)')
    .option('--dry-run', 'print the checks doctor would run, run none')
    .option('--no-reach', 'skip the reachability probes (a helper container in each service\'s network namespace)')
    .option('--no-host', 'skip the host checks (disks, volumes, logs, engine warnings, clock)')
    .option('--refresh', 'measure volume sizes again (/system/df is slow; the last measure is cached an hour)')
    .addHelpText('after', `
For each service: health now and the last health-check outputs; restarts and exits explained
(OOM killer, SIGKILL after the stop grace period, crash with its exit code); memory and pids against
limits; DNS and TCP of each depends_on name from inside the container's network namespace (a busybox
helper, BERTH_HELPER_IMAGE, so images without a shell work too); error lines since the last start.
For the host: disk use of the Docker root, volumes, container logs and backup destinations; engine
warnings; clock synchronisation. Every finding says what to do.

Exit codes: 0 nothing wrong, 1 findings (errors or warnings), 2 bad input, 3 engine failure.

Examples:
  berth doctor
  berth doctor app --json
  berth doctor --dry-run`)
    .action(
      action(async (ctx, services: string[], flags: { dryRun?: boolean; reach: boolean; host: boolean; refresh?: boolean }) => {
        const { doctorPlan, runDoctor } = await import('../../runbook/doctor/run.js');
        const project = await ctx.project();
        const options = { services, reach: flags.reach, host: flags.host === false ? false : services.length === 0, refresh: flags.refresh };
        if (flags.dryRun) {
          const checks = doctorPlan(project, options);
          if (ctx.output.json) ctx.output.data({ project: project.name, checks });
          else checks.forEach((c, i) => ctx.output.line(`${i + 1}. ${c.subject}: ${c.what}\n   ${ctx.output.paint.dim(c.reason)}`));
          return ExitCode.ok;
        }
        const store = await ctx.store().catch(() => undefined);
        const report = await runDoctor({ engine: await ctx.engine(), project, store }, options);
        if (ctx.output.json) ctx.output.data(report);
        else ctx.output.line(renderDoctor(report, ctx.output.paint));
        return report.ok ? ExitCode.ok : ExitCode.degraded;
      }),
    );
}

function mark(f: Finding, paint: Painter): string {
  return f.severity === 'error' ? paint.red('✗') : f.severity === 'warning' ? paint.yellow('!') : paint.dim('·');
}

export function renderDoctor(report: DoctorReport, paint: Painter): string {
  const lines: string[] = [];
  for (const s of report.facts.services) {
    const healthy = s.containers.filter((c) => c.running && (!c.health || c.health.status === 'healthy')).length;
    lines.push(`${paint.bold(s.name)} ${s.running}/${s.desired} running, ${healthy} healthy${s.dependsOn.length ? paint.dim(` (depends on ${s.dependsOn.join(', ')})`) : ''}`);
  }
  const host = report.facts.host;
  if (host) {
    const gib = (b: number) => `${(b / 1073741824).toFixed(1)} GiB`;
    const parts = host.disks.map((d) => `${d.what} ${d.usedPercent}% used (${gib(d.freeBytes)} free)`);
    if (host.volumes) parts.push(`volumes ${gib(host.volumes.totalBytes)} (measured ${host.volumes.measuredAt}${host.volumes.cached ? ', cached' : ''})`);
    if (host.containerLogs) parts.push(`container logs ${gib(host.containerLogs.totalBytes)}`);
    parts.push(host.clock.synchronized === undefined ? 'clock sync unknown' : host.clock.synchronized ? 'clock synchronised' : 'clock NOT synchronised');
    lines.push(`${paint.bold('host')} ${parts.join('; ')}`);
  }
  if (lines.length) lines.push('');
  for (const f of report.findings) {
    lines.push(`${mark(f, paint)} ${paint.bold(f.subject)}: ${f.message}`);
    for (const d of f.details ?? []) lines.push(paint.dim(`    ${d}`));
    lines.push(`    → ${f.advice}`);
  }
  lines.push(report.ok ? paint.green(`✓ ${report.project}: nothing wrong found`) : paint.red(`✗ ${report.project}: ${report.findings.filter((f) => f.severity !== 'info').length} finding(s)`));
  return lines.join('\n');
}
