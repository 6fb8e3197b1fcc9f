import type { Command } from 'commander';
import { BerthError, ExitCode } from '../../lib/errors.js';
import { value } from '../values.js';
import { action } from '../context.js';

export function registerDebug(program: Command): void {
  program
    .command('debug')
    .description('a shell beside a container that has none: busybox sharing its pid and network namespaces, its filesystem read-only at /target')
    .argument('<service>', 'the service')
    .argument('[command...]', 'run this instead of an interactive shell (after --)')
    .option('--replica <n>', 'which replica (container number; default: the first running)', value.integer())
    .option('--image <ref>', 'the helper image (default: BERTH_HELPER_IMAGE or local/busybox:latest)')
    .option('--dry-run', 'print what the helper would get, start nothing')
    .addHelpText('after', `
The helper shares the target's pid namespace (ps, kill, /proc/1 is its PID 1) and network namespace
(its localhost, its DNS), mounts the target's root filesystem read-only at /target (its volumes and
bind mounts read-only at their own paths), has every busybox tool on PATH and is removed on exit.
Like docker debug, without Docker Desktop.

Exit codes: the command's exit code; 2 bad input (no such service, no running replica), 3 engine failure.

Examples:
  berth debug app
  berth debug app -- netstat -tlnp
  berth debug db --replica 1 -- ls -la /target/var/lib/postgresql/data`)
    .action(
      action(async (ctx, service: string, command: string[], flags: { replica?: string; image?: string; dryRun?: boolean }) => {
        const { selectServices } = await import('../../compose/select.js');
        const { listServiceContainers } = await import('../../compose/containers.js');
        const { helperImage, requireHelperImage } = await import('../../runbook/helper.js');
        const { planDebug } = await import('../../runbook/debug/plan.js');
        const project = await ctx.project();
        selectServices(project, [service]);
        const engine = await ctx.engine();
        const running = (await listServiceContainers(engine, project.name, { services: [service] })).filter((c) => c.state === 'running');
        const replica = flags.replica === undefined ? undefined : Number(flags.replica);
        const target = replica === undefined ? running[0] : running.find((c) => c.number === replica);
        if (!target) throw new BerthError(replica === undefined ? `no running replica of ${service}` : `no running replica ${replica} of ${service} (running: ${running.map((c) => c.number).join(', ') || 'none'})`, { exitCode: ExitCode.usage });
        const image = flags.dryRun ? flags.image ?? helperImage() : await requireHelperImage(engine, flags.image ?? helperImage());
        const interactive = command.length === 0 || !process.stdin.isTTY;
        const plan = planDebug(await engine.inspectContainer(target.id), { image, command, interactive, tty: command.length === 0 && Boolean(process.stdin.isTTY && process.stdout.isTTY) });
        if (flags.dryRun) {
          if (ctx.output.json) ctx.output.data({ target: plan.target, image: plan.image, command: plan.command, parts: plan.parts, create: plan.create });
          else {
            ctx.output.line(`a helper beside ${plan.target} (${plan.image}), running ${plan.command.join(' ')}:`);
            for (const p of plan.parts) ctx.output.line(`- ${p.what}\n  ${ctx.output.paint.dim(p.reason)}`);
          }
          return ExitCode.ok;
        }
        if (process.stdin.isTTY && command.length === 0) ctx.output.note(ctx.output.paint.dim(`berth debug: ${plan.target}'s processes and network; its files read-only at /target; exit to leave (the helper is removed)`));
        const { runDebug } = await import('../../runbook/debug/run.js');
        const controller = new AbortController();
        const onSignal = () => controller.abort();
        process.once('SIGTERM', onSignal);
        try {
          return await runDebug(engine, plan, { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, signal: controller.signal });
        } finally {
          process.off('SIGTERM', onSignal);
        }
      }),
    );
}
