/** Audit log (one JSON line per request, via pino) and Prometheus counters (prom-client). */
import { createServer, type Server } from 'node:http';
import { pino, type DestinationStream, type Logger } from 'pino';
import { Counter, Histogram, Registry } from 'prom-client';

export interface AuditEntry {
  client: string;
  method: string;
  path: string;
  verdict: 'allow' | 'deny' | 'error';
  rule: string;
  reason?: string;
  status: number;
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

export function createAudit(options: { level?: string; destination?: DestinationStream | false } = {}): Audit {
  const logger = options.destination === false
    ? pino({ enabled: false })
    : pino({ level: options.level ?? 'info', base: { component: 'socket-proxy' }, timestamp: pino.stdTimeFunctions.isoTime }, options.destination ?? pino.destination({ fd: 1, sync: false }));
  const registry = new Registry();
  const requests = new Counter({ name: 'berth_socket_proxy_requests_total', help: 'Requests by verdict and deciding rule', labelNames: ['verdict', 'rule'], registers: [registry] });
  const duration = new Histogram({ name: 'berth_socket_proxy_request_duration_seconds', help: 'Request duration (whole exchange, streams included) by verdict', labelNames: ['verdict'], buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 300], registers: [registry] });
  return {
    logger,
    registry,
    record(entry) {
      requests.inc({ verdict: entry.verdict, rule: entry.rule });
      duration.observe({ verdict: entry.verdict }, entry.durationMs / 1000);
      const level = entry.verdict === 'allow' ? 'info' : 'warn';
      logger[level](entry, entry.verdict);
    },
  };
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
