// What the daemon receives: a fake daemon on a unix socket records the exact bytes forwarded.
import { createServer, type Server, type Socket } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createAudit, type AuditEntry } from './audit.js';
import { loadProxyConfig, startSocketProxy, type RunningProxy } from './index.js';
import { rawExchange, statuses } from './testkit.js';

const dir = mkdtempSync(join(tmpdir(), 'berth-sp-fwd-'));
const socketPath = join(dir, 'fake-docker.sock');
let received = '';
let daemon: Server;
let proxy: RunningProxy;
let port = 0;

/** A tiny daemon: answers every complete request with 200 and a fixed JSON body. */
function fakeDaemon(): Server {
  return createServer((socket: Socket) => {
    let buf = '';
    socket.on('data', (d) => {
      received += d.toString('latin1');
      buf += d.toString('latin1');
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buf.slice(0, end);
        // A chunked body (only streamed uploads come so): answered once its last chunk is in.
        const last = /transfer-encoding: chunked/i.test(head) ? buf.indexOf('\r\n0\r\n\r\n', end) : -1;
        if (/transfer-encoding: chunked/i.test(head) && last < 0) return;
        const length = last >= 0 ? last + 7 - (end + 4) : Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0);
        if (buf.length < end + 4 + length) return;
        buf = buf.slice(end + 4 + length);
        if (/^POST \/v1\.41\/exec\/up\/start/.test(head)) {
          socket.write('HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n');
          socket.removeAllListeners('data');
          socket.on('data', (x) => { received += x.toString('latin1'); socket.write(`echo:${x.toString()}`); });
          return;
        }
        socket.write('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}');
      }
    });
  });
}

