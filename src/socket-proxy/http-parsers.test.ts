import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findHeadEnd, HttpError, parseRequestHead, parseResponseHead, RequestHeadBuilder, ResponseHeadBuilder, type RequestHead, type ResponseHead } from './http.js';

// The request and response head scanners as they were before each became one scan (split and
// a regex per header), kept here as the reference the fast ones must agree with on every input.
// What the lines mean (framing, connection) is RequestHeadBuilder's and ResponseHeadBuilder's for
// both: unchanged, and shared.

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const FIELD_VALUE = /^[\t\x20-\x7e]*$/;

function referenceParseRequestHead(buf: Buffer, headLength: number): RequestHead {
  const lines = buf.toString('latin1', 0, headLength - 4).split('\r\n');
  const builder = new RequestHeadBuilder(lines[0] ?? '');
  for (const line of lines.slice(1)) {
    if (line === '') throw new HttpError(400, 'empty header line');
    if (line[0] === ' ' || line[0] === '\t') throw new HttpError(400, 'obsolete line folding in headers');
    const colon = line.indexOf(':');
    if (colon <= 0) throw new HttpError(400, 'malformed header line');
    const name = line.slice(0, colon);
    if (!TOKEN.test(name)) throw new HttpError(400, `malformed header name ${JSON.stringify(name)}`);
    const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '');
    if (!FIELD_VALUE.test(value)) throw new HttpError(400, `control or non-ASCII byte in header ${name}`);
    builder.add(name, value);
  }
  return builder.build(headLength);
}

function referenceParseResponseHead(buf: Buffer, headLength: number, requestMethod: string): ResponseHead {
  const lines = buf.toString('latin1', 0, headLength - 4).split(/\r?\n/);
  const builder = new ResponseHeadBuilder(lines[0] ?? '');
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) builder.add(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return builder.build(headLength, requestMethod);
}

/** A small deterministic PRNG (mulberry32): the same corpus every run. */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Outcome = { ok: true; value: unknown } | { ok: false; status: number; message: string };
function outcome(parse: () => unknown): Outcome {
  try { return { ok: true, value: parse() }; } catch (error) {
    assert.ok(error instanceof HttpError, `only HttpError is thrown, got ${String(error)}`);
    return { ok: false, status: error.status, message: error.message };
  }
}

/** Heads of every shape the proxy meets, then mutated byte by byte with the bytes parsers trip on. */
function corpus(seeds: string[], count: number, seed: number): string[] {
  const random = prng(seed);
  const pieces = ['\r', '\n', '\r\n', ' ', '\t', ':', ',', '\x00', '\x7f', '\xe9', '"', 'a', 'A', '0', 'chunked', 'close', 'upgrade', 'Content-Length: 1', 'Transfer-Encoding: chunked', 'Connection: close, Upgrade', 'Host: h', 'Expect: 100-continue', ' x', 'HTTP/1.0', ';'];
  const out = [...seeds];
  while (out.length < count) {
    let s = seeds[Math.floor(random() * seeds.length)]!;
    for (let edits = 1 + Math.floor(random() * 3); edits > 0; edits--) {
      const at = Math.floor(random() * (s.length + 1));
      const r = random();
      if (r < 0.5) s = s.slice(0, at) + pieces[Math.floor(random() * pieces.length)]! + s.slice(at);
      else if (r < 0.8) s = s.slice(0, at) + s.slice(at + 1 + Math.floor(random() * 4));
      else { const line = s.slice(at, s.indexOf('\r\n', at) + 2 || undefined); s = s.slice(0, at) + line + s.slice(at); }
    }
    out.push(s);
  }
  return out;
}

const REQUESTS = [
  'GET /_ping HTTP/1.1\r\nHost: docker\r\nConnection: keep-alive\r\n\r\n',
  'POST /v1.41/containers/create?name=x HTTP/1.1\r\nHost: docker\r\nUser-Agent: Docker-Client/20.10\r\nContent-Type: application/json\r\nContent-Length: 12\r\nX-Registry-Auth: e30=\r\n\r\n',
  'POST /v1.41/exec/abc/start HTTP/1.1\r\nHost: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n',
  'PUT /containers/x/archive?path=/ HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length:  7 \r\nKeep-Alive: 5\r\nTE: trailers\r\n\r\n',
  'GET /events HTTP/1.0\r\nConnection: keep-alive\r\n\r\n',
  'DELETE /containers/x?force=1 HTTP/1.1\r\nhost: x\r\nconnection: Close\r\n\r\n',
];
const RESPONSES = [
  'HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nContent-Type: application/json\r\nDocker-Experimental: false\r\nOstype: linux\r\nServer: Docker/20.10.24 (linux)\r\nDate: Thu, 03 Dec 2026 16:30:21 GMT\r\nContent-Length: 3\r\n\r\n',
  'HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.multiplexed-stream\r\nTransfer-Encoding: chunked\r\n\r\n',
  'HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n',
  'HTTP/1.0 204 No Content\nConnection: keep-alive\n\n',
  'HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.raw-stream\r\n\r\n',
  'HTTP/1.1 304 Not Modified\r\ncontent-length: 5\r\nCONNECTION: close, x\r\n\r\n',
];

test('request heads: the one-scan parser agrees with the reference on 20,000 mutated heads (result or error, status and message)', () => {
  let accepted = 0;
  for (const text of corpus(REQUESTS, 20_000, 1)) {
    const buf = Buffer.from(text, 'latin1');
    let end: number;
    try { end = findHeadEnd(buf); } catch { continue; } // bare LF: refused before any parser runs
    if (end < 0) continue;
    const fast = outcome(() => parseRequestHead(buf, end));
    assert.deepEqual(fast, outcome(() => referenceParseRequestHead(buf, end)), JSON.stringify(text));
    if (fast.ok) accepted++;
  }
  assert.ok(accepted > 1000, `the corpus reaches accepted heads too (${accepted})`);
});

test('response heads: the one-scan parser (and its cache) agrees with the reference on 20,000 mutated heads', () => {
  let accepted = 0;
  for (const [i, text] of corpus(RESPONSES, 20_000, 2).entries()) {
    const buf = Buffer.from(text, 'latin1');
    const crlf = buf.indexOf('\r\n\r\n');
    const lf = buf.indexOf('\n\n');
    const end = crlf >= 0 ? crlf + 4 : lf >= 0 ? lf + 2 : -1;
    if (end < 0) continue;
    const method = i % 7 === 0 ? 'HEAD' : 'GET';
    const fast = outcome(() => parseResponseHead(buf, end, method));
    assert.deepEqual(fast, outcome(() => referenceParseResponseHead(buf, end, method)), JSON.stringify(text));
    // Parsed again: from the cache of parsed heads when it was kept, the same result.
    assert.deepEqual(outcome(() => parseResponseHead(buf, end, method)), fast);
    if (fast.ok) accepted++;
  }
  assert.ok(accepted > 1000, `the corpus reaches accepted heads too (${accepted})`);
});
