import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { BerthError, ExitCode, errorMessage } from '../../lib/errors.js';
import { value } from '../values.js';
import { action } from '../context.js';

interface RotateFlags {
  fromFile?: string;
  stdin?: boolean;
  length: string;
  service?: string[];
  dryRun?: boolean;
  timeout?: string;
  drain?: string;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export function registerSecrets(program: Command): void {
  const secrets = program.command('secrets').description('compose secrets: rotate one without downtime').addHelpText('after', `
Examples:
  berth secrets rotate db_password --dry-run
  berth secrets rotate api_key --from-file ./new-key.txt`);
  secrets
    .command('rotate')
    .description('a new value for a secret, as a new version of its file; every service using it rolled out zero-downtime; a database\'s own password changed in the same operation')
    .argument('<name>', 'the secret (top-level secrets: in the compose file)')
    .option('--from-file <path>', 'the new value from a file')
    .option('--stdin', 'the new value from standard input')
    .option('--length <bytes>', 'generated value: this many random bytes, URL-safe base64 (the default source)', value.integer({ min: 16, max: 512 }), '32')
    .option('--service <name>', 'roll out only these users of the secret (repeatable; not for a database password)', collect)
    .option('--timeout <duration>', 'health gate of each rollout (as berth rollout --timeout)', value.duration())
    .option('--drain <spec>', 'drain of the old replicas (as berth rollout --drain)', value.drain())
    .option('--dry-run', 'print the plan with reasons, change nothing')
    .addHelpText('after', `
Order (a database password: Postgres POSTGRES_PASSWORD_FILE, MariaDB/MySQL *_PASSWORD_FILE):
  1. write the new value as NAME.vN.ext beside the old file (compose secrets are immutable once a
     container starts); 2. point secrets.NAME.file at it in the compose file; 3. change the database
     user's password in the running database (Postgres: a SCRAM verifier, the plaintext never reaches
     the server); connections already open keep working; 4. check the new password connects over TCP
     and the old one is refused; 5. roll out every other running user of the secret (new replicas read
     the new file and connect with it; old ones drain on the connections they hold); 6. remove the old
     file when no container mounts it. A failure undoes what was done, in reverse.
Needs: users that hold their database connections open (a pool) while they drain; an app that
opens a new connection per request with the password it read at start fails between steps 3 and 5.

Exit codes: 0 rotated, 1 a step failed (undone), 2 bad input (nothing changed), 3 engine failure,
4 another deploy of the project holds the lock.

Examples:
  berth secrets rotate db_password --dry-run
  berth secrets rotate db_password
  openssl rand -base64 24 | berth secrets rotate api_key --stdin`)
    .action(
      action(async (ctx, name: string, flags: RotateFlags) => {
        if (flags.fromFile && flags.stdin) throw new BerthError('give the new value with --from-file or --stdin, not both', { exitCode: ExitCode.usage });
        const length = Number(flags.length);
        const { planSecretRotation, runRotation, generateSecret } = await import('../../runbook/secrets/run.js');
        const { describeRotateStep } = await import('../../runbook/secrets/plan.js');
        const project = await ctx.project();
        const engine = await ctx.engine();
        const plan = await planSecretRotation({ engine, project }, name, flags.service);
        const { paint } = ctx.output;
        if (flags.dryRun) {
          if (ctx.output.json) ctx.output.data(plan);
          else {
            plan.steps.forEach((s, i) => ctx.output.line(`${i + 1}. ${describeRotateStep(s)}\n   ${paint.dim(s.reason)}`));
            for (const n of plan.notes) ctx.output.line(paint.dim(`• ${n}`));
          }
          return ExitCode.ok;
        }
        let value: Buffer;
        try {
          value = flags.fromFile ? await readFile(flags.fromFile) : flags.stdin ? await readStdin() : generateSecret(length);
        } catch (error) {
          throw new BerthError(`cannot read the new value: ${errorMessage(error)}`, { exitCode: ExitCode.usage });
        }
        if (!value.toString('utf8').replace(/\r?\n$/, '')) throw new BerthError('the new value is empty', { exitCode: ExitCode.usage });
        if (value.includes(0)) throw new BerthError('the new value contains a NUL byte', { exitCode: ExitCode.usage });
        const { parseDrain } = await import('./rollout.js');
        const { parseDuration } = await import('../../lib/duration.js');
        const rolloutFlags = { timeoutMs: flags.timeout ? parseDuration(flags.timeout, '--timeout') : undefined, drain: flags.drain ? parseDrain(flags.drain) : undefined };
        const { loadProject } = await import('../../compose/load.js');
        const { composeOptions } = await import('../context.js');
        const result = await runRotation(
          { engine, project, store: await ctx.store(), compose: () => ctx.compose(), reload: () => loadProject(composeOptions(ctx.options)) },
          plan, value,
          (e) => {
            if (ctx.output.json || e.phase === 'start') return;
            ctx.output.note(`${e.phase === 'done' ? paint.green('✓') : paint.red('✗')} ${describeRotateStep(e.step)}${e.detail ? paint.dim(` (${e.detail})`) : ''}`);
          },
          rolloutFlags,
        );
        if (ctx.output.json) ctx.output.data(result);
        else if (result.ok) ctx.output.line(paint.green(`✓ ${name} rotated: ${plan.newFile}`));
        else {
          ctx.output.line(paint.red(`✗ ${name} not rotated: ${result.error}`));
          for (const u of result.undone) ctx.output.line(`  undone: ${u}`);
        }
        return result.exitCode;
      }),
    );
}
