import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { BerthError, ExitCode } from '../../lib/errors.js';
import { action, composeOptions, loadWarned, type CommandContext } from '../context.js';
import { closest } from '../../lib/suggest.js';
import { value } from '../values.js';
import { registerCheckShutdown } from './check-shutdown.js';

const FORMATS = ['stylish', 'json', 'sarif', 'github', 'junit'];
const SEVERITIES = ['error', 'warning', 'info'];
const collect = (value: string, previous: string[] = []) => [...previous, ...value.split(',').filter(Boolean)];

interface LintFlags { format?: string; severity: string; config?: string; rule?: string[]; fix?: boolean; dryRun?: boolean; allProfiles?: boolean; images?: boolean; swarm?: boolean }

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
  const [{ checkCompose, projectImages }, { ruleById }] = await Promise.all([import('../../check/check.js'), import('../../check/run.js')]);
  for (const id of flags.rule ?? []) if (!ruleById(id)) throw new BerthError(`unknown rule "${id}"`, { hint: 'berth check rules lists them', exitCode: ExitCode.usage });
  // --all-profiles: every service, as Compose's --profile "*" (one-off jobs are recognised by the rules).
  // Leniently: what Compose refuses becomes a finding (compose-refused) and the rest is linted.
  const options = { ...composeOptions(ctx.options), ...(flags.allProfiles ? { profiles: ['*'] } : {}), lenient: true };
  const load = async () => (await import('../../compose/load.js')).loadProject(options);
  // Image facts: the local images' configs through the engine (--no-images: the table only). The
  // connection is opened while the project loads.
  const connecting = flags.images === false ? undefined : import('../../engine/client.js').then((m) => m.Engine.connect({ details: false }));
  connecting?.catch(() => undefined);
  // Every loader warning reaches the user (file:line), as with every other command.
  const project = await loadWarned(ctx.output, load);
  const { images, note } = connecting ? await projectImages(project, () => connecting) : {};
  if (note) ctx.output.note(ctx.output.paint.dim(note));
  const result = await checkCompose(project, {
    format: format as 'stylish', severity, configFile: flags.config, only: flags.rule, swarm: flags.swarm, fix: flags.fix, dryRun: flags.dryRun, paint: ctx.output.paint,
    reload: load, images,
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
  berth check                             # lint ./compose.yaml and the Dockerfiles it builds
  berth check --format sarif > check.sarif
  berth check --fix --dry-run             # show the safe fixes as a diff
  berth check host                        # audit the Docker host (read-only)
  berth check rules                       # every rule with its severity
  berth check shutdown app                # stop a throwaway copy as Docker does

Config: .berth-check.yaml next to the compose file (rules: {ID: off|info|warning|error}, ignore: [...]),
or x-berth: {check: {rules: ...}}. Inline: # berth-disable-next-line ID, # berth-disable ID (whole file).`);

  const lintOptions = (cmd: Command) => cmd
    .option('--format <format>', `output: ${FORMATS.join(', ')} (default stylish; --json: json)`, value.oneOf(FORMATS))
    .option('--severity <level>', 'exit 1 when a finding is at or above: error, warning, info', value.oneOf(SEVERITIES), 'error')
    .option('--config <file>', 'check config (default .berth-check.yaml in the project directory)')
    .option('--rule <id>', 'only these rules (repeatable, or comma-separated)', collect)
    .option('--fix', 'apply the safe fixes (minimal edits; comments and formatting kept)')
    .option('--dry-run', 'with --fix: show the edits as a unified diff, change nothing')
    .option('--all-profiles', 'check the services of every profile, not only the active ones')
    .option('--no-images', 'do not read the local images\' config from the engine (berth\'s table of popular images only)')
    .option('--swarm', 'the project is deployed as a Swarm stack: also the swarm rules (update config, placement, endpoint and port modes, ...)');

  // The default subcommand: `berth check hots` lands here with "hots" as an argument; say what was meant.
  const compose = lintOptions(check.command('compose', { isDefault: true }).description('lint the project\'s compose files and the Dockerfiles its services build'))
    .addHelpText('after', `
Exit codes: 0 no finding at or above --severity, 1 findings, 2 bad input.

Examples:
  berth check compose --severity warning
  berth check --rule init,healthcheck --format github
  berth check --all-profiles --format junit > check.xml
  berth check --fix                       # apply the safe fixes in place`)
    .allowExcessArguments(true)
    .action(async (flags: LintFlags, command: Command) => {
      const [word] = command.args;
      if (word !== undefined) {
        const names = check.commands.map((c) => c.name());
        const near = closest(word, names);
        throw new BerthError(`unknown check "${word}"`, { exitCode: ExitCode.usage, hint: `${near ? `did you mean berth check ${near}? ` : ''}checks: ${names.join(', ')}` });
      }
      return lintCompose(flags, command);
    });
  // `berth check --help` shows the options of the default subcommand (they are given to `berth check`).
  check.addHelpText('after', () => `\nOptions of berth check [compose]:\n${compose.options.map((o) => `  ${o.flags.padEnd(24)} ${o.description}`).join('\n')}`);

  check
    .command('dockerfile')
    .description('lint Dockerfiles on their own')
    .argument('<file...>', 'Dockerfiles')
    .option('--format <format>', `output: ${FORMATS.join(', ')}`, value.oneOf(FORMATS))
    .option('--severity <level>', 'exit 1 at or above this severity', value.oneOf(SEVERITIES), 'error')
    .addHelpText('after', `
Examples:
  berth check dockerfile Dockerfile
  berth check dockerfile app/Dockerfile worker/Dockerfile --format sarif > dockerfiles.sarif`)
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
    .option('--format <format>', `output: ${FORMATS.join(', ')} (default stylish; --json: json)`, value.oneOf(FORMATS))
    .option('--severity <level>', 'exit 1 when a check fails at or above: error, warning, info', value.oneOf(SEVERITIES), 'error')
    .addHelpText('after', `
Exit codes: 0 no failed check at or above --severity, 1 failed checks, 2 bad input, 3 the engine
could not be reached (the checks that need it could not be determined; the rest is reported).

Examples:
  berth check host
  berth check host --severity warning        # exit 1 on warnings too
  berth check host --format sarif > host.sarif`)
    .action(action(async (ctx, flags: { format?: string; severity: string }) => {
      const format = formatOf(ctx, flags);
      const severity = severityOf(flags);
      const { auditHost, renderHostReport, hostExitCode, hostFindings } = await import('../../check/host.js');
      const engine = await ctx.engine().catch((error: unknown) => error as Error);
      const store = await ctx.store().catch(() => undefined);
      let projectName: string | undefined;
      try { projectName = (await ctx.project()).name; } catch { projectName = undefined; }
      const report = await auditHost({ engine: engine instanceof Error ? undefined : engine, engineError: engine instanceof Error ? engine.message : undefined, store, project: projectName });
      if (format === 'json') ctx.output.data(report);
      else if (format === 'stylish') ctx.output.line(renderHostReport(report, ctx.output.paint));
      else {
        const { render } = await import('../../check/format.js');
        ctx.output.line(render(format as 'sarif', { ...hostFindings(report), cwd: process.cwd() }, ctx.output.paint));
      }
      // Without the engine half the audit is unknown: that is not "fine" (exit 3, with the reason).
      if (engine instanceof Error) throw engine;
      return hostExitCode(report, severity);
    }));

  check
    .command('rules')
    .description('list the rules (id, family, severity, fixable, title)')
    .option('--markdown', 'the rules reference as Markdown (docs/rules/README.md)')
    .addHelpText('after', `
Examples:
  berth check rules
  berth check rules --json
  berth check rules --markdown > docs/rules/README.md`)
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
