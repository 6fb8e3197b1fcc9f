import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { BerthError, ExitCode } from '../../lib/errors.js';
import { action, composeOptions, type CommandContext } from '../context.js';
import { registerCheckShutdown } from './check-shutdown.js';

const FORMATS = ['stylish', 'json', 'sarif', 'github', 'junit'];
const SEVERITIES = ['error', 'warning', 'info'];
const collect = (value: string, previous: string[] = []) => [...previous, ...value.split(',').filter(Boolean)];

interface LintFlags { format?: string; severity: string; config?: string; rule?: string[]; fix?: boolean; dryRun?: boolean; allProfiles?: boolean; swarm?: boolean }

function formatOf(ctx: CommandContext, flags: { format?: string }): string {
  const format = flags.format ?? (ctx.output.json ? 'json' : 'stylish');
  if (!FORMATS.includes(format)) throw new BerthError(`unknown --format "${format}": use ${FORMATS.join(', ')}`, { exitCode: ExitCode.usage });
  return format;
}

function severityOf(flags: { severity: string }): 'error' | 'warning' | 'info' {
  if (!SEVERITIES.includes(flags.severity)) throw new BerthError(`unknown --severity "${flags.severity}": use error, warning or info`, { exitCode: ExitCode.usage });
  return flags.severity as 'error' | 'warning' | 'info';
}

const lintCompose = action(async (ctx, flags: LintFlags) => {
  const format = formatOf(ctx, flags);
  const severity = severityOf(flags);
  const [{ checkCompose }, { ruleById }] = await Promise.all([import('../../check/check.js'), import('../../check/run.js')]);
  for (const id of flags.rule ?? []) if (!ruleById(id)) throw new BerthError(`unknown rule "${id}"`, { hint: 'berth check rules lists them', exitCode: ExitCode.usage });
  // --all-profiles: every service, as Compose's --profile "*" (one-off jobs are recognised by the rules).
  const options = flags.allProfiles ? { ...composeOptions(ctx.options), profiles: ['*'] } : composeOptions(ctx.options);
  const load = async () => (await import('../../compose/load.js')).loadProject(options);
  const project = flags.allProfiles ? await load() : await ctx.project();
  const result = await checkCompose(project, {
    format: format as 'stylish', severity, configFile: flags.config, only: flags.rule, swarm: flags.swarm, fix: flags.fix, dryRun: flags.dryRun, paint: ctx.output.paint,
    reload: load,
  });
  if (project.inactiveServices.length) ctx.output.note(ctx.output.paint.dim(`not checked (inactive profiles): ${project.inactiveServices.join(', ')}; use --all-profiles to include them`));
  for (const note of result.notes) ctx.output.note(ctx.output.paint.dim(note));
  ctx.output.line(result.output);
  return result.exitCode;
});

export function registerCheck(program: Command): void {
  const check = program
    .command('check')
    .description('production lint of compose files and Dockerfiles, and a hardening audit of the host')
    .addHelpText('after', `
Exit codes: 0 no finding at or above --severity, 1 findings, 2 bad input.

Examples:
  berth check                             lint ./compose.yaml and the Dockerfiles it builds
  berth check --format sarif > check.sarif
  berth check --fix --dry-run             show the safe fixes as a diff
  berth check host                        audit the Docker host (read-only)
  berth check rules                       every rule with its severity

Config: .berth-check.yaml next to the compose file (rules: {ID: off|info|warning|error}, ignore: [...]),
or x-berth: {check: {rules: ...}}. Inline: # berth-disable-next-line ID, # berth-disable ID (whole file).`);

  const lintOptions = (cmd: Command) => cmd
    .option('--format <format>', `output: ${FORMATS.join(', ')} (default stylish; --json: json)`)
    .option('--severity <level>', 'exit 1 when a finding is at or above: error, warning, info', 'error')
    .option('--config <file>', 'check config (default .berth-check.yaml in the project directory)')
    .option('--rule <id>', 'only these rules (repeatable, or comma-separated)', collect)
    .option('--fix', 'apply the safe fixes (minimal edits; comments and formatting kept)')
    .option('--dry-run', 'with --fix: show the edits as a unified diff, change nothing')
    .option('--all-profiles', 'check the services of every profile, not only the active ones')
    .option('--swarm', 'the project is deployed as a Swarm stack: also the swarm rules (update config, placement, endpoint and port modes, ...)');

  lintOptions(check.command('compose', { isDefault: true }).description('lint the project\'s compose files and the Dockerfiles its services build'))
    .action(lintCompose);

  check
    .command('dockerfile')
    .description('lint Dockerfiles on their own')
    .argument('<file...>', 'Dockerfiles')
    .option('--format <format>', `output: ${FORMATS.join(', ')}`)
    .option('--severity <level>', 'exit 1 at or above this severity', 'error')
    .action(action(async (ctx, files: string[], flags: { format?: string; severity: string }) => {
      const format = formatOf(ctx, flags);
      const severity = severityOf(flags);
      const [{ lintDockerfile }, { render }, { exitCodeFor }] = await Promise.all([import('../../check/run.js'), import('../../check/format.js'), import('../../check/check.js')]);
      const { resolve } = await import('node:path');
      const findings = files.flatMap((f) => {
        if (!existsSync(f)) throw new BerthError(`${f}: no such file`, { exitCode: ExitCode.usage });
        return lintDockerfile(resolve(f)).findings;
      });
      ctx.output.line(render(format as 'stylish', { findings, cwd: process.cwd() }, ctx.output.paint));
      return exitCodeFor(findings, severity);
    }));

  check
    .command('host')
    .description('hardening audit of the Docker host: engine, daemon.json, containers, firewall, SSH, updates, disk, backups (never changes anything)')
    .option('--format <format>', 'output: stylish, json')
    .option('--severity <level>', 'exit 1 when a check fails at or above: error, warning, info', 'error')
    .action(action(async (ctx, flags: { format?: string; severity: string }) => {
      const format = formatOf(ctx, flags);
      const severity = severityOf(flags);
      const { auditHost, renderHostReport, hostExitCode } = await import('../../check/host.js');
      const engine = await ctx.engine().catch((error: unknown) => error as Error);
      const store = await ctx.store().catch(() => undefined);
      let projectName: string | undefined;
      try { projectName = (await ctx.project()).name; } catch { projectName = undefined; }
      const report = await auditHost({ engine: engine instanceof Error ? undefined : engine, engineError: engine instanceof Error ? engine.message : undefined, store, project: projectName });
      if (format === 'json') ctx.output.data(report);
      else ctx.output.line(renderHostReport(report, ctx.output.paint));
      return hostExitCode(report, severity);
    }));

  check
    .command('rules')
    .description('list the rules (id, family, severity, fixable, title)')
    .option('--markdown', 'the rules reference as Markdown (docs/rules.md)')
    .action(action(async (ctx, flags: { markdown?: boolean }) => {
      const { allRules } = await import('../../check/run.js');
      const { rulesMarkdown } = await import('../../check/docs.js');
      if (flags.markdown) ctx.output.line(rulesMarkdown());
      else if (ctx.output.json) ctx.output.data(allRules.map(({ check: _c, ...meta }) => meta));
      else {
        const { table } = await import('../output.js');
        ctx.output.line(table([['RULE', 'FAMILY', 'SEVERITY', 'FIX', 'TITLE'], ...allRules.map((r) => [r.id, r.family, r.severity, r.fixable ? 'yes' : '', r.title])]));
      }
    }));

  registerCheckShutdown(check);
}
