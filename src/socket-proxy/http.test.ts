import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChunkedDecoder, encodeChunkOf, findHeadEnd, HttpError, parseRequestHead } from './http.js';

const head = (text: string) => {
  const buf = Buffer.from(text, 'latin1');
  const end = findHeadEnd(buf);
  assert.ok(end > 0, 'complete head');
  return parseRequestHead(buf, end);
};
const rejects = (text: string, status?: number) => {
  assert.throws(() => head(text), (e: unknown) => e instanceof HttpError && (status === undefined || e.status === status), JSON.stringify(text));
};

test('request heads: framing and connection semantics', () => {
  const h = head('POST /containers/create HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nX-Registry-Auth: abc\r\n\r\n');
  assert.deepEqual(h.framing, { kind: 'length', length: 5 });
  assert.equal(h.keepAlive, true);
  assert.equal(head('GET / HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n').framing.kind, 'chunked');
  assert.equal(head('GET / HTTP/1.0\r\n\r\n').keepAlive, false);
  assert.equal(head('POST /exec/x/start HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n').upgrade, 'tcp');
});

test('smuggling vectors are refused', () => {
  rejects('POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n', 400);
  rejects('POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n', 400);
  rejects('POST / HTTP/1.1\r\nContent-Length: 5, 5\r\n\r\n', 400);
  rejects('POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\n', 400);
  rejects('POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n', 501);
  rejects('POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n', 400);
  rejects('GET / HTTP/1.1\r\nX-A: 1\r\n folded\r\n\r\n', 400);
  rejects('GET / HTTP/1.1\r\nX-A : 1\r\n\r\n', 400);
  rejects('GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', 400);
  rejects('get / HTTP/1.1\r\n\r\n', 405);
  rejects('PATCH / HTTP/1.1\r\n\r\n', 405);
  rejects('GET  / HTTP/1.1\r\n\r\n', 400);
  rejects('PRI * HTTP/2.0\r\n\r\n', 400);
  rejects('GET / HTTP/2.0\r\n\r\n', 400);
  rejects('GET / HTTP/1.1\r\nX: a\x01b\r\n\r\n', 400);
  assert.throws(() => findHeadEnd(Buffer.from('GET / HTTP/1.1\nHost: x\r\n\r\n')), HttpError);
});

test('chunked decoder: strict sizes, CRLF, no trailers, stops at the end', () => {
  const d = new ChunkedDecoder();
  const input = Buffer.from('5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\nGET /next HTTP/1.1\r\n');
  const { data, consumed } = d.feed(input);
  assert.equal(Buffer.concat(data).toString(), 'hello world');
  assert.equal(d.done, true);
  assert.equal(input.subarray(consumed).toString(), 'GET /next HTTP/1.1\r\n');
  for (const bad of ['-5\r\nhello\r\n', '0x5\r\nhello\r\n', ' 5\r\nhello\r\n', '5\nhello\r\n', '5\r\nhelloXX\r\n', '0\r\nX-Trailer: 1\r\n\r\n', 'fffffffffffffff\r\n']) {
    assert.throws(() => new ChunkedDecoder().feed(Buffer.from(bad)), HttpError, JSON.stringify(bad));
  }
  // byte-at-a-time feeding gives the same result
  const slow = new ChunkedDecoder();
  let out = '';
  for (const b of Buffer.from('3\r\nabc\r\n0\r\n\r\n')) out += Buffer.concat(slow.feed(Buffer.from([b])).data).toString();
  assert.equal(out, 'abc');
  assert.equal(slow.done, true);
});

test('the chunked decoder reads the same whole or byte by byte (its fast paths agree with the strict one)', () => {
  const decode = (text: string, step: number, inPlace = false) => {
    const decoder = new ChunkedDecoder();
    const bytes = Buffer.from(text, 'latin1');
    const data: Buffer[] = [];
    let consumed = 0;
    try {
      for (let i = 0; i < bytes.length && !decoder.done; i += step) {
        // In place, pieces kept from earlier feeds must survive the later ones (the relay holds them).
        const r = decoder.feed(bytes.subarray(i, i + step), inPlace);
        data.push(...r.data);
        consumed += r.consumed;
      }
    } catch (error) { return `error: ${(error as Error).message}`; }
    return `${Buffer.concat(data).toString('latin1')} ${consumed} ${decoder.done}`;
  };
  const cases = ['5\r\nhello\r\n0\r\n\r\nNEXT', 'A\r\n0123456789\r\n0\r\n\r\n', '5;x=1\r\nhello\r\n0\r\n\r\n', '000000000005\r\nhello\r\n0\r\n\r\n',
    '5\nhello\r\n0\r\n\r\n', '5\r\nhelloX\r\n0\r\n\r\n', '0000000000005\r\nhello\r\n0\r\n\r\n', '-5\r\nhello\r\n', '5 \r\nhello\r\n', '0x5\r\nhello\r\n', '0\r\nX: y\r\n\r\n', '5\r\nhello\n\r\n'];
  for (const text of cases) {
    const whole = decode(text, 1 << 20);
    assert.equal(decode(text, 1), whole, text);
    assert.equal(decode(text, 3), whole, text);
    for (const step of [1, 3, 7, 1 << 20]) assert.equal(decode(text, step, true), whole, `in place, ${step} bytes a time: ${text}`);
  }
  const many = Array.from({ length: 50 }, (_, i) => `${(i + 1).toString(16)}\r\n${'abcdefghij'.repeat(6).slice(0, i + 1)}\r\n`).join('') + '0\r\n\r\nNEXT';
  for (const step of [1, 5, 64, 1 << 20]) assert.equal(decode(many, step, true), decode(many, 1 << 20), `in place, ${step} bytes a time`);
  assert.equal(decode(cases[0]!, 1 << 20), 'hello 15 true');
  assert.match(decode('0000000000005\r\nhello\r\n0\r\n\r\n', 1 << 20), /^error: invalid chunk size/);
});

test('encodeChunkOf: one chunk of the pieces, its size in lower-case hex, at every digit count', () => {
  for (const bytes of [1, 9, 15, 16, 17, 255, 256, 4095, 4096, 65535, 65536, 70000]) {
    const data = Buffer.alloc(bytes, 'x');
    const pieces = bytes > 3 ? [data.subarray(0, 1), data.subarray(1, 3), data.subarray(3)] : [data];
    const chunk = encodeChunkOf(pieces, bytes);
    assert.equal(chunk.toString('latin1', 0, chunk.indexOf('\r\n')), bytes.toString(16));
    const decoder = new ChunkedDecoder();
    const { data: decoded, consumed } = decoder.feed(Buffer.concat([chunk, Buffer.from('0\r\n\r\n')]));
    assert.ok(decoder.done);
    assert.equal(consumed, chunk.length + 5);
    assert.ok(Buffer.concat(decoded).equals(data), `${bytes} bytes round-trip`);
  }
});
