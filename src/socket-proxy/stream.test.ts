// Streaming with backpressure: a fake daemon streams a large chunked response to a client that
// stops reading; the proxy must stop reading from the daemon too (bounded memory), then deliver
// every byte once the client reads again.
import { connect } from 'node:net';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { ChunkedDecoder } from './http.js';
import { proxyOverFakeDaemon } from './testkit.js';

const TOTAL = 256 * 1024 * 1024;
const CHUNK = 64 * 1024;
let written = 0;
let proxy: Awaited<ReturnType<typeof proxyOverFakeDaemon>>;

before(async () => {
  proxy = await proxyOverFakeDaemon((socket) => {
    socket.once('data', () => {
      socket.write('HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n');
      const payload = Buffer.concat([Buffer.from(`${CHUNK.toString(16)}\r\n`), Buffer.alloc(CHUNK, 0x61), Buffer.from('\r\n')]);
      const pump = () => {
        while (written < TOTAL) {
          written += CHUNK;
          if (!socket.write(payload)) { socket.once('drain', pump); return; }
        }
        socket.write('0\r\n\r\n');
      };
      pump();
    });
    socket.on('error', () => undefined);
  }, { CONTAINERS: '1' });
});
after(() => proxy.close());

test('a slow reader backpressures the daemon, and then receives every byte', { timeout: 60_000 }, async () => {
  const client = connect({ host: '127.0.0.1', port: proxy.port });
  await new Promise((resolve) => client.once('connect', resolve));
  client.pause();
  client.write('GET /v1.41/containers/abc/logs?follow=1 HTTP/1.1\r\nHost: x\r\n\r\n');
  await sleep(1500);
  const stalledAt = written;
  assert.ok(stalledAt < 48 * 1024 * 1024, `the daemon could write only what buffers hold while the client did not read (wrote ${stalledAt} bytes)`);
  await sleep(300);
  assert.equal(written, stalledAt, 'the daemon stays stalled');
  // The body is decoded as it comes (the proxy may re-chunk a byte stream): every data byte arrives.
  let received = 0;
  let head = '';
  const decoder = new ChunkedDecoder();
  const done = new Promise<void>((resolve, reject) => {
    client.on('data', (d: Buffer) => {
      try {
        if (!head.endsWith('\r\n\r\n')) {
          const text = head + d.toString('latin1');
          const end = text.indexOf('\r\n\r\n');
          if (end < 0) { head = text; return; }
          head = text.slice(0, end + 4);
          d = d.subarray(d.length - (text.length - head.length));
        }
        for (const piece of decoder.feed(d).data) received += piece.length;
        if (decoder.done) resolve();
      } catch (error) { reject(error as Error); }
    });
  });
  client.resume();
  await done;
  client.destroy();
  assert.equal(received, TOTAL, 'every data byte delivered');
});
