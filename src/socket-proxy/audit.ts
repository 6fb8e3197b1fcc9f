/** Audit log (one JSON line per request, via pino) and Prometheus counters (prom-client). */
import { createServer, type Server } from 'node:http';
import { pino, type DestinationStream, type Logger } from 'pino';
import { Counter, Registry, type Metric } from 'prom-client';
import { redactUserinfo } from './body.js';

export interface AuditEntry {
  client: string;
  method: string;
  path: string;
  /** The query string (archive?path=, fromSrc=, remote=, filters=), credentials redacted. */
  query?: string;
  verdict: 'allow' | 'deny' | 'error';
  rule: string;
  reason?: string;
  status: number;
  /** Whether any byte of the request reached the daemon (false for every refusal). */
  forwarded?: boolean;
  durationMs: number;
  headers?: Record<string, string>;
  upgrade?: boolean;
}

export interface Audit {
  logger: Logger;
  registry: Registry;
  record(entry: AuditEntry): void;
}

/** Headers whose values are credentials: logged only as "[redacted]". Bodies are never logged. */
export const CREDENTIAL_HEADERS = new Set(['x-registry-auth', 'x-registry-config', 'authorization', 'proxy-authorization', 'cookie']);
/** Headers worth logging; everything else is left out (cheaper, and nothing leaks by accident). */
export const LOGGED_HEADERS = new Set(['user-agent', 'content-type', ...CREDENTIAL_HEADERS]);

/** The headers an audit line carries: a short allow-list, credentials redacted. */
export function auditHeaders(headers: [string, string][]): Record<string, string> | undefined {
  let out: Record<string, string> | undefined;
  for (const [name, value] of headers) {
    const lower = name.toLowerCase();
    if (!LOGGED_HEADERS.has(lower)) continue;
    (out ??= {})[lower] = CREDENTIAL_HEADERS.has(lower) ? '[redacted]' : value;
  }
  return out;
}

/** Query keys whose values are credentials (or carry them, as build args often do). */
const SECRET_KEY = /pass|secret|token|auth|credential|key$|^buildargs$/i;

/**
 * The query string as an audit line carries it: as sent (percent-encoded), with the values of
 * credential-like keys replaced by [redacted] (build args keep their names), and user:password@ in
 * any URL value (fromSrc=, remote=) replaced by [redacted]@.
 */
export function auditQuery(query: string): string | undefined {
  if (!query) return undefined;
  return query.split(/([&;])/).map((part) => {
    if (part === '&' || part === ';' || part === '') return part;
    const eq = part.indexOf('=');
    if (eq < 0) return part;
    const rawKey = part.slice(0, eq);
    let key: string;
    let value: string;
    try { key = decodeURIComponent(rawKey.replace(/\+/g, ' ')); value = decodeURIComponent(part.slice(eq + 1).replace(/\+/g, ' ')); } catch { return `${rawKey}=[unreadable]`; }
    if (/^buildargs$/i.test(key)) {
      try {
        const args = JSON.parse(value) as Record<string, unknown>;
        return `${rawKey}=${encodeURIComponent(JSON.stringify(Object.fromEntries(Object.keys(args).map((k) => [k, '[redacted]']))))}`;
      } catch { return `${rawKey}=[redacted]`; }
    }
    if (SECRET_KEY.test(key)) return `${rawKey}=[redacted]`;
    if (value.includes('@') && /\/\/[^/@]*@/.test(value)) return `${rawKey}=${encodeURIComponent(redactUserinfo(value))}`;
    return part;
  }).join('');
}

/** '000' to '999'. */
const THREE_DIGITS = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0'));

/** A string as JSON: copied between quotes when nothing in it needs escaping (the usual case). */
function jsonString(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c || c > 0x7e) return JSON.stringify(s);
  }
  return `"${s}"`;
}

/**
 * stdout, batched: lines are written when 16 KiB have gathered or 20 ms after the first of them,
 * whichever comes first; flush() writes at once. One asynchronous write per line (sonic-boom's
 * default) costs a thread-pool round trip per request (a futex wake-up each), which was more
 * than the rest of the audit line together under load.
 */
export function batchedStdout(): DestinationStream & { flush(cb?: (error?: Error) => void): void } {
  const out = pino.destination({ fd: 1, sync: false });
  let pending = '';
  let timer: NodeJS.Timeout | undefined;
  const writePending = () => {
    if (timer) { clearTimeout(timer); timer = undefined; }
    if (!pending) return;
    const text = pending;
    pending = '';
    out.write(text);
  };
  return {
    write(line: string) {
      pending += line;
      if (pending.length >= 16 * 1024) writePending();
      else timer ??= setTimeout(writePending, 20);
    },
    flush(cb) { writePending(); out.flush(cb); },
  };
}

