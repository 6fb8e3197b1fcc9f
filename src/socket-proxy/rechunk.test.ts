// Chunked responses: a byte stream (logs) is re-chunked, the chunks already read going out as one;
// a JSON stream (events, stats, progress) keeps the daemon's chunks byte for byte. A fake daemon
// writes 200 small chunks at once, as the real one writes a chunk per log line.
import { connect, createServer, type Server } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createAudit } from './audit.js';
import { ChunkedDecoder } from './http.js';
import { loadProxyConfig, startSocketProxy, type RunningProxy } from './index.js';

const dir = mkdtempSync(join(tmpdir(), 'berth-sp-rechunk-'));
const socketPath = join(dir, 'fake-docker.sock');
const lines = Array.from({ length: 200 }, (_, i) => `{"line":${i},"text":"${'x'.repeat(i % 50)}"}\n`);
const body = lines.map((line) => `${Buffer.byteLength(line).toString(16)}\r\n${line}\r\n`).join('') + '0\r\n\r\n';
let daemon: Server;
let proxy: RunningProxy;

before(async () => {
  daemon = createServer((socket) => {
    socket.once('data', (d) => {
      const json = d.toString('latin1').includes('/events');
      socket.end(`HTTP/1.1 200 OK\r\n${json ? 'Content-Type: application/json\r\n' : ''}Transfer-Encoding: chunked\r\n\r\n${body}`);
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => daemon.listen(socketPath, resolve));
  const loaded = loadProxyConfig({ env: { CONTAINERS: '1' }, listen: ['127.0.0.1:0'], socketPath });
  proxy = await startSocketProxy({ ...loaded.config, audit: createAudit({ destination: false }) });
});
after(async () => {
  await proxy.close();
  await new Promise<void>((resolve) => daemon.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

/** The raw response body (after the head) of one request through the proxy. */
async function rawBody(path: string): Promise<string> {
  const client = connect({ host: '127.0.0.1', port: Number(proxy.address.split(':').pop()) });
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
