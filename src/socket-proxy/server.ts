/**
 * The proxy server on node:net: parses each request strictly, decides with the policy, and
 * forwards a re-serialized request (canonical target, our framing, the judged body bytes) to the
 * daemon's socket. Responses stream back with backpressure; hijacks tunnel only after the
 * daemon answered 101 (or its raw-stream 200 on exec/attach).
 */
import { connect, createServer, isIP, type Server, type Socket } from 'node:net';
import { chmodSync, existsSync, lstatSync, statSync, unlinkSync } from 'node:fs';
import { auditQuery, createAudit, startMetrics, type Audit } from './audit.js';
import { judgeBody, judgeQuery, parseForm } from './body.js';
import { ChunkedDecoder, encodeChunk, encodeChunkOf, findHeadEnd, HttpError, parseResponseHead, serializeRequestHead, type RequestHead } from './http.js';
import { parseRequest, type ParsedRequest } from './parsed.js';
import { SocketReader, write } from './io.js';
import { PolicyError, type Policy, type Verdict } from './policy.js';

export interface SocketProxyConfig {
  /** Where to listen: `HOST:PORT`, `:PORT`, `tcp://HOST:PORT`, `unix:///path` or an absolute path. */
  listen: string[];
  /** The daemon's socket. */
  socketPath: string;
  policy: Policy;
  /** Close streams idle this long (ms); 0 = never (default). Emulates Tecnativa's HAProxy timeouts. */
  idleTimeoutMs?: number;
  /** Prometheus metrics listener `HOST:PORT`. */
  metrics?: string;
  /** Audit sink; default stdout JSON lines. */
  audit?: Audit;
  logLevel?: string;
  /** Concurrent client connections per listener (default 4000, as Tecnativa's maxconn). */
  maxConnections?: number;
  /** Time allowed to send a complete request head (ms). Default 30 s. */
  headTimeoutMs?: number;
}

export interface RunningProxy {
  /** The first listener's address (`127.0.0.1:PORT` or the unix socket path). */
  address: string;
  addresses: string[];
  metricsAddress?: string;
  audit: Audit;
  close(): Promise<void>;
}

interface ListenSpec { kind: 'tcp'; host: string; port: number } 
type Listen = ListenSpec | { kind: 'unix'; path: string };

