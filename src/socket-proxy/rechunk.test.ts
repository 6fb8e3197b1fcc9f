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
// Paced events: the daemon's own chunks, one with a chunk extension (valid, and passed on as sent).
const paced = [chunkOf(lines[0]!), `${Buffer.byteLength(lines[1]!).toString(16)};x=1\r\n${lines[1]}\r\n`, chunkOf(lines[2]!)];
let proxy: Awaited<ReturnType<typeof proxyOverFakeDaemon>>;

before(async () => {
  proxy = await proxyOverFakeDaemon((socket) => {
    socket.once('data', async (d) => {
      const request = d.toString('latin1');
      const head = `HTTP/1.1 200 OK\r\n${request.includes('/events') ? 'Content-Type: application/json\r\n' : ''}Transfer-Encoding: chunked\r\n\r\n`;
      if (request.includes('late=1')) {
        // The head at once, the body much later (as /wait answers when the container exits).
        socket.write(head);
        await sleep(1000);
        return socket.end(chunkOf(lines[0]!) + '0\r\n\r\n');
      }
      if (request.includes('paced=1')) {
        // One event per daemon write, as the real daemon flushes them: each read holds one chunk.
        socket.write(head);
        for (const chunk of paced) { await sleep(20); socket.write(chunk); }
        await sleep(20);
        return socket.end('0\r\n\r\n');
      }
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

/** The response body through the proxy, still chunked. */
async function bodyOf(path: string): Promise<Buffer> {
  const client = connect({ host: '127.0.0.1', port: proxy.port });
  // write, not end: an EOF from the client ends a stream at once (as the daemon itself does)
  client.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
  let raw = '';
  for await (const d of client) raw += (d as Buffer).toString('latin1');
  assert.match(raw, /^HTTP\/1\.1 200 /);
  return Buffer.from(raw.slice(raw.indexOf('\r\n\r\n') + 4), 'latin1');
}

/** The chunks' data of one response through the proxy, as they arrived. */
async function chunksOf(path: string): Promise<string[]> {
  const received = await bodyOf(path);
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

test('events written one at a time pass through as the daemon sent them, byte for byte', async () => {
  for (const path of ['/v1.41/events?paced=1', '/v1.41/containers/abc/logs?paced=1']) {
    assert.equal((await bodyOf(path)).toString('latin1'), paced.join('') + '0\r\n\r\n', path);
  }
});

test('the response head goes out at once, before any of the body (a client may wait for it to go on)', async () => {
  const client = connect({ host: '127.0.0.1', port: proxy.port });
  client.write('GET /v1.41/containers/abc/logs?follow=1&late=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  const started = Date.now();
  const first = await new Promise<string>((resolve) => client.once('data', (d: Buffer) => resolve(d.toString('latin1'))));
  assert.ok(Date.now() - started < 700, `the head came after ${Date.now() - started} ms, with the body`);
  assert.match(first, /^HTTP\/1\.1 200 OK\r\n/);
  assert.ok(!first.includes('"line":0'), 'the body had not been written yet');
  let rest = '';
  for await (const d of client) rest += (d as Buffer).toString('latin1');
  assert.ok(rest.includes('"line":0'));
});
