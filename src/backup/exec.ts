/**
 * Running a command inside a container through the Engine API: exec without a TTY, stdout
 * streamed out of the multiplexed stream (demuxed by dockerode's modem, with backpressure),
 * stdin optionally streamed in, and the exit code read back from exec inspect.
 */
import { PassThrough, type Readable, type Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Engine } from '../engine/client.js';
import { BerthError } from '../lib/errors.js';

export interface ExecOptions {
  /** Where stdout goes; when absent stdout is collected (small outputs only). */
  stdout?: Writable;
  stdin?: Readable;
  env?: string[];
  user?: string;
  /** Keep at most this many bytes of stderr (the tail), for error messages. */
  stderrLimit?: number;
  /** execChecked: the error carries the command's whole stderr (kept tail), not its last lines. */
  verbatim?: boolean;
}

export interface ExecResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** A short, secret-free description of a command for messages: the program name only. */
export function commandName(cmd: string[]): string {
  // berth's password wrappers (sources.ts): sh -c WRAPPER berth-pg PROGRAM ... / berth-mysql dump|client ...
  if (cmd[0] === 'sh' && cmd[3] === 'berth-pg') return cmd[4] ?? 'sh';
  if (cmd[0] === 'sh' && cmd[3] === 'berth-mysql') return cmd[4] === 'dump' ? 'mariadb-dump' : 'mariadb';
  return cmd[0] === 'sh' ? (cmd[2]?.match(/exec\s+"?\$?\{?(\w[\w-]*)/)?.[1] ?? 'sh') : (cmd[0] ?? '?');
}

export async function execInContainer(engine: Engine, containerId: string, cmd: string[], options: ExecOptions = {}): Promise<ExecResult> {
  const container = engine.docker.getContainer(containerId);
  const exec = await engine.call(`start ${commandName(cmd)} in container ${containerId.slice(0, 12)}`, () =>
    container.exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true, AttachStdin: Boolean(options.stdin), Tty: false, Env: options.env, User: options.user }),
  );
  const stream = (await engine.call(`attach to ${commandName(cmd)}`, () => exec.start({ hijack: true, stdin: Boolean(options.stdin) }))) as unknown as NodeJS.ReadWriteStream & Readable & Writable;
  const limit = options.stderrLimit ?? 8192;
  let stderr = '';
  const stderrSink = new PassThrough();
  stderrSink.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-limit);
  });
  const collected: Buffer[] = [];
  const out = options.stdout;
  // demuxStream ignores backpressure: pause the socket while the destination is full.
  const stdoutAdapter = {
    write(chunk: Buffer): boolean {
      if (!out) {
        collected.push(chunk);
        return true;
      }
      const ok = out.write(chunk);
      if (!ok) {
        stream.pause();
        out.once('drain', () => stream.resume());
      }
      return ok;
    },
  };
  engine.docker.modem.demuxStream(stream, stdoutAdapter as unknown as Writable, stderrSink);
  let destinationError: Error | undefined;
  const onDestError = (error: Error) => {
    destinationError = error;
    stream.destroy();
  };
  // `on`, not `once`: a destroyed destination may emit more than one error.
  out?.on('error', onDestError);
  if (options.stdin) {
    options.stdin.on('error', (error) => onDestError(error));
    options.stdin.pipe(stream);
  }
  await new Promise<void>((resolve, reject) => {
    stream.once('end', resolve);
    stream.once('close', resolve);
    stream.once('error', (error) => (destinationError ? resolve() : reject(error)));
  });
  // The process may exit before reading all of stdin (pg_restore --list reads only the TOC).
  if (options.stdin) {
    options.stdin.unpipe(stream);
    options.stdin.destroy();
  }
  stream.on('error', () => undefined);
  stream.destroy();
  if (destinationError) {
    await killExec(engine, exec.id);
    throw destinationError;
  }
  const info = await waitForExit(engine, exec.id);
  return { exitCode: info.exitCode, stdout: Buffer.concat(collected).toString('utf8'), stderr: stderr.trim() };
}

async function waitForExit(engine: Engine, execId: string): Promise<{ exitCode: number }> {
  const exec = engine.docker.getExec(execId);
  for (let i = 0; i < 200; i++) {
    const info = await engine.call('inspect exec', () => exec.inspect());
    if (!info.Running && info.ExitCode !== null && info.ExitCode !== undefined) return { exitCode: info.ExitCode };
    await sleep(Math.min(25 * (i + 1), 250));
  }
  throw new BerthError('the command in the container did not finish after its output ended');
}

/**
 * The Engine API has no "kill exec": when berth gives up on a stream (destination full), the
 * process would block on a full pipe. On a local engine, kill it by its host pid.
 */
async function killExec(engine: Engine, execId: string): Promise<void> {
  try {
    const info = await engine.docker.getExec(execId).inspect();
    if (info.Running && info.Pid && engine.host.startsWith('unix:')) process.kill(info.Pid, 'SIGTERM');
  } catch {
    // best effort
  }
}

/** Runs a command and fails with a clear message when it exits non-zero. */
export async function execChecked(engine: Engine, containerId: string, cmd: string[], what: string, options: ExecOptions = {}): Promise<ExecResult> {
  const result = await execInContainer(engine, containerId, cmd, options);
  if (result.exitCode !== 0) {
    // Messages are one line (errorMessage keeps the first): the lines are joined, their words kept.
    const lines = result.stderr.split('\n').map((l) => l.trim()).filter(Boolean);
    const last = (options.verbatim ? lines : lines.slice(-2)).join(' / ');
    throw new BerthError(`${what} failed: ${commandName(cmd)} exited ${result.exitCode}${last ? `: ${last}` : ''}`);
  }
  return result;
}