/** Parses and validates a listen address; bad ones throw PolicyError (one line, bad input). */
export function parseListen(spec: string): Listen {
  if (spec.startsWith('unix://') || spec.startsWith('/')) {
    const path = spec.startsWith('/') ? spec : spec.slice('unix://'.length);
    if (!path.startsWith('/')) throw new PolicyError(`listen address ${JSON.stringify(spec)}: a unix socket needs an absolute path (unix:///run/x.sock)`);
    return { kind: 'unix', path };
  }
  const s = spec.replace(/^tcp:\/\//, '');
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(s);
  if (!m) throw new PolicyError(`listen address ${JSON.stringify(spec)} is not HOST:PORT, :PORT or unix:///path`);
  const port = Number(m[3]);
  if (!Number.isInteger(port) || port > 65535) throw new PolicyError(`listen address ${JSON.stringify(spec)}: port ${m[3]} is out of range (0-65535)`);
  const host = m[1] ?? (m[2] || '::');
  if (m[1] !== undefined ? isIP(host) !== 6 : !isIP(host) && !/^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/.test(host)) {
    throw new PolicyError(`listen address ${JSON.stringify(spec)}: ${JSON.stringify(host)} is not an IP address or host name`);
  }
  return { kind: 'tcp', host, port };
}

/** Whether a listener is reachable only from this host (loopback or a unix socket). */
export function isLocalListen(spec: string): boolean {
  const listen = parseListen(spec);
  if (listen.kind === 'unix') return true;
  const host = listen.host.toLowerCase();
  return host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.')) || host === '::ffff:127.0.0.1';
}

/** Refuses a daemon socket that does not exist or is not a socket (instead of answering 502 later). */
export function checkDaemonSocket(path: string): void {
  let stat;
  try { stat = statSync(path); } catch (error) {
    throw new PolicyError(`docker socket ${path}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message}`);
  }
  if (!stat.isSocket()) throw new PolicyError(`docker socket ${path} is not a socket`);
}

const STATUS_TEXT: Record<number, string> = { 400: 'Bad Request', 403: 'Forbidden', 405: 'Method Not Allowed', 408: 'Request Timeout', 413: 'Payload Too Large', 417: 'Expectation Failed', 431: 'Request Header Fields Too Large', 501: 'Not Implemented', 502: 'Bad Gateway', 505: 'HTTP Version Not Supported' };

function errorResponse(status: number, message: string): Buffer {
  const body = JSON.stringify({ message: `berth socket-proxy: ${message}` }) + '\n';
  return Buffer.from(`HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`, 'latin1');
}

export async function startSocketProxy(config: SocketProxyConfig): Promise<RunningProxy> {
  const audit = config.audit ?? createAudit({ level: config.logLevel });
  const connections = new Set<Socket>();
  const servers: Server[] = [];
  const state: ProxyState = { closing: false };
  const addresses: string[] = [];
  const listenOn = (server: Server, spec: string, ...args: unknown[]) => new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => reject(new PolicyError(`cannot listen on ${spec}: ${error.code === 'EADDRINUSE' ? 'address already in use' : error.code === 'EADDRNOTAVAIL' ? 'no such address on this host' : error.code === 'EACCES' ? 'permission denied' : error.message}`)));
    (server.listen as (...a: unknown[]) => void)(...args, () => resolve());
  });
  const closeAll = () => Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  for (const spec of config.listen) {
    const listen = parseListen(spec);
    const server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
      connections.add(socket);
      socket.on('close', () => connections.delete(socket));
      socket.on('error', () => undefined);
      void handleConnection(socket, config, audit, state).catch(() => socket.destroy());
    });
    if (listen.kind === 'unix') {
      if (existsSync(listen.path) && lstatSync(listen.path).isSocket()) unlinkSync(listen.path);
      try { await listenOn(server, spec, listen.path); } catch (error) { await closeAll(); throw error; }
      chmodSync(listen.path, 0o660);
      addresses.push(listen.path);
    } else {
      try { await listenOn(server, spec, listen.port, listen.host); } catch (error) { await closeAll(); throw error; }
      const a = server.address();
      if (a && typeof a === 'object') addresses.push(`${a.address.includes(':') ? `[${a.address}]` : a.address}:${a.port}`);
    }
    server.maxConnections = config.maxConnections ?? 4000; // HAProxy's maxconn in Tecnativa's config
    servers.push(server);
  }
  let metrics: Awaited<ReturnType<typeof startMetrics>> | undefined;
  if (config.metrics) {
    const m = parseListen(config.metrics);
    if (m.kind !== 'tcp') throw new PolicyError('the metrics listener must be HOST:PORT');
    try { metrics = await startMetrics(audit.registry, m.host, m.port); } catch (error) {
      await closeAll();
      throw new PolicyError(`cannot serve metrics on ${config.metrics}: ${(error as NodeJS.ErrnoException).code === 'EADDRINUSE' ? 'address already in use' : (error as Error).message}`);
    }
  }
  return {
    address: addresses[0] ?? '',
    addresses,
    metricsAddress: metrics?.address,
    audit,
    async close() {
      state.closing = true;
      for (const s of connections) s.destroy();
      await new Promise<void>((resolve) => { try { audit.logger.flush(() => resolve()); } catch { resolve(); } });
      await Promise.all([...servers, ...(metrics ? [metrics.server] : [])].map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    },
  };
}

function clientAddress(socket: Socket): string {
  const a = socket.remoteAddress;
  if (!a) return 'unix';
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}

type HeadRead = { buf: Buffer; end: number } | null;

/** The next request head: synchronously when it is already buffered whole (the usual case). */
function readHead(reader: SocketReader, socket: Socket, timeoutMs: number): HeadRead | Promise<HeadRead> {
  const first = reader.next();
  if (first instanceof Promise) return readHeadSlowly(reader, socket, timeoutMs, first);
  if (!first) return null;
  const end = findHeadEnd(first);
  if (end < 0) return readHeadSlowly(reader, socket, timeoutMs, first);
  reader.unshift(first.subarray(end));
  return { buf: first.subarray(0, end), end };
}

async function readHeadSlowly(reader: SocketReader, socket: Socket, timeoutMs: number, first: Buffer | Promise<Buffer | null>): Promise<HeadRead> {
  let buf: Buffer = Buffer.alloc(0);
  let timer: NodeJS.Timeout | undefined;
  let pending: Buffer | null | Promise<Buffer | null> | undefined = first;
  try {
    for (;;) {
      const chunk = await (pending ?? reader.next());
      pending = undefined;
      if (!chunk) {
        if (buf.length) throw new HttpError(400, 'connection closed inside a request head');
        return null;
      }
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      const end = findHeadEnd(buf);
      if (end >= 0) {
        reader.unshift(buf.subarray(end));
        return { buf: buf.subarray(0, end), end };
      }
      timer ??= setTimeout(() => socket.destroy(), timeoutMs);
    }
  } finally {
    if (timer) clearTimeout(timer);
  }
}

