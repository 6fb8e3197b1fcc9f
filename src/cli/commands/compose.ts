import type { Command } from 'commander';
import { action } from '../context.js';

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
        const result = await compose.run(args, { allowFailure: true, onOutput: (chunk) => process.stdout.write(chunk) });
        return result.code;
      }),
    );
}
