/**
 * The artifact pipeline: bytes go to `NAME.partial` while a sha256 and a byte count are taken;
 * the file is checked for structure and minimum size; only then fsync, rename and (last of all)
 * the manifest. A file without its manifest is never a complete backup.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { createGunzip, gunzip, gzip } from 'node:zlib';

const gzipAsync = promisify(gzip);
const gunzipAsync = promisify(gunzip);
import { BerthError } from '../lib/errors.js';

export const PARTIAL_SUFFIX = '.partial';

export interface WrittenFile {
  name: string;
  partialPath: string;
  sizeBytes: number;
  sha256: string;
}

export interface ProgressSink {
  (bytes: number, elapsedMs: number): void;
}

/** Counts and hashes what flows through; reports progress at most once a second. */
export class Meter extends Transform {
  readonly hash = createHash('sha256');
  bytes = 0;
  private readonly started = performance.now();
  private lastReport = 0;

  constructor(private readonly progress?: ProgressSink) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: (error?: Error | null, data?: Buffer) => void): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    const now = performance.now();
    if (this.progress && now - this.lastReport >= 1000) {
      this.lastReport = now;
      this.progress(this.bytes, now - this.started);
    }
    done(null, chunk);
  }

  get elapsedMs(): number {
    return performance.now() - this.started;
  }
}

/** Streams `source` (optionally through more transforms) into DIR/NAME.partial; returns size and sha256. */
export async function writePartial(dir: string, name: string, source: Readable, transforms: Transform[] = [], progress?: ProgressSink, signal?: AbortSignal): Promise<WrittenFile> {
  const partialPath = join(dir, name + PARTIAL_SUFFIX);
  const meter = new Meter(progress);
  // 'wx': never overwrite an existing file (two runs with the same id must not interleave).
  const file = createWriteStream(partialPath, { flags: 'wx', mode: 0o600 });
  try {
    await pipeline([source, ...transforms, meter, file] as unknown as [Readable, NodeJS.WritableStream], signal ? { signal } : {});
  } catch (error) {
    source.destroy();
    throw error;
  }
  return { name, partialPath, sizeBytes: meter.bytes, sha256: meter.hash.digest('hex') };
}

export async function sha256File(path: string): Promise<{ sha256: string; sizeBytes: number }> {
  // Plain 4 MiB reads into one buffer: about twice as fast as a stream through a Transform
  // (111 MiB: 130 ms vs 150-350 ms here), and a restore waits for this before it changes anything.
  const hash = createHash('sha256');
  const handle = await open(path, 'r');
  const buffer = Buffer.allocUnsafe(4 << 20);
  let sizeBytes = 0;
  try {
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) break;
      hash.update(buffer.subarray(0, bytesRead));
      sizeBytes += bytesRead;
    }
  } finally {
    await handle.close();
  }
  return { sha256: hash.digest('hex'), sizeBytes };
}

/** fsync a file, rename it into place, fsync the directory: after this the name is durable. */
export async function commitFile(partialPath: string, finalPath: string): Promise<void> {
  const handle = await open(partialPath, 'r+');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(partialPath, finalPath);
  await syncDir(dirname(finalPath));
}

export async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Writes a small file durably via NAME.partial (used for the manifest). */
export async function writeFileDurably(path: string, content: string): Promise<void> {
  const partial = path + PARTIAL_SUFFIX;
  const handle = await open(partial, 'w', 0o600);
  try {
    await handle.writeFile(content);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(partial, path);
  await syncDir(dirname(path));
}

export async function removeQuietly(path: string): Promise<void> {
  await rm(path, { force: true, recursive: true }).catch(() => undefined);
}

/** Reads the first bytes of a file. */
export async function readHead(path: string, bytes: number): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    const buffer = Buffer.alloc(bytes);
    const { bytesRead } = await handle.read(buffer, 0, bytes, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

export async function readTail(path: string, bytes: number): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    const start = Math.max(0, size - bytes);
    const buffer = Buffer.alloc(size - start);
    await handle.read(buffer, 0, buffer.length, start);
    return buffer;
  } finally {
    await handle.close();
  }
}

export interface TarListing {
  entries: number;
  files: number;
  dirs: number;
  bytes: number;
  /** Saw the two zero blocks that end a tar archive. */
  complete: boolean;
}

/**
 * Lists a tar stream by walking its 512-byte headers (ustar/pax/GNU long names are skipped
 * as entries of their own kind). Fails on a bad header checksum: that is a corrupt archive.
 */