class Upstream {
  readonly socket: Socket;
  readonly reader: SocketReader;
  private ready: Promise<void>;
  constructor(path: string) {
    this.socket = connect({ path, allowHalfOpen: true });
    this.socket.setNoDelay(true);
    this.socket.on('error', () => undefined);
    this.reader = new SocketReader(this.socket);
    this.ready = new Promise((resolve, reject) => {
      this.socket.once('connect', resolve);
      this.socket.once('error', reject);
    });
  }
  connected(): Promise<void> { return this.ready; }
  get usable(): boolean { return !this.socket.destroyed && this.socket.writable && !this.reader.isEnded; }
}

interface ProxyState { closing: boolean }

async function handleConnection(client: Socket, config: SocketProxyConfig, audit: Audit, state: ProxyState): Promise<void> {
  client.setNoDelay(true);
  const reader = new SocketReader(client);
  const who = clientAddress(client);
  let upstream: Upstream | undefined;
  const idle = config.idleTimeoutMs ?? 0;
  const finish = () => { upstream?.socket.destroy(); };
  client.on('close', finish);
  /** The client closed the connection: a response cut then is logged as the client's doing. */
  let clientClosed = false;
  client.on('close', () => { clientClosed = true; });
  // One idle handler per connection; requests only arm or disarm the timer.
  let idleCut = false;
  if (idle > 0) client.on('timeout', () => { idleCut = true; client.destroy(); upstream?.socket.destroy(); });

  /** Refuse a request: answer, stop reading it, close softly (keeps reading so the answer is not lost to a RST). */
  const refuse = async (status: number, message: string) => {
    client.write(errorResponse(status, message));
    client.end();
    reader.drainBuffered();
    const timer = setTimeout(() => client.destroy(), 2000);
    client.once('close', () => clearTimeout(timer));
    finish();
  };

  for (;;) {
    let headRead: HeadRead;
    try {
      // Wait for the next request with one plain promise, then read its head synchronously (a
      // head that came in pieces takes the slow path, under the head timeout).
      const waiting = reader.ready();
      if (waiting) await waiting;
      const read = readHead(reader, client, config.headTimeoutMs ?? 30_000);
      headRead = read instanceof Promise ? await read : read;
    } catch (error) {
      const status = error instanceof HttpError ? error.status : 400;
      audit.record({ client: who, method: '-', path: '-', verdict: 'error', rule: 'framing', reason: (error as Error).message, status, forwarded: false, durationMs: 0 });
      return refuse(status, (error as Error).message);
    }
    if (!headRead) { client.end(); finish(); return; }
    const started = performance.now();
    const ms = () => performance.now() - started;
    let parsed: ParsedRequest;
    try {
      parsed = parseRequest(headRead.buf, headRead.end);
    } catch (error) {
      const status = error instanceof HttpError ? error.status : 400;
      const line = headRead.buf.toString('latin1', 0, Math.min(200, headRead.buf.indexOf('\r\n'))).split(' ');
      const [path = '-', rawQuery] = (line[1] ?? '-').split(/\?(.*)/s);
      audit.record({ client: who, method: line[0] ?? '-', path, query: auditQuery(rawQuery ?? ''), verdict: 'error', rule: 'framing', reason: (error as Error).message, status, forwarded: false, durationMs: ms() });
      return refuse(status, (error as Error).message);
    }
    const { head, target, query, headersForLog, rawPath } = parsed;
    // `forwarded`: whether any byte of this request reached the daemon, so every line says what the daemon got.
    let forwarded = false;
    // The query is logged apart from the path, credentials redacted (the path stays as judged).
    const log = (verdict: 'allow' | 'deny' | 'error', rule: string, status: number, reason?: string, path = rawPath) =>
      audit.record({ client: who, method: head.method, path, query, verdict, rule, reason, status, forwarded, durationMs: ms(), headers: headersForLog, upgrade: head.upgrade !== undefined || undefined });

    if (!target.ok) { log('deny', 'path', 400, target.reason); return refuse(400, target.reason); }
    const verdict: Verdict = config.policy.decide({ method: head.method, route: target.route, client: who });
    if (!verdict.allow) { log('deny', verdict.rule, 403, verdict.reason, target.path); return refuse(403, `${verdict.reason} (rule ${verdict.rule})`); }

    // Upgrades: only the daemon's own hijack (Upgrade: tcp) on hijacking endpoints; never h2c.
    let upgrade: string | undefined;
    if (head.upgrade !== undefined) {
      const hijack = verdict.endpoint?.hijack === true;
      const ok = hijack && (head.upgrade === 'tcp' || (head.upgrade === 'websocket' && verdict.endpoint?.pattern.endsWith('/attach/ws')));
      if (!ok) { log('deny', 'upgrade', 400, `Upgrade: ${head.upgrade} is not relayed here`, target.path); return refuse(400, `Upgrade: ${head.upgrade} is not relayed${head.upgrade === 'h2c' ? ' (no HTTP/2)' : ''}`); }
      upgrade = head.upgrade;
    }

    // Framing before forwarding: every body is read and its framing validated before a byte of
    // the request reaches the daemon, so a malformed body can never leave the daemon acting on a
    // request the client was told was refused. Bounded bodies are read whole (maxBodyBytes when the
    // policy inspects them, BOUNDED_BODY_BYTES otherwise) and forwarded with a Content-Length;
    // only uploads (build contexts, image loads, archives) larger than that stream on after it.
    let wholeBody: Buffer | undefined;
    let upload: BodyStream | undefined;
    const queryKind = config.policy.body ? verdict.endpoint?.query : undefined;
    // Go's ParseForm reads a form body into the same values as the query: judge it too.
    const formBody = queryKind !== undefined && queryKind !== 'registry-name' && isFormBody(head);
    const inspect = (verdict.inspect !== undefined || formBody) && config.policy.body !== undefined;
    const judgeParams = (body: Buffer | undefined) => {
      const params = parseForm(target.query);
      const bodyParams = formBody && body ? parseForm(body.toString('latin1')) : [];
      return judgeQuery(queryKind!, params && bodyParams ? [...bodyParams, ...params] : null, target.route, config.policy.body!);
    };
    // A query judged alone (no form body) is judged before the body is read: a denied build or
    // import never has its upload buffered.
    if (queryKind && !formBody) {
      const v = judgeParams(undefined);
      if (!v.allow) { log('deny', v.rule, 403, v.reason, target.path); return refuse(403, `${v.reason} (rule ${v.rule})`); }
    }
    if (head.framing.kind !== 'none') {
      const limit = inspect ? config.policy.body!.maxBodyBytes : BOUNDED_BODY_BYTES;
      const streamable = !inspect && verdict.endpoint?.upload === true;
      const tooLarge = (bytes: string) => {
        const message = inspect ? `request body ${bytes}larger than ${limit} bytes is not inspected, so not forwarded` : `request body ${bytes}larger than ${limit} bytes on an endpoint that takes no upload`;
        log('deny', 'body:size', 413, message, target.path);
        return refuse(413, message);
      };
      if (head.framing.kind === 'length' && head.framing.length > limit && !streamable) return tooLarge(`of ${head.framing.length} bytes is `);
      if (head.expectContinue) client.write('HTTP/1.1 100 Continue\r\n\r\n');
      try {
        const read = await readBoundedBody(reader, head, limit);
        if (read.whole) wholeBody = read.whole;
        else if (streamable) upload = read;
        else return tooLarge('');
      } catch (error) {
        const status = error instanceof HttpError ? error.status : 400;
        log('deny', 'framing', status, (error as Error).message, target.path);
        return refuse(status, (error as Error).message);
      }
    }
    if (inspect && verdict.inspect) {
      const v = judgeBody(verdict.inspect, wholeBody ?? Buffer.alloc(0), config.policy.body!);
      if (!v.allow) { log('deny', v.rule, 403, v.reason, target.path); return refuse(403, `${v.reason} (rule ${v.rule})`); }
    }
    if (queryKind && formBody) {
      const v = judgeParams(wholeBody);
      if (!v.allow) { log('deny', v.rule, 403, v.reason, target.path); return refuse(403, `${v.reason} (rule ${v.rule})`); }
    }

    // Forward.
    if (!upstream || !upstream.usable) {
      upstream?.socket.destroy();
      upstream = new Upstream(config.socketPath);
      try { await upstream.connected(); } catch (error) {
        log('error', 'upstream', 502, (error as Error).message, target.path);
        return refuse(502, `cannot reach the daemon at ${config.socketPath}: ${(error as Error).message}`);
      }
    }
    const up = upstream;
    const framing = wholeBody !== undefined ? { length: wholeBody.length } : upload ? (head.framing.kind === 'chunked' ? { chunked: true } : { length: (head.framing as { length: number }).length }) : { length: 0 };
    const forwardedHead = !upload && wholeBody === undefined && parsed.forwardWithoutBody ? parsed.forwardWithoutBody : serializeRequestHead(head, target.target, framing, upgrade);
    const idleApplies = idle > 0 && verdict.endpoint?.section !== 'events' && !target.route.startsWith('/events');
    if (idleApplies) client.setTimeout(idle);

    let bodyDone = false;
    let bodyForward: Promise<void> | undefined;
    forwarded = true;
    if (!upload) {
      // The whole request in one write (no body at all for most requests): no pump, no promise.
      const written = write(up.socket, wholeBody?.length ? Buffer.concat([forwardedHead, wholeBody]) : forwardedHead);
      if (written) bodyForward = written.then(() => { bodyDone = true; });
      else bodyDone = true;
    } else {
      const stream = upload;
      bodyForward = (async () => {
        await write(up.socket, forwardedHead);
        await streamUpload(stream, up.socket, head.framing.kind === 'chunked');
        bodyDone = true;
      })();
    }
    let responseStarted = false;
    let uploadFailed = false;
    if (!upload) bodyForward?.catch(() => undefined); // a daemon gone mid-write shows in the response relay
    else bodyForward?.catch((error) => {
      // Only a streamed upload can fail here (a framing error past the bounded part, or the client
      // gone): the daemon got a truncated upload, and its connection is closed so it cannot take it
      // as complete. The audit line says so.
      uploadFailed = true;
      up.socket.destroy();
      const why = error instanceof HttpError ? error.message : 'the client closed the connection inside the upload';
      const reason = `${why}; ${upload!.forwarded} bytes of the upload had reached the daemon, which got its connection closed (a truncated upload${responseStarted ? ', after it had answered' : ''})`;
      if (!responseStarted && error instanceof HttpError) {
        log('error', 'framing', error.status, reason, target.path);
        void refuse(error.status, error.message);
      } else {
        log('error', 'framing', 499, reason, target.path);
        client.destroy();
      }
    });

    // Leaked streams: a client that goes away from a stream (events with a filter that never
    // matches, logs -f of a silent container) would otherwise hold both sockets until the daemon
    // writes. Its EOF ends the stream at once, both sides released, as the daemon's own Go server
    // cancels a request whose client sent EOF. Other responses are bounded: they finish first.
    let clientLeft: string | undefined;
    let onClientEnd: (() => void) | undefined;
    if (verdict.endpoint?.stream && !upgrade) {
      onClientEnd = () => { clientLeft ??= 'the client ended the connection (EOF) during the stream'; up.socket.destroy(); client.destroy(); };
      if (reader.sawEnd && reader.pending === 0) onClientEnd();
      else client.once('end', onClientEnd);
    }
    let outcome: Outcome;
    try {
      // The usual response (a head and a Content-Length body, here in one read) is relayed
      // synchronously; everything else (partial, chunked, 1xx, upgrades, hijacks) by relayResponse.
      const waiting = up.reader.ready();
      if (waiting) await waiting;
      const markStarted = () => { responseStarted = true; };
      const buffered = upgrade === undefined ? relayBufferedResponse(up, client, head, markStarted) : undefined;
      if (buffered?.drain) await buffered.drain;
      outcome = buffered ?? await relayResponse(up, client, head, verdict, upgrade !== undefined, markStarted);
    } catch (error) {
      if (uploadFailed) return; // logged and answered above
      // A client that went away mid-response (Ctrl-C on logs -f) is not the daemon's failure.
      if (state.closing) log('allow', verdict.rule, 503, 'the proxy shut down during the response; both sides closed', target.path);
      else if (idleCut) log('allow', verdict.rule, 408, `idle for ${idle / 1000} s: cut (idle timeout), both sides closed`, target.path);
      else if (clientLeft || clientClosed || (client.destroyed && !up.socket.destroyed)) log('allow', verdict.rule, 499, `${clientLeft ?? 'the client closed the connection'}; the daemon connection was released with it`, target.path);
      else log('error', verdict.rule, 502, (error as Error).message, target.path);
      client.destroy();
      up.socket.destroy();
      return;
    } finally {
      if (onClientEnd) client.off('end', onClientEnd);
    }
    if (outcome.tunnel) {
      try { await bodyForward; } catch { return; }
      log('allow', verdict.rule, outcome.status, undefined, target.path);
      if (!idleApplies && idle > 0) client.setTimeout(0);
      return tunnel(reader, client, up, (reason) => { if (!state.closing) log('allow', verdict.rule, 499, reason, target.path); });
    }
    if (idleApplies) client.setTimeout(0);
    log('allow', verdict.rule, outcome.status, undefined, target.path);
    // The last body write may still be completing when the answer is already here: give it a moment.
    if (!bodyDone) await Promise.race([bodyForward?.catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 50))]);
    if (!bodyDone) { client.end(); up.socket.destroy(); return; } // the daemon answered before taking the whole body
    if (outcome.close) { up.socket.destroy(); upstream = undefined; }
    if (!head.keepAlive || outcome.endClient) { client.end(); finish(); return; }
  }
}

