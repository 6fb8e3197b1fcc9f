import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { loadProject } from '../compose/load.js';
import { probeOnce, probeTargets } from './probes.js';

const servers: Server[] = [];
const dir = mkdtempSync(join(tmpdir(), 'berth-probes-'));
after(() => {
  for (const s of servers) s.close();
  rmSync(dir, { recursive: true, force: true });
});

async function serve(handler: Parameters<typeof createServer>[1]): Promise<string> {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

test('x-berth monitor.url is read per service; a URL that is not http(s) is a clear error with file:line', async () => {
  writeFileSync(join(dir, 'compose.yaml'), 'name: shop\nservices:\n  app:\n    image: a\n    x-berth:\n      monitor: { url: "http://127.0.0.1:1/healthz", interval: 30s, timeout: 2s }\n  db:\n    image: b\n');
  const project = await loadProject({ files: [join(dir, 'compose.yaml')] });
  assert.deepEqual(probeTargets(project), [{ project: 'shop', service: 'app', url: 'http://127.0.0.1:1/healthz', timeoutMs: 2000, intervalMs: 30_000 }]);
  writeFileSync(join(dir, 'bad.yaml'), 'services:\n  app:\n    image: a\n    x-berth:\n      monitor: { url: "app:8080/healthz" }\n');
  await assert.rejects(loadProject({ files: [join(dir, 'bad.yaml')] }), /bad\.yaml:5:\d+: .*monitor\.url must be an http:\/\/ or https:\/\/ URL/);
});

test('probes: 2xx succeeds, 500 and a refused connection fail, a slow answer times out', async () => {
  const ok = await serve((_, res) => res.end('ok'));
  const broken = await serve((_, res) => res.writeHead(500).end());
  const slow = await serve((_, res) => setTimeout(() => res.end('late'), 2000));
  const target = (url: string, timeoutMs = 1000) => ({ project: 'p', service: 's', url, timeoutMs, intervalMs: 1000 });
  const a = await probeOnce(target(`${ok}/healthz`));
  assert.deepEqual([a.success, a.statusCode, a.error], [true, 200, undefined]);
  assert.ok(a.durationSeconds > 0 && a.durationSeconds < 1);
  const b = await probeOnce(target(broken));
  assert.deepEqual([b.success, b.statusCode], [false, 500]);
  const c = await probeOnce(target('http://127.0.0.1:1/'));
  assert.deepEqual([c.success, c.statusCode], [false, 0]);
  assert.match(c.error!, /ECONNREFUSED/);
  const d = await probeOnce(target(slow, 200));
  assert.equal(d.success, false);
  assert.match(d.error!, /timed out after 200 ms/);
});
