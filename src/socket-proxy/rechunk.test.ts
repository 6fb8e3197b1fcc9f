// Chunked responses are re-chunked: the chunks already read go out as one. A fake daemon writes
// 200 small chunks at once, as the real one writes a chunk per log line or event. In a JSON stream
// (events) every chunk that arrives still ends where one of the daemon's ended.
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { ChunkedDecoder } from './http.js';
import { proxyOverFakeDaemon } from './testkit.js';

const lines = Array.from({ length: 200 }, (_, i) => `{"line":${i},"text":"${'x'.repeat(i % 50)}"}\n`);
const chunkOf = (line: string) => `${Buffer.byteLength(line).toString(16)}\r\n${line}\r\n`;
const body = lines.map(chunkOf).join('') + '0\r\n\r\n';
let proxy: Awaited<ReturnType<typeof proxyOverFakeDaemon>>;

before(async () => {
  proxy = await proxyOverFakeDaemon((socket) => {
    socket.once('data', async (d) => {
      const request = d.toString('latin1');
      const head = `HTTP/1.1 200 OK\r\n${request.includes('/events') ? 'Content-Type: application/json\r\n' : ''}Transfer-Encoding: chunked\r\n\r\n`;
      if (!request.includes('split=1')) return socket.end(head + body);
      // The second message's chunk is cut in the middle by a pause, as a slow daemon write would be.
      const two = chunkOf(lines[0]!) + chunkOf(lines[1]!) + '0\r\n\r\n';
      const cut = chunkOf(lines[0]!).length + 10;
      socket.write(head + two.slice(0, cut));
      await sleep(150);
      socket.end(two.slice(cut));
    });
    socket.on('error', () => undefined);
  }, { CONTAINERS: '1' });
});
after(() => proxy.close());

/** The chunks' data of one response through the proxy, as they arrived. */
async function chunksOf(path: string): Promise<string[]> {
  const client = connect({ host: '127.0.0.1', port: proxy.port });
  // write, not end: an EOF from the client ends a stream at once (as the daemon itself does)
  client.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
  let raw = '';
  for await (const d of client) raw += (d as Buffer).toString('latin1');
  assert.match(raw, /^HTTP\/1\.1 200 /);
  const received = Buffer.from(raw.slice(raw.indexOf('\r\n\r\n') + 4), 'latin1');
  const decoder = new ChunkedDecoder();
  const chunks: string[] = [];
  let at = 0;
  while (!decoder.done) {
    // One chunk at a time: feed up to the end of its size line, then its data and CRLF.
    const line = received.indexOf('\r\n', at);
    assert.ok(line > at, `a chunk size line at ${at}: ${JSON.stringify(received.toString('latin1', at, at + 40))}`);
    const size = parseInt(received.toString('latin1', at, line), 16);
    const end = line + 2 + size + 2;
    const { data } = decoder.feed(received.subarray(at, end));
    if (size) chunks.push(Buffer.concat(data).toString());
    at = end;
  }
  assert.equal(at, received.length, 'one well-formed chunked body, nothing after it');
  return chunks;
}

test('a byte stream (logs) arrives with the same data in fewer, larger chunks', async () => {
  const chunks = await chunksOf('/v1.41/containers/abc/logs?stdout=1');
  assert.equal(chunks.join(''), lines.join(''));
  assert.ok(chunks.length <= 20, `200 chunks written at once were merged (${chunks.length} chunks arrived)`);
});

test('a JSON stream (events) is merged too, and every chunk ends where a daemon chunk ended', async () => {
  const chunks = await chunksOf('/v1.41/events');
  assert.equal(chunks.join(''), lines.join(''));
  assert.ok(chunks.length <= 20, `200 chunks written at once were merged (${chunks.length} chunks arrived)`);
  for (const chunk of chunks) assert.ok(chunk.endsWith('\n') && chunk.split('\n').slice(0, -1).every((m) => lines.includes(`${m}\n`)), `whole messages: ${chunk.slice(-40)}`);
});

test('a JSON message cut by a pause is held until its end; a byte stream passes the piece on at once', async () => {
  assert.deepEqual(await chunksOf('/v1.41/events?split=1'), [lines[0], lines[1]]);
  // Control: the same bytes as logs go out as they come, so the first chunk ends inside the message.
  const logs = await chunksOf('/v1.41/containers/abc/logs?split=1');
  assert.equal(logs.join(''), lines[0]! + lines[1]!);
  assert.equal(logs[0], lines[0]! + lines[1]!.slice(0, 10 - 4), 'the piece before the pause went out alone');
});