/** Whether Go's ParseForm would read this request's body as form values (any Content-Type header says so). */
function isFormBody(head: RequestHead): boolean {
  return head.framing.kind !== 'none' && head.headers.some(([name, value]) => name.toLowerCase() === 'content-type' && value.split(';')[0]!.trim().toLowerCase() === 'application/x-www-form-urlencoded');
}

/**
 * The request body's bytes as they arrive: exactly Content-Length bytes, or the decoded data of
 * validated chunks. Bytes past the body stay in the reader for the next request.
 */
async function* bodyPieces(reader: SocketReader, head: RequestHead): AsyncGenerator<Buffer> {
  if (head.framing.kind === 'none') return;
  if (head.framing.kind === 'length') {
    let remaining = head.framing.length;
    while (remaining > 0) {
      const chunk = await reader.next();
      if (!chunk) throw new HttpError(400, 'connection closed inside the request body');
      const take = chunk.subarray(0, remaining);
      reader.unshift(chunk.subarray(take.length));
      remaining -= take.length;
      yield take;
    }
    return;
  }
  const decoder = new ChunkedDecoder();
  while (!decoder.done) {
    const chunk = await reader.next();
    if (!chunk) throw new HttpError(400, 'connection closed inside the chunked request body');
    const { data, consumed } = decoder.feed(chunk);
    reader.unshift(chunk.subarray(consumed));
    yield* data;
  }
}

