/**
 * Log entries as berth logs orders them: the engine's own timestamp of each line (logs read with
 * timestamps=true, RFC 3339 with up to 9 fraction digits, normalised to 9 so that text order is
 * time order), the replica, the stream. Pure, except `readLogs`, which asks the engine.
 */
import type { Readable } from 'node:stream';
import { PassThrough } from 'node:stream';
import type { Engine } from '../../engine/client.js';

export interface LogEntry {
  /** RFC 3339 UTC with exactly 9 fraction digits. */
  time: string;
  container: string;
  service: string;
  stream: 'stdout' | 'stderr';
  text: string;
  /** From the state store: the replica was removed (by a rollout) and these are its last lines. */
  removed?: boolean;
}

/** 2026-12-03T11:53:59.1234Z -> 2026-12-03T11:53:59.123400000Z (the engine trims trailing zeros). */
export function normalizeTime(ts: string): string | undefined {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/.exec(ts);
  if (!m) return undefined;
  if (m[3] !== 'Z') {
    const ms = Date.parse(ts);
    const fraction = (m[2] ?? '').padEnd(9, '0');
    return `${new Date(Math.floor(ms / 1000) * 1000).toISOString().slice(0, 19)}.${fraction}Z`;
  }
  return `${m[1]}.${(m[2] ?? '').padEnd(9, '0')}Z`;
}

/** One line as the engine sends it with timestamps=true: `<RFC3339Nano> <text>`. */
export function splitTimestamp(line: string): { time: string; text: string } | undefined {
  const space = line.indexOf(' ');
  const time = space > 0 ? normalizeTime(line.slice(0, space)) : normalizeTime(line);
  if (!time) return undefined;
  return { time, text: space > 0 ? line.slice(space + 1) : '' };
}

export function byTime(a: LogEntry, b: LogEntry): number {
  return a.time < b.time ? -1 : a.time > b.time ? 1 : 0;
}

/** Engine `since`/`until` from a normalised time: seconds with the fraction (the API takes nanoseconds). */
export function engineTime(time: string): string {
  const seconds = Math.floor(Date.parse(time) / 1000);
  return `${seconds}.${time.slice(20, 29)}`;
}

/** Splits a byte stream into lines (a partial last line waits for its end); calls back per line. */
export function lineSplitter(onLine: (line: string) => void): { write(chunk: Buffer): void; end(): void } {
  let rest = '';
  return {
    write(chunk) {
      rest += chunk.toString('utf8');
      let nl: number;
      while ((nl = rest.indexOf('\n')) !== -1) {
        onLine(rest.slice(0, nl).replace(/\r$/, ''));
        rest = rest.slice(nl + 1);
      }
    },
    end() {
      if (rest) onLine(rest);
      rest = '';
    },
  };
}

export interface LogSource {
  id: string;
  name: string;
  service: string;
  tty: boolean;
}

/**
 * Streams a container's log lines (timestamps on) to onEntry; resolves when the engine ends the
 * stream (with follow: when the container stops). `since`: an engine time (seconds.nanos) or 0.
 */
export async function readLogs(engine: Engine, source: LogSource, options: { follow: boolean; since?: string; until?: string; tail?: number }, onEntry: (entry: LogEntry) => void, signal?: AbortSignal): Promise<void> {
  const query: Record<string, unknown> = { stdout: true, stderr: true, timestamps: true, follow: options.follow };
  if (options.since) query.since = options.since;
  if (options.until) query.until = options.until;
  if (options.tail !== undefined) query.tail = options.tail;
  const container = engine.docker.getContainer(source.id);
  const result = (await engine.call(`read the logs of ${source.name}`, () => container.logs(query as { follow: true }))) as unknown as Readable | Buffer;
  const emit = (stream: 'stdout' | 'stderr') => (line: string) => {
    const split = splitTimestamp(line);
    if (split) onEntry({ time: split.time, container: source.name, service: source.service, stream, text: split.text });
  };
  const out = lineSplitter(emit('stdout'));
  const err = lineSplitter(emit('stderr'));
  if (Buffer.isBuffer(result)) {
    demuxFrames(result, source.tty, out, err);
    out.end();
    err.end();
    return;
  }
  await new Promise<void>((resolve) => {
    const finish = () => {
      out.end();
      err.end();
      resolve();
    };
    if (source.tty) result.on('data', (chunk: Buffer) => out.write(chunk));
    else {
      const stdout = new PassThrough();
      const stderr = new PassThrough();
      stdout.on('data', (chunk: Buffer) => out.write(chunk));
      stderr.on('data', (chunk: Buffer) => err.write(chunk));
      engine.docker.modem.demuxStream(result, stdout, stderr);
    }
    result.once('end', finish);
    result.once('close', finish);
    result.once('error', finish);
    signal?.addEventListener('abort', () => (result as Readable & { destroy(): void }).destroy(), { once: true });
  });
}

/** A complete (non-follow) multiplexed answer: 8-byte frame headers, stream 1 stdout, 2 stderr. */
function demuxFrames(buffer: Buffer, tty: boolean, out: { write(b: Buffer): void }, err: { write(b: Buffer): void }): void {
  if (tty) {
    out.write(buffer);
    return;
  }
  let at = 0;
  while (at + 8 <= buffer.length) {
    const size = buffer.readUInt32BE(at + 4);
    (buffer[at] === 2 ? err : out).write(buffer.subarray(at + 8, at + 8 + size));
    at += 8 + size;
  }
}

/**
 * Orders lines arriving from several live streams: each waits `holdMs` after it arrived, then
 * everything that waited long enough leaves in time order. A line that arrives later than the hold
 * with an earlier time than one already printed is printed at once (never dropped).
 */
export class TimeOrderedBuffer {
  private pending: Array<{ entry: LogEntry; arrived: number }> = [];
  constructor(private readonly emit: (entry: LogEntry) => void, private readonly holdMs = 300, private readonly now: () => number = () => performance.now()) {}

  push(entry: LogEntry): void {
    this.pending.push({ entry, arrived: this.now() });
  }

  /** Emits what has waited at least holdMs (all with `all`). */
  flush(all = false): void {
    const cutoff = this.now() - this.holdMs;
    const ready = all ? this.pending : this.pending.filter((p) => p.arrived <= cutoff);
    if (!ready.length) return;
    // Everything pending with a time up to the newest ready line goes too, so order holds.
    const newest = ready.reduce((m, p) => (p.entry.time > m ? p.entry.time : m), '');
    const out = this.pending.filter((p) => all || p.arrived <= cutoff || p.entry.time <= newest);
    const keep = this.pending.filter((p) => !out.includes(p));
    this.pending = keep;
    out.sort((a, b) => byTime(a.entry, b.entry));
    for (const p of out) this.emit(p.entry);
  }
}
