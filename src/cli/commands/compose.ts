import type { Command } from 'commander';
import { action } from '../context.js';

/** Compose subcommands that work without the engine. */
const OFFLINE = new Set(['config', 'convert', 'version', 'help']);

export function registerCompose(program: Command): void {
  program
    .command('compose')
    .description('run Docker Compose (v2 or v1, whichever is installed) on the same project berth sees')
    .argument('<args...>', 'Compose arguments, after --')
    .allowUnknownOption()
    .addHelpText('after', `
Examples:
  berth compose -- ps
  berth -f compose.yaml compose -- logs --tail 50 app`)
    .action(
      action(async (ctx, args: string[]) => {
        const compose = await ctx.compose();
        // Compose needs the engine for everything but reading the files: without it, v1 dumps a Python
        // traceback; berth says what is wrong in one line (exit 3) before Compose starts.
        if (!OFFLINE.has(args.find((a) => !a.startsWith('-')) ?? '')) await ctx.engine();
        const result = await compose.run(args, { allowFailure: true, onOutput: (chunk) => process.stdout.write(chunk), onStderr: (chunk) => process.stderr.write(chunk) });
        return result.code;
      }),
    );
}