/** Bodies on endpoints that take no upload, and the part of an upload read before forwarding. */
const BOUNDED_BODY_BYTES = 2 * 1024 * 1024;

/** A body larger than the bounded read: what was read so far, and the rest still to come. */
interface BodyStream { whole?: undefined; prefix: Buffer[]; rest: AsyncGenerator<Buffer>; forwarded: number }

/** Reads a body whole when it fits in `limit`; else returns what was read and the rest as a stream. */
async function readBoundedBody(reader: SocketReader, head: RequestHead, limit: number): Promise<{ whole: Buffer } | BodyStream> {
  const pieces = bodyPieces(reader, head);
  const parts: Buffer[] = [];
  let total = 0;
  for (;;) {
    const next = await pieces.next();
    if (next.done) return { whole: parts.length === 1 ? parts[0]! : Buffer.concat(parts) };
    parts.push(next.value);
    total += next.value.length;
    if (total > limit) return { prefix: parts, rest: pieces, forwarded: 0 };
  }
}

/** Streams an upload on: the part already read, then the rest (validated chunks re-encoded). */
async function streamUpload(stream: BodyStream, up: Socket, chunked: boolean): Promise<void> {
  const send = async (piece: Buffer) => {
    await write(up, chunked ? Buffer.concat(encodeChunk(piece)) : piece);
    stream.forwarded += piece.length;
  };
  for (const piece of stream.prefix) if (piece.length) await send(piece);
  for await (const piece of stream.rest) if (piece.length) await send(piece);
  if (chunked) await write(up, '0\r\n\r\n');
}

