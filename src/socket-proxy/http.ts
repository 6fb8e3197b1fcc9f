/**
 * Strict HTTP/1.1 framing, written against the bytes: node:http normalizes and tolerates things
 * (duplicate headers, bare LF, obs-fold) that are smuggling vectors for a filtering proxy.
 */

export const MAX_HEAD_BYTES = 64 * 1024;
export const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE']);

export class HttpError extends Error {
  constructor(readonly status: number, message: string) { super(message); }
}

export interface RequestHead {
  method: string;
  target: string;
  version: '1.0' | '1.1';
  /** Header lines in order, names as sent, values trimmed. */
  headers: [string, string][];
  /** Body framing. */
  framing: { kind: 'none' } | { kind: 'length'; length: number } | { kind: 'chunked' };
  keepAlive: boolean;
  /** Lowercased Upgrade protocol, if the client asked for one. */
  upgrade?: string;
  expectContinue: boolean;
  /** Bytes of the head including the final CRLFCRLF. */
  headLength: number;
}

/** Returns the index just past the head's CRLFCRLF, or -1 when incomplete. Throws on bare LF. */
export function findHeadEnd(buf: Buffer, limit = MAX_HEAD_BYTES): number {
  const end = buf.indexOf('\r\n\r\n', 0, 'latin1');
  const scanTo = end < 0 ? buf.length : end;
  // A bare LF (not preceded by CR) anywhere in the head is refused: parsers disagree on it.
  for (let i = buf.indexOf(10); i >= 0 && i < scanTo; i = buf.indexOf(10, i + 1)) {
    if (i === 0 || buf[i - 1] !== 13) throw new HttpError(400, 'bare LF in request head');
  }
  if (end < 0) {
    if (buf.length > limit) throw new HttpError(431, 'request head too large');
    return -1;
  }
  if (end + 4 > limit) throw new HttpError(431, 'request head too large');
  return end + 4;
}

/** Bytes allowed in a token (method, header name), by char code. */
const TOKEN_CHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") TOKEN_CHAR[c.charCodeAt(0)] = 1;

function isToken(s: string, from: number, to: number): boolean {
  if (to <= from) return false;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c > 127 || !TOKEN_CHAR[c]) return false;
  }
  return true;
}

/**
 * Parses a request head strictly. Written as one scan over the head's text (no split, no regex
 * per header): it runs for every request, and is the same grammar as before: header names are
 * tokens, values visible ASCII, SP and HTAB (obs-text, >= 0x80, is refused too).
 */
export function parseRequestHead(buf: Buffer, headLength: number): RequestHead {
  return parseRequestHeadText(buf.toString('latin1', 0, headLength - 4), headLength);
}

/** parseRequestHead on the head's text (latin1, without the final CRLFCRLF). */
export function parseRequestHeadText(text: string, headLength: number): RequestHead {
  let lineEnd = text.indexOf('\r\n');
  if (lineEnd < 0) lineEnd = text.length;
  const builder = new RequestHeadBuilder(text.slice(0, lineEnd));
  for (let start = lineEnd + 2; start <= text.length && lineEnd < text.length; start = lineEnd + 2) {
    lineEnd = text.indexOf('\r\n', start);
    if (lineEnd < 0) lineEnd = text.length;
    if (lineEnd === start) throw new HttpError(400, 'empty header line');
    const first = text.charCodeAt(start);
    if (first === 0x20 || first === 0x09) throw new HttpError(400, 'obsolete line folding in headers');
    const colon = text.indexOf(':', start);
    if (colon < 0 || colon >= lineEnd || colon === start) throw new HttpError(400, 'malformed header line');
    const name = text.slice(start, colon);
    if (!isToken(text, start, colon)) throw new HttpError(400, `malformed header name ${JSON.stringify(name)}`);
    // The value without the spaces and tabs around it; visible ASCII, SP and HTAB only (no obs-text).
    let from = colon + 1;
    let to = lineEnd;
    while (from < to && (text.charCodeAt(from) === 0x20 || text.charCodeAt(from) === 0x09)) from++;
    while (to > from && (text.charCodeAt(to - 1) === 0x20 || text.charCodeAt(to - 1) === 0x09)) to--;
    for (let i = from; i < to; i++) {
      const c = text.charCodeAt(i);
      if ((c < 0x20 && c !== 0x09) || c > 0x7e) throw new HttpError(400, `control or non-ASCII byte in header ${name}`);
    }
    builder.add(name, text.slice(from, to));
  }
  return builder.build(headLength);
}

/**
 * What a request line and header lines mean (framing, connection, upgrade), once a parser has
 * split and checked them: kept apart from the scanning so every parser means the same.
 */