export function createAudit(options: { level?: string; destination?: DestinationStream | false } = {}): Audit {
  const out = options.destination === false ? undefined : options.destination ?? batchedStdout();
  const logger = out === undefined
    ? pino({ enabled: false })
    : pino({ level: options.level ?? 'info', base: { component: 'socket-proxy' }, timestamp: pino.stdTimeFunctions.isoTime }, out);
  // Audit lines are pino's format (level, time, component, the entry, msg), written as a string
  // template: JSON.stringify of the entry object (and pino's key-by-key serializer before it) was
  // the largest part of a request's JS time. Strings go through jsonString, which copies the plain
  // ones (addresses, canonical paths, rule names) as they are.
  // The time as toISOString gives it, its date and seconds formatted once a second: a Date and
  // its toISOString per line cost more than the rest of the line (measured: ~6 us of ~9).
  let lastSecond = -1;
  let secondPrefix = '';
  const line = (level: 30 | 40, e: AuditEntry): string => {
    const now = Date.now();
    const second = Math.floor(now / 1000);
    if (second !== lastSecond) { lastSecond = second; secondPrefix = new Date(second * 1000).toISOString().slice(0, 20); }
    const lastTime = `${secondPrefix}${THREE_DIGITS[now - second * 1000]}Z`;
    let s = `{"level":${level},"time":"${lastTime}","component":"socket-proxy","client":${jsonString(e.client)},"method":${jsonString(e.method)},"path":${jsonString(e.path)}`;
    if (e.query !== undefined) s += `,"query":${jsonString(e.query)}`;
    s += `,"verdict":"${e.verdict}","rule":${jsonString(e.rule)}`;
    if (e.reason !== undefined) s += `,"reason":${jsonString(e.reason)}`;
    s += `,"status":${e.status}`;
    if (e.forwarded !== undefined) s += `,"forwarded":${e.forwarded}`;
    // Microseconds are the clock's useful precision here; more digits are noise. Written from
    // integers (a double's shortest decimal form costs a few microseconds).
    const micros = Math.max(0, Math.round(e.durationMs * 1000));
    const millis = Math.floor(micros / 1000);
    s += `,"durationMs":${millis}.${THREE_DIGITS[micros - millis * 1000]}`;
    if (e.headers !== undefined) s += `,"headers":${JSON.stringify(e.headers)}`;
    if (e.upgrade !== undefined) s += `,"upgrade":${e.upgrade}`;
    return `${s},"msg":"${e.verdict}"}\n`;
  };
  const registry = new Registry();
  // The hot path only adds to plain numbers; prom-client sees them when /metrics is scraped.
  // Its inc()/observe() validate and hash the labels on every call, bound or not: ~5 us of the
  // ~60 us a proxied /_ping costs in CPU here.
  const counts = new Map<string, { verdict: string; rule: string; n: number }>();
  new Counter({
    name: 'berth_socket_proxy_requests_total', help: 'Requests by verdict and deciding rule', labelNames: ['verdict', 'rule'], registers: [registry],
    collect() {
      for (const c of counts.values()) if (c.n) { this.inc({ verdict: c.verdict, rule: c.rule }, c.n); c.n = 0; }
    },
  });
  const durations = new DurationHistogram('berth_socket_proxy_request_duration_seconds', 'Request duration (whole exchange, streams included) by verdict', [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 300]);
  registry.registerMetric(durations as unknown as Metric);
  return {
    logger,
    registry,
    record(entry) {
      const key = `${entry.verdict} ${entry.rule}`;
      let count = counts.get(key);
      if (!count) counts.set(key, (count = { verdict: entry.verdict, rule: entry.rule, n: 0 }));
      count.n++;
      durations.observe(entry.verdict, entry.durationMs / 1000);
      if (!out) return;
      const level = entry.verdict === 'allow' ? 30 : 40;
      if (logger.levelVal <= level) out.write(line(level, entry));
    },
  };
}

/**
 * A histogram by verdict kept in plain arrays, exposed to prom-client's registry in the shape its
 * own Histogram gives (the same lines on /metrics): `observe` is a bucket search and three adds.
 */
class DurationHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private byVerdict = new Map<string, { buckets: number[]; sum: number; count: number }>();
  constructor(readonly name: string, readonly help: string, private readonly bounds: number[]) {}

  observe(verdict: string, seconds: number): void {
    let d = this.byVerdict.get(verdict);
    if (!d) this.byVerdict.set(verdict, (d = { buckets: this.bounds.map(() => 0), sum: 0, count: 0 }));
    let i = 0;
    while (i < this.bounds.length && seconds > this.bounds[i]!) i++;
    if (i < this.bounds.length) d.buckets[i]!++;
    d.sum += seconds;
    d.count++;
  }

  reset(): void { this.byVerdict.clear(); }

  get() {
    const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
    for (const [verdict, d] of this.byVerdict) {
      let cumulative = 0;
      this.bounds.forEach((le, i) => { cumulative += d.buckets[i]!; values.push({ labels: { le, verdict }, value: cumulative, metricName: `${this.name}_bucket` }); });
      values.push({ labels: { le: '+Inf', verdict }, value: d.count, metricName: `${this.name}_bucket` });
      values.push({ labels: { verdict }, value: d.sum, metricName: `${this.name}_sum` });
      values.push({ labels: { verdict }, value: d.count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator };
  }
}

/** Serves /metrics on its own listener. */
export async function startMetrics(registry: Registry, host: string, port: number): Promise<{ server: Server; address: string }> {
  const server = createServer((req, res) => {
    if (req.url !== '/metrics') { res.writeHead(404).end(); return; }
    registry.metrics().then((text) => res.writeHead(200, { 'Content-Type': registry.contentType }).end(text), () => res.writeHead(500).end());
  });
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(port, host, () => resolve()); });
  const a = server.address();
  return { server, address: typeof a === 'object' && a ? `${a.address.includes(':') ? `[${a.address}]` : a.address}:${a.port}` : String(a) };
}