type Outcome = { status: number; close: boolean; tunnel: boolean; endClient?: boolean };

/**
 * Relays a response already buffered whole in the daemon connection's first chunk (a final status,
 * a Content-Length body or none), in one write, without waiting; undefined (nothing consumed) for
 * every other response. `drain` is set when the client's buffer is full.
 */
function relayBufferedResponse(up: Upstream, client: Socket, head: RequestHead, started: () => void): (Outcome & { drain?: Promise<void> }) | undefined {
  const chunk = up.reader.peek();
  if (!chunk) return undefined;
  const i = chunk.indexOf('\r\n\r\n', 0, 'latin1');
  if (i < 0) return undefined;
  const end = i + 4;
  const response = parseResponseHead(chunk, end, head.method);
  if (response.status < 200) return undefined;
  const bodyBytes = response.framing.kind === 'none' ? 0 : response.framing.kind === 'length' ? response.framing.length : -1;
  if (bodyBytes < 0 || chunk.length < end + bodyBytes) return undefined;
  started();
  const written = write(client, up.reader.takeBuffered(end + bodyBytes)!);
  return { status: response.status, close: response.close, tunnel: false, drain: written };
}

/** Relays one response. Returns whether to tunnel (hijack) afterwards. */
async function relayResponse(up: Upstream, client: Socket, head: RequestHead, verdict: Verdict, upgradeRequested: boolean, started: () => void): Promise<Outcome> {
  for (;;) {
    let buf: Buffer = Buffer.alloc(0);
    let end = -1;
    while (end < 0) {
      const chunk = await up.reader.next();
      if (!chunk) throw new Error('the daemon closed the connection before answering');
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      const i = buf.indexOf('\r\n\r\n', 0, 'latin1');
      if (i >= 0) end = i + 4;
      else if (buf.length > 256 * 1024) throw new Error('response head from the daemon too large');
    }
    up.reader.unshift(buf.subarray(end));
    started();
    const response = parseResponseHead(buf, end, head.method);
    if (response.status === 101) {
      if (!upgradeRequested) throw new Error('the daemon switched protocols without an upgrade request');
      await write(client, buf.subarray(0, end));
      return { status: 101, close: true, tunnel: true };
    }
    if (response.status >= 100 && response.status < 200) {
      if (!head.expectContinue) await write(client, buf.subarray(0, end)); // 100 Continue we already sent ourselves
      continue;
    }
    // The daemon's raw-stream hijack without Upgrade: 200 with no framing on exec start / attach.
    if (response.framing.kind === 'close' && verdict.endpoint?.hijack && response.status === 200 && /vnd\.docker\.(raw|multiplexed)-stream/.test(response.contentType)) {
      await write(client, buf.subarray(0, end));
      return { status: 200, close: true, tunnel: true };
    }
    const framing = response.framing;
    if (framing.kind === 'length') {
      // Head and the body bytes already here go out in one write (no copy when they came in one read).
      if (buf.length >= end + framing.length) {
        up.reader.takeBuffered(framing.length); // the body's bytes, unshifted above: drop them from the reader
        const w = write(client, buf.subarray(0, end + framing.length));
        if (w) await w;
        return { status: response.status, close: response.close, tunnel: false };
      }
      const first = up.reader.takeBuffered(framing.length);
      await write(client, first ? Buffer.concat([buf.subarray(0, end), first]) : buf.subarray(0, end));
      let remaining = framing.length - (first?.length ?? 0);
      while (remaining > 0) {
        const chunk = await up.reader.next();
        if (!chunk) throw new Error('the daemon closed the connection inside a response');
        const take = chunk.subarray(0, remaining);
        up.reader.unshift(chunk.subarray(take.length));
        remaining -= take.length;
        await write(client, take);
      }
    } else if (framing.kind === 'chunked') {
      await relayChunked(up, client, buf.subarray(0, end), isJsonStream(response.contentType));
    } else if (framing.kind === 'close') {
      await write(client, buf.subarray(0, end));
      for (;;) {
        const chunk = await up.reader.next();
        if (!chunk) break;
        await write(client, chunk);
      }
      return { status: response.status, close: true, tunnel: false, endClient: true };
    }
    else await write(client, buf.subarray(0, end));
    return { status: response.status, close: response.close, tunnel: false };
  }
}