export class RequestHeadBuilder {
  private readonly method: string;
  private readonly target: string;
  private readonly proto: string;
  private readonly headers: [string, string][] = [];
  private contentLength: number | undefined;
  private chunked = false;
  private transferEncodingSeen = false;
  private hosts = 0;
  private readonly connection: string[] = [];
  private upgrade: string | undefined;
  private expectContinue = false;

  constructor(requestLine: string) {
    if (requestLine.startsWith('PRI * HTTP/2')) throw new HttpError(400, 'HTTP/2 is not relayed');
    const parts = requestLine.split(' ');
    if (parts.length !== 3) throw new HttpError(400, 'malformed request line');
    const [method, target, proto] = parts as [string, string, string];
    if (!isToken(method, 0, method.length)) throw new HttpError(400, 'malformed method');
    if (!METHODS.has(method)) throw new HttpError(405, `method ${method} is not allowed`);
    if (proto !== 'HTTP/1.1' && proto !== 'HTTP/1.0') throw new HttpError(proto.startsWith('HTTP/2') ? 400 : 505, `unsupported protocol ${proto}`);
    this.method = method;
    this.target = target;
    this.proto = proto;
  }

  /** A header line: its name as sent and its value, trimmed and checked. */
  add(name: string, value: string): void {
    switch (name.toLowerCase()) {
      case 'content-length':
        if (this.contentLength !== undefined) throw new HttpError(400, 'duplicate Content-Length');
        if (!/^\d{1,15}$/.test(value)) throw new HttpError(400, 'invalid Content-Length');
        this.contentLength = Number(value);
        return;
      case 'transfer-encoding':
        if (this.transferEncodingSeen) throw new HttpError(400, 'duplicate Transfer-Encoding');
        this.transferEncodingSeen = true;
        if (value.toLowerCase() !== 'chunked') throw new HttpError(501, `Transfer-Encoding ${JSON.stringify(value)} is not supported (only chunked)`);
        this.chunked = true;
        return;
      case 'host':
        this.hosts++;
        break;
      case 'connection':
        for (const token of value.toLowerCase().split(',')) { const t = token.trim(); if (t) this.connection.push(t); }
        return;
      case 'upgrade':
        if (this.upgrade !== undefined) throw new HttpError(400, 'duplicate Upgrade');
        this.upgrade = value.toLowerCase();
        return;
      case 'expect':
        if (value.toLowerCase() !== '100-continue') throw new HttpError(417, 'unsupported Expect');
        this.expectContinue = true;
        return;
      case 'keep-alive': case 'proxy-connection': case 'te': case 'trailer': case 'http2-settings':
        return;
    }
    this.headers.push([name, value]);
  }

  build(headLength: number): RequestHead {
    const { proto, chunked, contentLength, connection } = this;
    if (contentLength !== undefined && chunked) throw new HttpError(400, 'both Content-Length and Transfer-Encoding');
    if (this.hosts > 1) throw new HttpError(400, 'duplicate Host');
    if (proto === 'HTTP/1.0' && chunked) throw new HttpError(400, 'chunked with HTTP/1.0');
    const keepAlive = proto === 'HTTP/1.1' ? !connection.includes('close') : connection.includes('keep-alive');
    // Not an upgrade request without Connection: upgrade.
    const upgrade = this.upgrade !== undefined && connection.includes('upgrade') ? this.upgrade : undefined;
    return {
      method: this.method, target: this.target, version: proto === 'HTTP/1.1' ? '1.1' : '1.0', headers: this.headers, keepAlive, upgrade, expectContinue: this.expectContinue, headLength,
      framing: chunked ? { kind: 'chunked' } : contentLength !== undefined && contentLength > 0 ? { kind: 'length', length: contentLength } : { kind: 'none' },
    };
  }
}

/** Serializes the head we forward: canonical request line, kept headers, our own framing. */
export function serializeRequestHead(head: RequestHead, target: string, framing: { length?: number; chunked?: boolean }, upgrade?: string): Buffer {
  // HTTP/1.0 stays 1.0 so the daemon does not answer with chunked framing the client cannot read.
  let out = `${head.method} ${target} HTTP/${head.version}\r\n`;
  let host = false;
  for (const [name, value] of head.headers) {
    if (name.toLowerCase() === 'host') host = true;
    out += `${name}: ${value}\r\n`;
  }
  if (!host) out += 'Host: docker\r\n';
  if (framing.chunked) out += 'Transfer-Encoding: chunked\r\n';
  else if (framing.length !== undefined && (framing.length > 0 || head.method === 'POST' || head.method === 'PUT')) out += `Content-Length: ${framing.length}\r\n`;
  if (upgrade) out += `Connection: Upgrade\r\nUpgrade: ${upgrade}\r\n`;
  out += '\r\n';
  return Buffer.from(out, 'latin1');
}

