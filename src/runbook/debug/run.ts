/** Runs the debug helper: created, attached (before start: no output is missed), waited for, removed. */
import { PassThrough, type Readable, type Writable } from 'node:stream';
import type { Engine } from '../../engine/client.js';
import { errorMessage } from '../../lib/errors.js';
import type { DebugPlan } from './plan.js';

export interface DebugIo {
  stdin: Readable & { isTTY?: boolean; setRawMode?: (raw: boolean) => void };
  stdout: Writable & { columns?: number; rows?: number; on(event: 'resize', fn: () => void): unknown };
  stderr: Writable;
  signal?: AbortSignal;
}

export async function runDebug(engine: Engine, plan: DebugPlan, io: DebugIo): Promise<number> {
  const container = await engine.call(`create the debug helper beside ${plan.target}`, () => engine.docker.createContainer(plan.create));
  const tty = Boolean(plan.create.Tty);
  let restoreRaw = () => undefined as void;
  try {
    const stream = (await engine.call('attach to the debug helper', () => container.attach({ stream: true, stdin: plan.interactive, stdout: true, stderr: true, hijack: true }))) as unknown as NodeJS.ReadWriteStream & Readable & Writable;
    if (tty) stream.pipe(io.stdout, { end: false });
    else {
      const out = new PassThrough();
      const err = new PassThrough();
      out.pipe(io.stdout, { end: false });
      err.pipe(io.stderr, { end: false });
      engine.docker.modem.demuxStream(stream, out, err);
    }
    const ended = new Promise<void>((resolve) => { stream.once('end', resolve); stream.once('close', resolve); stream.once('error', () => resolve()); });
    await engine.call('start the debug helper', () => container.start());
    if (tty) {
      const resize = () => void container.resize({ h: io.stdout.rows ?? 24, w: io.stdout.columns ?? 80 }).catch(() => undefined);
      resize();
      io.stdout.on('resize', resize);
      if (io.stdin.isTTY && io.stdin.setRawMode) {
        io.stdin.setRawMode(true);
        restoreRaw = () => io.stdin.setRawMode?.(false);
      }
    }
    if (plan.interactive) {
      io.stdin.pipe(stream);
      io.stdin.once('end', () => (stream as Writable & { end(): void }).end());
    }
    io.signal?.addEventListener('abort', () => void container.kill().catch(() => undefined), { once: true });
    const waited = (await engine.call('wait for the debug helper', () => container.wait())) as { StatusCode: number };
    await Promise.race([ended, new Promise((r) => setTimeout(r, 1000))]);
    if (plan.interactive) io.stdin.unpipe(stream);
    stream.destroy();
    return waited.StatusCode;
  } finally {
    restoreRaw();
    if (plan.interactive) io.stdin.pause();
    await container.remove({ force: true }).catch((error) => {
      // AutoRemove got there first (404/409): that is the point.
      if (!/no such container|already in progress|404|409/i.test(errorMessage(error))) io.stderr.write(`berth: could not remove the debug helper ${container.id.slice(0, 12)}: ${errorMessage(error)}\n`);
    });
  }
}