const LAST_CHUNK = Buffer.from('0\r\n\r\n', 'latin1');

/** JSON streams (events, stats, pull and build progress): a message per daemon chunk. */
function isJsonStream(contentType: string): boolean {
  return /^application\/([\w.+-]*\+)?(x-)?json(-stream)?\b/.test(contentType);
}

/** Reads up to this size holding one whole chunk are passed on as they came (see relayChunked). */
const RAW_READ_BYTES = 4096;

/** A daemon chunk bigger than this is passed on in pieces even in a JSON stream (bounded memory). */
const HOLD_LIMIT = 64 * 1024;

/**
 * Relays a chunked response body re-chunked: the chunks already read go out as one chunk in one
 * write, and nothing waits for more. The daemon writes a chunk per log line or event, and fewer,
 * larger chunks cost the client much less to parse (HAProxy, so Tecnativa's proxy, merges too).
 * In a JSON stream a merged chunk still ends where a daemon chunk ended: a message split across
 * reads is held until its end arrives (already on its way), so a client that parses each chunk as
 * newline-separated messages never sees half of one. HAProxy gives no such guarantee.
 */
function relayChunked(up: Upstream, client: Socket, head: Buffer, wholeMessages: boolean): Promise<void> {
  const decoder = new ChunkedDecoder();
  let out: Buffer[] = [head];
  let data: Buffer[] = [];
  let dataBytes = 0;
  let lastChunkSent = false;
  /** Moves the data into one chunk of `out`, keeping the last `hold` bytes back. */
  const takeData = (hold: number) => {
    const bytes = dataBytes - hold;
    if (bytes <= 0) return;
    let taken = 0;
    let n = 0;
    while (n < data.length && taken + data[n]!.length <= bytes) taken += data[n++]!.length;
    const rest = data.slice(n);
    const pieces = data.slice(0, n);
    if (taken < bytes) {
      pieces.push(rest[0]!.subarray(0, bytes - taken));
      rest[0] = rest[0]!.subarray(bytes - taken);
    }
    out.push(encodeChunkOf(pieces, bytes));
    data = rest;
    dataBytes = hold;
  };
  const flush = () => {
    const partial = decoder.partial;
    takeData(wholeMessages && partial <= HOLD_LIMIT ? partial : 0);
    if (!out.length) return undefined;
    const bytes = out.length === 1 ? out[0]! : Buffer.concat(out);
    out = [];
    return write(client, bytes);
  };
  // Push mode: each read of the daemon's is decoded and written in its 'data' event, no promise
  // per read (an event stream is a read per event); the one promise settles with the response.
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    const fail = (error: unknown) => {
      if (settled) return;
      settled = true;
      up.reader.detach();
      reject(error);
    };
    const onRead = (chunk: Buffer | null) => {
      if (settled) return;
      if (!chunk) return fail(new Error('the daemon closed the connection inside a response'));
      let consumed: number;
      try {
        // A read of one whole chunk (an event, a log line, as the daemon flushes them) goes out
        // as the daemon's own bytes, once validated: nothing copied. Reads of several are merged:
        // a client parses one chunk for them (a 'data' event each in Node's client) for less.
        const small = chunk.length <= RAW_READ_BYTES && dataBytes === 0 && decoder.atBoundary;
        const fed = decoder.feed(chunk, !small); // a big read is ours: decoded in place
        consumed = fed.consumed;
        if (small && fed.data.length <= 1 && (decoder.atBoundary || decoder.done)) {
          out.push(consumed === chunk.length ? chunk : chunk.subarray(0, consumed));
          lastChunkSent = decoder.done;
        } else for (const piece of fed.data) { data.push(piece); dataBytes += piece.length; }
      } catch (error) {
        return fail(error);
      }
      if (decoder.done) {
        // The bytes after the body belong to the next response: back to the reader.
        settled = true;
        up.reader.detach();
        up.reader.unshift(chunk.subarray(consumed));
        takeData(0);
        if (!lastChunkSent) out.push(LAST_CHUNK);
        const written = flush();
        if (written) written.then(resolve, reject);
        else resolve();
        return;
      }
      sendOut();
    };
    const sendOut = () => {
      const written = flush();
      if (written) { // the client's buffer is full: the daemon waits
        up.socket.pause();
        written.then(() => { if (!settled) up.socket.resume(); }, fail);
      }
    };
    up.reader.attach(onRead);
    // The head goes out at once, body or not yet: a client may wait for it before its next
    // request (docker run waits for /wait's head, then starts the container).
    if (!settled && out.length) sendOut();
  });
}