/**
 * Incremental chunked-body decoder (RFC 9112 §7.1), strict: hex sizes only (no sign, no
 * 0x, bounded length), chunk extensions tolerated only as `;token[=value]`, CRLF everywhere,
 * trailers refused. Feed bytes; it returns decoded data and how many input bytes it consumed.
 */
export class ChunkedDecoder {
  private state: 'size' | 'data' | 'data-crlf' | 'trailer' | 'done' = 'size';
  private remaining = 0;
  private size = 0;
  private line = '';
  done = false;

  /** Whether the bytes fed so far end exactly between two chunks (or at the start of the body). */
  get atBoundary(): boolean {
    return this.state === 'size' && this.line === '';
  }

  /** Data bytes of a chunk that has begun but not ended (its start was already returned). */
  get partial(): number {
    return this.state === 'data' ? this.size - this.remaining : 0;
  }

  /**
   * Consumes from buf; returns [decoded pieces, bytes consumed]. Stops at the end of the body.
   * `inPlace` moves the decoded data to the front of buf and returns it as one piece: no object
   * per chunk (the daemon's logs come as one 85-byte chunk per line). buf's bytes before
   * `consumed` are overwritten then.
   */
  feed(buf: Buffer, inPlace = false): { data: Buffer[]; consumed: number } {
    const data: Buffer[] = [];
    let i = 0;
    let w = 0;
    while (i < buf.length && this.state !== 'done') {
      if (this.state === 'data') {
        const n = Math.min(this.remaining, buf.length - i);
        if (!inPlace) data.push(buf.subarray(i, i + n));
        else if (w !== i) buf.copyWithin(w, i, i + n);
        w += n;
        i += n;
        this.remaining -= n;
        if (this.remaining === 0) { this.state = 'data-crlf'; this.line = ''; }
        continue;
      }
      // Fast paths for whole lines in the usual form (the daemon flushes a chunk per log line):
      // the CRLF after data, and a bare hex size. Anything else goes byte by byte below.
      if (this.line === '') {
        if (this.state === 'data-crlf' && buf[i] === 13 && buf[i + 1] === 10) { i += 2; this.state = 'size'; continue; }
        if (this.state === 'size') {
          let j = i;
          let size = 0;
          for (let h: number; j < buf.length && j - i < 12 && (h = HEX_VALUE[buf[j]!]!) < 16; j++) size = size * 16 + h;
          if (j > i && buf[j] === 13 && buf[j + 1] === 10) {
            i = j + 2;
            this.remaining = this.size = size;
            this.state = size === 0 ? 'trailer' : 'data';
            continue;
          }
        }
      }
      // line-oriented states
      const byte = buf[i++]!;
      if (byte === 10) {
        if (!this.line.endsWith('\r')) throw new HttpError(400, 'bare LF in chunked body');
        const line = this.line.slice(0, -1);
        this.line = '';
        if (this.state === 'size') {
          const m = /^([0-9A-Fa-f]{1,12})(?:;[!#$%&'*+\-.^_`|~0-9A-Za-z]+(?:=(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+|"[^"\\]*"))?)*$/.exec(line);
          if (!m) throw new HttpError(400, 'invalid chunk size');
          this.remaining = this.size = parseInt(m[1]!, 16);
          this.state = this.remaining === 0 ? 'trailer' : 'data';
        } else if (this.state === 'data-crlf') {
          if (line !== '') throw new HttpError(400, 'chunk data longer than its size');
          this.state = 'size';
        } else if (this.state === 'trailer') {
          if (line !== '') throw new HttpError(400, 'trailers are not accepted');
          this.state = 'done';
          this.done = true;
        }
        continue;
      }
      if (this.state === 'data-crlf' && byte !== 13) throw new HttpError(400, 'chunk data longer than its size');
      this.line += String.fromCharCode(byte);
      if (this.line.length > 4096) throw new HttpError(400, 'chunk line too long');
    }
    if (inPlace && w) data.push(buf.subarray(0, w));
    return { data, consumed: i };
  }
}

/** Hex digit values by byte; 16 for anything else. */
const HEX_VALUE = new Uint8Array(256).fill(16);
for (let c = 0; c < 16; c++) { HEX_VALUE['0123456789abcdef'.charCodeAt(c)] = c; HEX_VALUE['0123456789ABCDEF'.charCodeAt(c)] = c; }

export function encodeChunk(data: Buffer): Buffer[] {
  return data.length ? [Buffer.from(`${data.length.toString(16)}\r\n`, 'latin1'), data, Buffer.from('\r\n', 'latin1')] : [];
}

const HEX_DIGIT = Buffer.from('0123456789abcdef', 'latin1');

/** One chunk holding `pieces` (`bytes` long in all): its size line, the data, CRLF, in one buffer. */
export function encodeChunkOf(pieces: Buffer[], bytes: number): Buffer {
  let digits = 1;
  while (bytes >= 16 ** digits) digits++;
  const out = Buffer.allocUnsafe(digits + 2 + bytes + 2);
  for (let i = digits - 1, n = bytes; i >= 0; i--, n = Math.floor(n / 16)) out[i] = HEX_DIGIT[n % 16]!;
  out[digits] = 13;
  out[digits + 1] = 10;
  let at = digits + 2;
  for (const piece of pieces) { out.set(piece, at); at += piece.length; }
  out[at] = 13;
  out[at + 1] = 10;
  return out;
}

/** The daemon's response head, parsed just enough to find where the response ends. */
export interface ResponseHead {
  status: number;
  headLength: number;
  framing: { kind: 'none' } | { kind: 'length'; length: number } | { kind: 'chunked' } | { kind: 'close' };
  close: boolean;
  contentType: string;
}

/**
 * Parsed response heads by their text, for GET and for HEAD: the daemon's heads repeat byte for
 * byte (its Date changes once a second), and the result is a pure function of the bytes. Bounded:
 * cleared when full. The results are frozen: every caller shares them.
 */
const RESPONSE_CACHE_ENTRIES = 64;
const responseCache = { GET: new Map<string, ResponseHead>(), HEAD: new Map<string, ResponseHead>() };

export function parseResponseHead(buf: Buffer, headLength: number, requestMethod: string): ResponseHead {
  const text = buf.toString('latin1', 0, headLength - 4);
  const cache = requestMethod === 'HEAD' ? responseCache.HEAD : responseCache.GET;
  const hit = cache.get(text);
  if (hit) return hit;
  const head = parseResponseHeadText(text, headLength, requestMethod);
  if (text.length <= 1024) {
    if (cache.size >= RESPONSE_CACHE_ENTRIES) cache.clear();
    Object.freeze(head.framing);
    cache.set(text, Object.freeze(head));
  }
  return head;
}

function parseResponseHeadText(text: string, headLength: number, requestMethod: string): ResponseHead {
  // One scan over the lines (LF or CRLF); only the four headers that frame the response are read.
  let lineEnd = text.indexOf('\n');
  if (lineEnd < 0) lineEnd = text.length;
  const builder = new ResponseHeadBuilder(text.slice(0, text.charCodeAt(lineEnd - 1) === 13 ? lineEnd - 1 : lineEnd));
  for (let start = lineEnd + 1; start < text.length; start = lineEnd + 1) {
    lineEnd = text.indexOf('\n', start);
    if (lineEnd < 0) lineEnd = text.length;
    const stop = text.charCodeAt(lineEnd - 1) === 13 ? lineEnd - 1 : lineEnd;
    const colon = text.indexOf(':', start);
    if (colon <= start || colon >= stop) continue;
    // content-length, content-type, connection, transfer-encoding: the rest is skipped unread
    const c = text.charCodeAt(start) | 0x20;
    if (c !== 0x63 && c !== 0x74 && text.charCodeAt(start) > 0x20) continue;
    builder.add(text.slice(start, colon).trim().toLowerCase(), text.slice(colon + 1, stop).trim());
  }
  return builder.build(headLength, requestMethod);
}

/** What a response's status line and headers say about where it ends (for every parser alike). */
export class ResponseHeadBuilder {
  private readonly status: number;
  private length: number | undefined;
  private chunked = false;
  private close: boolean;
  private contentType = '';

  constructor(statusLine: string) {
    const m = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(statusLine);
    if (!m) throw new HttpError(502, 'malformed response from the daemon');
    this.status = Number(m[1]);
    this.close = statusLine.startsWith('HTTP/1.0');
  }

  /** A header: its name lower-cased, its value trimmed. */
  add(name: string, value: string): void {
    if (name === 'content-length') {
      if (this.length !== undefined && this.length !== Number(value)) throw new HttpError(502, 'conflicting Content-Length from the daemon');
      this.length = Number(value);
    } else if (name === 'transfer-encoding') this.chunked = value.toLowerCase().split(',').map((s) => s.trim()).includes('chunked');
    else if (name === 'connection') this.close = value.toLowerCase().split(',').map((s) => s.trim()).includes('close');
    else if (name === 'content-type') this.contentType = value.toLowerCase();
  }

  build(headLength: number, requestMethod: string): ResponseHead {
    const { status, length } = this;
    let framing: ResponseHead['framing'];
    if (requestMethod === 'HEAD' || status === 204 || status === 304 || (status >= 100 && status < 200)) framing = { kind: 'none' };
    else if (this.chunked) framing = { kind: 'chunked' };
    else if (length !== undefined && Number.isFinite(length)) framing = { kind: 'length', length };
    else framing = { kind: 'close' };
    return { status, headLength, framing, close: this.close || framing.kind === 'close', contentType: this.contentType };
  }
}
