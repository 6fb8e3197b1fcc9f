// Streaming with backpressure: a fake daemon streams a large chunked response to a client that
// stops reading; the proxy must stop reading from the daemon too (bounded memory), then deliver
// every byte once the client reads again.
import { createServer, connect, type Server } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { createAudit } from './audit.js';
import { ChunkedDecoder } from './http.js';
import { loadProxyConfig, startSocketProxy, type RunningProxy } from './index.js';

const dir = mkdtempSync(join(tmpdir(), 'berth-sp-stream-'));
const socketPath = join(dir, 'fake-docker.sock');
const TOTAL = 256 * 1024 * 1024;
const CHUNK = 64 * 1024;
let written = 0;
let daemon: Server;
let proxy: RunningProxy;

before(async () => {
  daemon = createServer((socket) => {
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

test('a slow reader backpressures the daemon, and then receives every byte', { timeout: 60_000 }, async () => {
  const client = connect({ host: '127.0.0.1', port: Number(proxy.address.split(':').pop()) });
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