/**
 * Raw bidirectional relay after a hijack, half-closes passed through, backpressure both ways.
 * The client side is watched: when it closes (or errors) while the daemon side is still open,
 * both are released at once and logged. A half-close is passed on (the docker CLI half-closes
 * exec's stdin and keeps reading); TCP keepalive then finds a client that is gone for good.
 */
async function tunnel(reader: SocketReader, client: Socket, up: Upstream, logGone: (reason: string) => void): Promise<void> {
  let daemonDone = false;
  let released = false;
  const onClose = () => {
    if (daemonDone || released) return;
    released = true;
    up.socket.destroy();
    logGone('the client closed the hijacked connection; the daemon connection was released with it');
  };
  client.once('close', onClose);
  const pump = async (from: SocketReader, to: Socket, fromClient: boolean) => {
    for (;;) {
      const chunk = await from.next();
      if (!chunk) {
        if (fromClient && !client.destroyed && client.remoteAddress) client.setKeepAlive(true, 10_000);
        if (!fromClient) daemonDone = true;
        if (!to.destroyed) to.end();
        return;
      }
      await write(to, chunk);
    }
  };
  try {
    await Promise.all([pump(reader, up.socket, true), pump(up.reader, client, false)]);
  } catch {
    onClose();
    client.destroy();
    up.socket.destroy();
  } finally {
    client.off('close', onClose);
  }
}