export class TarLister extends Transform {
  listing: TarListing = { entries: 0, files: 0, dirs: 0, bytes: 0, complete: false };
  private pending = Buffer.alloc(0);
  private skip = 0;
  private zeroBlocks = 0;

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: (error?: Error | null, data?: Buffer) => void): void {
    try {
      this.consume(chunk);
      // Passes the bytes on: it can sit inside a pipeline as well as at its end.
      done(null, chunk);
    } catch (error) {
      done(error as Error);
    }
  }

  private consume(chunk: Buffer): void {
    let offset = 0;
    if (this.skip > 0) {
      const n = Math.min(this.skip, chunk.length);
      this.skip -= n;
      offset = n;
    }
    let data = this.pending.length ? Buffer.concat([this.pending, chunk.subarray(offset)]) : chunk.subarray(offset);
    this.pending = Buffer.alloc(0);
    while (data.length > 0) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, data.length);
        this.skip -= n;
        data = data.subarray(n);
        continue;
      }
      if (data.length < 512) {
        this.pending = Buffer.from(data);
        return;
      }
      const header = data.subarray(0, 512);
      data = data.subarray(512);
      if (this.listing.complete) continue;
      if (header.every((b) => b === 0)) {
        if (++this.zeroBlocks >= 2) this.listing.complete = true;
        continue;
      }
      this.zeroBlocks = 0;
      const stored = parseInt(header.subarray(148, 156).toString('ascii').replace(/\0.*$/, '').trim(), 8);
      let sum = 0;
      for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : header[i]!;
      if (stored !== sum) throw new BerthError(`corrupt tar archive: bad header checksum after ${this.listing.entries} entries`);
      const size = parseTarSize(header.subarray(124, 136));
      const type = String.fromCharCode(header[156] || 48);
      if (type === '0' || type === '\0' || type === '7') this.listing.files++;
      if (type === '5') this.listing.dirs++;
      if (!['x', 'g', 'L', 'K'].includes(type)) this.listing.entries++;
      this.listing.bytes += size;
      this.skip = Math.ceil(size / 512) * 512;
    }
  }
}

function parseTarSize(field: Buffer): number {
  if (field[0]! & 0x80) {
    // base-256 (GNU) for sizes ≥ 8 GiB
    let value = 0;
    for (let i = 1; i < field.length; i++) value = value * 256 + field[i]!;
    return value;
  }
  return parseInt(field.toString('ascii').replace(/\0.*$/, '').trim() || '0', 8);
}

/**
 * gzip on every core, as pigz does: the stream is cut into blocks compressed concurrently on
 * libuv's thread pool and emitted in order as gzip members. A multi-member gzip file is plain gzip
 * to every reader (gunzip, tar -z, Node's zlib). On two cores this roughly doubles throughput
 * over one zlib stream, for well under 1% larger output.
 */
export class ParallelGzip extends Transform {
  private buffered: Buffer[] = [];
  private bufferedBytes = 0;
  private readonly pending: Array<Promise<Buffer>> = [];

  /** Blocks compressed; with `verify`, every one was decompressed again and compared byte for byte. */
  blocks = 0;

  constructor(private readonly level = 6, private readonly blockSize = 1 << 20, private readonly maxInFlight = 4, private readonly verify = false) {
    super();
  }

  private dispatch(): void {
    const block = Buffer.concat(this.buffered, this.bufferedBytes);
    this.buffered = [];
    this.bufferedBytes = 0;
    const compressed = gzipAsync(block, { level: this.level }).then(async (out) => {
      // Decoding each member on the thread pool proves the written bytes give back exactly the input.
      if (this.verify && !(await gunzipAsync(out)).equals(block)) throw new BerthError('gzip output does not decode to its input');
      this.blocks++;
      return out;
    });
    compressed.catch(() => undefined);
    this.pending.push(compressed);
  }

  /** Emits finished blocks, in order, until at most `keep` are in flight. */
  private async settle(keep: number): Promise<void> {
    while (this.pending.length > keep) this.push(await this.pending.shift()!);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: (error?: Error | null) => void): void {
    this.buffered.push(chunk);
    this.bufferedBytes += chunk.length;
    if (this.bufferedBytes >= this.blockSize) this.dispatch();
    this.settle(this.maxInFlight - 1).then(() => done(), done);
  }

  override _flush(done: (error?: Error | null) => void): void {
    if (this.bufferedBytes > 0) this.dispatch();
    this.settle(0).then(() => done(), done);
  }
}

/** Reads a .tar.gz file back and lists it: proves it decompresses and ends properly. */
export async function listTarGz(path: string): Promise<TarListing> {
  const lister = new TarLister();
  try {
    await pipeline(createReadStream(path), createGunzip(), lister, async function* (source) {
      for await (const _ of source) { /* drain */ }
    });
  } catch (error) {
    throw new BerthError(`${basename(path)} is not a readable tar.gz: ${(error as Error).message}`);
  }
  if (!lister.listing.complete) throw new BerthError(`${basename(path)} is truncated: the tar archive has no end marker`);
  return lister.listing;
}
