/** Pull-style reading and backpressured writing over node:net sockets. */
import type { Socket } from 'node:net';

const HIGH_WATER = 256 * 1024;

/** Buffers a socket's data and hands it out on demand; pauses the socket while data waits. */
export class SocketReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private ended = false;
  private wake: (() => void) | undefined;
  private consumer: ((chunk: Buffer | null) => void) | undefined;

  constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      if (this.consumer && !this.chunks.length) return this.consumer(chunk);
      this.chunks.push(chunk);
      this.buffered += chunk.length;
      if (this.buffered >= HIGH_WATER) socket.pause();
      this.notify();
    });
    const onEnd = () => {
      this.ended = true;
      if (this.consumer && !this.chunks.length) this.consumer(null);
      else this.notify();
    };
    socket.on('end', onEnd);
    socket.on('close', onEnd);
  }

  /**
   * Push mode: every chunk (the buffered ones first, at once) goes to `consumer` as it arrives,
   * synchronously, and null at the end of the stream (maybe more than once: detach on it). For a
   * long response relayed a read at a time, no promise per read. The consumer pauses the socket
   * for backpressure itself; detach() returns to pull mode (unshift what was not used after).
   */
  attach(consumer: (chunk: Buffer | null) => void): void {
    this.consumer = consumer;
    while (this.consumer === consumer && this.chunks.length) consumer(this.take());
    if (this.consumer === consumer && this.ended) consumer(null);
  }

  detach(): void { this.consumer = undefined; }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /** Whether bytes are waiting. */
  get pending(): number { return this.buffered; }
  get isEnded(): boolean { return this.ended && this.chunks.length === 0; }
  /** Whether the peer has ended its side (EOF or close), buffered bytes or not. */
  get sawEnd(): boolean { return this.ended; }

  /**
   * The next chunk, or null at end of stream: synchronously when one is buffered (no promise on
   * the hot path), else a promise of it.
   */
  next(): Buffer | null | Promise<Buffer | null> {
    if (this.chunks.length) return this.take();
    if (this.ended) return null;
    return new Promise<Buffer | null>((resolve) => {
      // notify() runs on new data, end or close: one of the two holds then.
      this.wake = () => resolve(this.chunks.length ? this.take() : null);
    });
  }

  /**
   * Resolves when a chunk or the end is there; undefined when one already is. One plain promise
   * per wait: the per-request path waits with this, then reads synchronously.
   */
  ready(): Promise<void> | undefined {
    if (this.chunks.length || this.ended) return undefined;
    return new Promise<void>((resolve) => { this.wake = resolve; });
  }

  /** The first buffered chunk, left in place. */
  peek(): Buffer | undefined { return this.chunks[0]; }

  private take(): Buffer {
    const chunk = this.chunks.shift()!;
    this.buffered -= chunk.length;
    if (this.buffered < HIGH_WATER && this.socket.isPaused()) this.socket.resume();
    return chunk;
  }

  /** Puts bytes back to be read first. */
  unshift(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.unshift(chunk);
    this.buffered += chunk.length;
  }

  /** Up to `max` bytes of what is buffered now (without waiting), or undefined. */
  takeBuffered(max: number): Buffer | undefined {
    const chunk = this.chunks[0];
    if (!chunk || max <= 0) return undefined;
    this.chunks.shift();
    this.buffered -= chunk.length;
    if (chunk.length > max) this.unshift(chunk.subarray(max));
    if (this.buffered < HIGH_WATER && this.socket.isPaused()) this.socket.resume();
    return chunk.length > max ? chunk.subarray(0, max) : chunk;
  }

  /** Everything buffered now, without waiting. */
  drainBuffered(): Buffer[] {
    const out = this.chunks;
    this.chunks = [];
    this.buffered = 0;
    if (this.socket.isPaused()) this.socket.resume();
    return out;
  }
}

export class ClosedError extends Error {}

/** Writes and waits for 'drain' when the socket's buffer is full; rejects if it closes first. */
export function write(socket: Socket, data: Buffer | string): Promise<void> | undefined {
  if (socket.destroyed || !socket.writable) return Promise.reject(new ClosedError('socket closed'));
  if (socket.write(data)) return undefined;
  return new Promise<void>((resolve, reject) => {
    const done = (error?: Error) => { socket.off('drain', onDrain); socket.off('close', onClose); error ? reject(error) : resolve(); };
    const onDrain = () => done();
    const onClose = () => done(new ClosedError('socket closed'));
    socket.on('drain', onDrain);
    socket.on('close', onClose);
  });
}
