import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { BerthError, ExitCode } from '../lib/errors.js';
import { notifyClosedPipe } from '../lib/closed-pipe.js';
import { registerCommands } from './commands/index.js';
import { painter, useColor } from './output.js';

function version(): string {
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

export function buildProgram(): Command {
  const program = new Command('berth')
    .description('Production operations for Docker Compose on a single server.')
    .version(version(), '-V, --version')
    .option('-f, --file <file>', 'compose file (repeatable); default: compose.yaml and its override', collect)
    .option('-p, --project-name <name>', 'project name')
    .option('--project-directory <dir>', 'project directory')
    .option('--env-file <file>', 'env file for interpolation (repeatable)', collect)
    .option('--profile <name>', 'enable a profile (repeatable)', collect)
    .option('--json', 'machine-readable output')
    .option('--no-color', 'no colours (also NO_COLOR)')
    .option('--debug', 'stack traces on errors')
    .showHelpAfterError('hint: run the command with --help for its usage')
    .configureOutput({ outputError: (text, write) => write(text.replace(/^error: /, 'berth: ')) })
    .exitOverride();
  program.addHelpText('after', `
Examples:
  berth status                    # services, replicas and health of ./compose.yaml
  berth -f compose.yaml -f prod.yaml status app --json
  berth rollout app               # zero-downtime rollout of one service
  berth deploy --dry-run          # print the deploy plan`);
  registerCommands(program);
  return program;
}

/** Runs the CLI and returns the exit code. Errors become one line; stacks only with --debug. */
/** A reader that went away (`berth ... | head`) ends the output, as with any Unix tool: exit quietly. */
function exitQuietlyOnClosedPipe(stream: NodeJS.WriteStream): void {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') {
      if (notifyClosedPipe()) return;
      process.exit(Number(process.exitCode ?? 0));
    }
    throw error;
  });
}

export async function run(argv: string[]): Promise<number> {
  exitQuietlyOnClosedPipe(process.stdout);
  exitQuietlyOnClosedPipe(process.stderr);
  const program = buildProgram();
  const debug = argv.includes('--debug');
  try {
    await program.parseAsync(argv);
    return Number(process.exitCode ?? 0);
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version exit 0; usage errors were already printed by commander.
      return error.exitCode === 0 ? 0 : ExitCode.usage;
    }
    const paint = painter(useColor(process.stderr));
    if (debug && error instanceof Error) process.stderr.write(`${error.stack}\n`);
    if (error instanceof BerthError) {
      process.stderr.write(`${paint.red('berth:')} ${error.message}\n`);
      if (error.hint) process.stderr.write(`${paint.dim(`hint: ${error.hint}`)}\n`);
      return error.exitCode;
    }
    const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
    process.stderr.write(`${paint.red('berth:')} internal error: ${message}${debug ? '' : ' (run with --debug for details)'}\n`);
    return 70;
  }
}

export { Option };
