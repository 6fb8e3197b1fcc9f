import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Counter, Histogram, Registry } from 'prom-client';
import { createAudit, type AuditEntry } from './audit.js';

const entry = (verdict: AuditEntry['verdict'], rule: string, seconds: number): AuditEntry =>
  ({ client: '127.0.0.1', method: 'GET', path: '/_ping', verdict, rule, status: 200, durationMs: seconds * 1000 });

/** prom-client's own metrics fed the same requests: what /metrics printed before the plain-number counts. */
function reference() {
  const registry = new Registry();
  const requests = new Counter({ name: 'berth_socket_proxy_requests_total', help: 'Requests by verdict and deciding rule', labelNames: ['verdict', 'rule'], registers: [registry] });
  const duration = new Histogram({ name: 'berth_socket_proxy_request_duration_seconds', help: 'Request duration (whole exchange, streams included) by verdict', labelNames: ['verdict'], buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 300], registers: [registry] });
  return { registry, record: (e: AuditEntry) => { requests.inc({ verdict: e.verdict, rule: e.rule }); duration.observe({ verdict: e.verdict }, e.durationMs / 1000); } };
}

test('metrics: the plain-number counts print what prom-client printed, bucket edges included, across scrapes', async () => {
  const audit = createAudit({ destination: false });
  const ref = reference();
  // Values on bucket edges, between them, past the last one, and for every verdict.
  const first = [entry('allow', 'PING', 0.0003), entry('allow', 'PING', 0.0005), entry('allow', 'PING', 0.001), entry('deny', 'default', 0.002),
    entry('allow', 'CONTAINERS', 3), entry('error', 'framing', 400), entry('allow', 'PING', 0.0005000001)];
  for (const e of first) { audit.record(e); ref.record(e); }
  const scraped = await audit.registry.metrics();
  assert.equal(scraped, await ref.registry.metrics());
  assert.match(scraped, /berth_socket_proxy_request_duration_seconds_bucket\{le="0.0005",verdict="allow"\} 2\n/);
  assert.match(scraped, /berth_socket_proxy_request_duration_seconds_bucket\{le="\+Inf",verdict="error"\} 1\n/);
  // Counts keep adding up after a scrape (the counter takes each scrape's new counts once).
  for (const e of first.slice(3)) { audit.record(e); ref.record(e); }
  assert.equal(await audit.registry.metrics(), await ref.registry.metrics());
  assert.match(await audit.registry.metrics(), /berth_socket_proxy_requests_total\{verdict="deny",rule="default"\} 2\n/);
});

test('audit lines: pino JSON lines, every string escaped where it must be, optional keys left out', () => {
  const lines: string[] = [];
  const audit = createAudit({ destination: { write: (s: string) => { lines.push(s); } } });
  const hostile = 'a"b\\c\u0001d\u00e9\u2028\ud800e';
  audit.record({ client: '127.0.0.1', method: 'GET', path: '/_ping', verdict: 'allow', rule: 'PING', status: 200, forwarded: true, durationMs: 0.123456789 });
  audit.record({ client: '::1', method: 'POST', path: hostile, query: `x=${hostile}`, verdict: 'deny', rule: 'body:x"', reason: hostile, status: 403, forwarded: false, durationMs: 2, headers: { 'user-agent': hostile }, upgrade: true });
  assert.equal(lines.length, 2);
  for (const line of lines) assert.ok(line.endsWith('}\n') && !line.slice(0, -1).includes('\n'), 'one line each');
  const [plain, odd] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(Object.keys(plain!), ['level', 'time', 'component', 'client', 'method', 'path', 'verdict', 'rule', 'status', 'forwarded', 'durationMs', 'msg']);
  assert.equal(plain!.level, 30);
  assert.equal(plain!.durationMs, 0.123);
  assert.equal(odd!.durationMs, 2);
  assert.match(plain!.time as string, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.ok(Math.abs(Date.parse(plain!.time as string) - Date.now()) < 5000, 'the time is now');
  assert.equal(odd!.level, 40);
  assert.equal(odd!.path, hostile);
  assert.equal(odd!.query, `x=${hostile}`);
  assert.equal(odd!.reason, hostile);
  assert.equal(odd!.rule, 'body:x"');
  assert.deepEqual(odd!.headers, { 'user-agent': hostile });
  assert.equal(odd!.upgrade, true);
  assert.equal(odd!.msg, 'deny');
});

test('audit lines: the time is toISOString\'s for every millisecond, across second boundaries', (t) => {
  const lines: string[] = [];
  const audit = createAudit({ destination: { write: (s: string) => { lines.push(s); } } });
  const start = Date.UTC(2026, 11, 31, 23, 59, 59, 998); // the last milliseconds of a year
  const times = [0, 1, 2, 3, 999, 1000, 1001, 60_000, 86_400_000 + 7].map((d) => start + d);
  for (const time of times) {
    t.mock.timers.enable({ apis: ['Date'], now: time });
    audit.record({ client: '::1', method: 'GET', path: '/_ping', verdict: 'allow', rule: 'PING', status: 200, durationMs: 1234.5678 });
    t.mock.timers.reset();
  }
  assert.deepEqual(lines.map((l) => (JSON.parse(l) as { time: string }).time), times.map((time) => new Date(time).toISOString()));
  assert.equal((JSON.parse(lines[0]!) as { durationMs: number }).durationMs, 1234.568);
});
