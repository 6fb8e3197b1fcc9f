// Chunked responses: a byte stream (logs) is re-chunked, the chunks already read going out as one;
// a JSON stream (events, stats, progress) keeps the daemon's chunks byte for byte. A fake daemon
// writes 200 small chunks at once, as the real one writes a chunk per log line.
import { connect } from 'node:net';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ChunkedDecoder } from './http.js';
import { proxyOverFakeDaemon } from './testkit.js';

const lines = Array.from({ length: 200 }, (_, i) => `{"line":${i},"text":"${'x'.repeat(i % 50)}"}\n`);
const body = lines.map((line) => `${Buffer.byteLength(line).toString(16)}\r\n${line}\r\n`).join('') + '0\r\n\r\n';
let proxy: Awaited<ReturnType<typeof proxyOverFakeDaemon>>;

before(async () => {
  proxy = await proxyOverFakeDaemon((socket) => {
    socket.once('data', (d) => {
      const json = d.toString('latin1').includes('/events');
      socket.end(`HTTP/1.1 200 OK\r\n${json ? 'Content-Type: application/json\r\n' : ''}Transfer-Encoding: chunked\r\n\r\n${body}`);
    });
    socket.on('error', () => undefined);
  }, { CONTAINERS: '1' });
});
after(() => proxy.close());

/** The raw response body (after the head) of one request through the proxy. */
async function rawBody(path: string): Promise<string> {
  const client = connect({ host: '127.0.0.1', port: proxy.port });
  client.end(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
  let raw = '';
  for await (const d of client) raw += (d as Buffer).toString('latin1');
  assert.match(raw, /^HTTP\/1\.1 200 /);
  return raw.slice(raw.indexOf('\r\n\r\n') + 4);
}

test('a byte stream (logs) arrives with the same data in fewer, larger chunks', async () => {
  const received = await rawBody('/v1.41/containers/abc/logs?stdout=1');
  const decoder = new ChunkedDecoder();
  const { data, consumed } = decoder.feed(Buffer.from(received, 'latin1'));
  assert.ok(decoder.done && consumed === received.length, 'one well-formed chunked body, nothing after it');
  assert.equal(Buffer.concat(data).toString(), lines.join(''));
  const chunks = received.split('\r\n').filter((_, i) => i % 2 === 0).length - 1;
  assert.ok(chunks <= 20, `200 chunks written at once were merged (${chunks} chunks arrived)`);
});

test('a JSON stream (events) keeps the daemon\'s chunks exactly: one message per chunk', async () => {
  assert.equal(await rawBody('/v1.41/events'), body);
});