before(async () => {
  daemon = fakeDaemon();
  await new Promise<void>((resolve) => daemon.listen(socketPath, resolve));
  const loaded = loadProxyConfig({ env: { CONTAINERS: '1', POST: '1', EXEC: '1' }, listen: ['127.0.0.1:0'], socketPath });
  proxy = await startSocketProxy({ ...loaded.config, audit: createAudit({ destination: false }) });
  port = Number(proxy.address.split(':').pop());
});
after(async () => {
  await proxy.close();
  await new Promise<void>((resolve) => daemon.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

test('the request line is re-serialized from the canonical path; hop-by-hop headers are ours', async () => {
  received = '';
  const r = await rawExchange({ port }, 'GET /v1.41/%63ontainers/json?all=1 HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, X-Foo\r\nKeep-Alive: 5\r\nTE: trailers\r\nX-Registry-Auth: abc\r\n\r\n', 300);
  assert.deepEqual(statuses(r.text), [200]);
  assert.equal(received, 'GET /v1.41/containers/json?all=1 HTTP/1.1\r\nHost: x\r\nX-Registry-Auth: abc\r\n\r\n');
});

test('an inspected chunked body is forwarded as exactly the judged bytes with a Content-Length', async () => {
  received = '';
  const body = '{"Image":"x","HostConfig":{"Binds":["v:/data"]}}';
  const chunked = `${(10).toString(16)}\r\n${body.slice(0, 10)}\r\n${(body.length - 10).toString(16)};ext=1\r\n${body.slice(10)}\r\n0\r\n\r\n`;
  const r = await rawExchange({ port }, `POST /v1.41/containers/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n${chunked}`, 300);
  assert.deepEqual(statuses(r.text), [200]);
  assert.equal(received, `POST /v1.41/containers/create HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
});

test('an uninspected chunked body is decoded and validated whole, then forwarded with a Content-Length (extensions dropped)', async () => {
  received = '';
  const r = await rawExchange({ port }, 'POST /v1.41/containers/abc/kill HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3;a=b\r\nabc\r\n0\r\n\r\n', 300);
  assert.deepEqual(statuses(r.text), [200]);
  assert.equal(received, 'POST /v1.41/containers/abc/kill HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc');
});

test('keep-alive: several requests on one connection, each judged; a denied one ends the connection', async () => {
  received = '';
  const one = 'GET /v1.41/containers/json HTTP/1.1\r\nHost: x\r\n\r\n';
  const r = await rawExchange({ port }, `${one}${one}GET /v1.41/images/json HTTP/1.1\r\nHost: x\r\n\r\n${one}`, 300);
  assert.deepEqual(statuses(r.text), [200, 200, 403]);
  assert.equal(r.closed, true);
  assert.equal(received, one + one, 'the denied request and everything after it never reached the daemon');
});

test('a hijack tunnels only after 101; bytes sent before the answer wait', async () => {
  received = '';
  const r = await rawExchange({ port }, 'POST /v1.41/exec/up/start HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}stdin-bytes', 300);
  assert.match(r.text, /^HTTP\/1\.1 101 UPGRADED\r\n[^]*\r\n\r\necho:stdin-bytes$/);
  assert.match(received, /^POST \/v1\.41\/exec\/up\/start HTTP\/1\.1\r\nHost: x\r\nContent-Type: application\/json\r\nContent-Length: 2\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n\{\}stdin-bytes$/);
});

test('upgrade requests go through the same policy: closed or ungranted hijacks are denied before the daemon', async () => {
  received = '';
  const ws = await rawExchange({ port }, 'GET /v1.41/containers/abc/attach/ws?stream=1 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n', 300);
  assert.deepEqual(statuses(ws.text), [403]);
  const loaded = loadProxyConfig({ env: { CONTAINERS: '1', POST: '1' }, listen: ['127.0.0.1:0'], socketPath });
  const noExec = await startSocketProxy({ ...loaded.config, audit: createAudit({ destination: false }) });
  try {
    const start = await rawExchange({ port: Number(noExec.address.split(':').pop()) }, 'POST /v1.41/exec/up/start HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 2\r\n\r\n{}stdin', 300);
    assert.deepEqual(statuses(start.text), [403]);
    const create = await rawExchange({ port: Number(noExec.address.split(':').pop()) }, 'POST /v1.41/containers/abc/exec HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 16\r\n\r\n{"Cmd":["true"]}', 300);
    assert.deepEqual(statuses(create.text), [403]);
  } finally {
    await noExec.close();
  }
  assert.equal(received, '', 'nothing reached the daemon');
});

test('uploads: a body past the bounded read streams on; a framing error after it truncates the upload, closes the daemon side, and the audit says what the daemon got', async () => {
  const entries: AuditEntry[] = [];
  const base = createAudit({ destination: false });
  const loaded = loadProxyConfig({ env: { BUILD: '1', CONTAINERS: '1', POST: '1' }, listen: ['127.0.0.1:0'], socketPath });
  const p = await startSocketProxy({ ...loaded.config, audit: { ...base, record: (e) => { entries.push(e); base.record(e); } } });
  const pport = Number(p.address.split(':').pop());
  try {
    const big = Buffer.alloc(3 * 1024 * 1024, 0x61);
    const head = 'POST /v1.41/build?t=x HTTP/1.1\r\nHost: d\r\nContent-Type: application/x-tar\r\nTransfer-Encoding: chunked\r\n\r\n';
    const before = received.length;
    const r = await rawExchange({ port: pport }, Buffer.concat([Buffer.from(head), Buffer.from(`${big.length.toString(16)}\r\n`), big, Buffer.from('\r\nzz\r\n')]), 2000);
    assert.equal(statuses(r.text)[0], 400, r.text.slice(0, 200));
    const got = received.slice(before);
    assert.match(got, /^POST \/v1\.41\/build\?t=x HTTP\/1\.1/, 'the upload was streamed on');
    assert.doesNotMatch(got, /\r\n0\r\n\r\n$/, 'the daemon never got the end of the upload');
    const entry = entries.find((e) => e.path === '/v1.41/build');
    assert.equal(entry?.verdict, 'error');
    assert.equal(entry?.forwarded, true);
    assert.match(entry?.reason ?? '', /invalid chunk size; \d+ bytes of the upload had reached the daemon, which got its connection closed/);
    // The same size on an endpoint that takes no upload: 413, nothing forwarded.
    const before2 = received.length;
    const stop = await rawExchange({ port: pport }, Buffer.concat([Buffer.from('POST /v1.41/containers/x/stop HTTP/1.1\r\nHost: d\r\nTransfer-Encoding: chunked\r\n\r\n'), Buffer.from(`${big.length.toString(16)}\r\n`), big, Buffer.from('\r\n0\r\n\r\n')]), 2000);
    assert.equal(statuses(stop.text)[0], 413);
    assert.equal(received.length, before2, 'nothing reached the daemon');
    assert.equal(entries.at(-1)?.forwarded, false);
  } finally {
    await p.close();
  }
});

test('bounded bodies are forwarded whole with a Content-Length, after their framing was validated', async () => {
  const before = received.length;
  const r = await rawExchange({ port }, 'POST /v1.41/containers/x/stop HTTP/1.1\r\nHost: d\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n2\r\n{}\r\n0\r\n\r\n');
  assert.equal(statuses(r.text)[0], 200);
  const got = received.slice(before);
  assert.match(got, /Content-Length: 2\r\n\r\n\{\}$/);
  assert.doesNotMatch(got, /Transfer-Encoding/);
});
