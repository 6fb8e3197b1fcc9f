/**
 * A bounded HTTP load generator for rollout tests and the benchmark: keep-alive GETs against
 * 127.0.0.1:<port> at a fixed rate, counting failures (non-2xx, connection errors, timeouts) and
 * responses by the x-app-version header. Stops at stop() or after maxMs, whichever is first.
 */
import http from 'node:http';

export interface LoadResult {
  sent: number;
  ok: number;
  failed: number;
  byVersion: Record<string, number>;
  /** The first failures: seconds since start and what happened. */
  failures: string[];
  /** Versions in order of arrival, compressed into runs ("1×40 2×60"). */
  timeline: string;
  /** Responses that took 500 ms or more (a connect answered only on the SYN's retransmit takes ~1 s), and the slowest. */
  slow: number;
  maxLatencyMs: number;
}

export interface Load {
  /** Stops sending, waits for the requests in flight, returns the counts. */
  stop(): Promise<LoadResult>;
  /** Counts so far (since start or the last mark()). */
  snapshot(): LoadResult;
  /** Starts a new window of counts (the totals keep going). */
  mark(): void;
}

export function startLoad(port: number, options: { rps?: number; maxMs?: number; timeoutMs?: number; path?: string } = {}): Load {
  const rps = options.rps ?? 40;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  const started = performance.now();
  const total = empty();
  let window = empty();
  const runs: Array<[string, number]> = [];
  const inflight = new Set<Promise<void>>();
  let stopped = false;
  const record = (r: LoadResult, version: string | undefined, failure: string | undefined, latencyMs: number) => {
    r.sent++;
    if (latencyMs >= 500) r.slow++;
    r.maxLatencyMs = Math.max(r.maxLatencyMs, Math.round(latencyMs));
    if (failure) {
      r.failed++;
      if (r.failures.length < 20) r.failures.push(failure);
    } else r.ok++;
    if (version) r.byVersion[version] = (r.byVersion[version] ?? 0) + 1;
  };
  const one = () => {
    const sentAt = performance.now();
    const t = ((sentAt - started) / 1000).toFixed(2);
    const p = new Promise<void>((resolve) => {
      const done = (version: string | undefined, failure: string | undefined) => {
        const latencyMs = performance.now() - sentAt;
        record(total, version, failure, latencyMs);
        record(window, version, failure, latencyMs);
        const label = failure ? 'FAIL' : version ?? '?';
        const last = runs[runs.length - 1];
        if (last && last[0] === label) last[1]++;
        else runs.push([label, 1]);
        resolve();
      };
      const req = http.get({ host: '127.0.0.1', port, path: options.path ?? '/', agent, timeout: options.timeoutMs ?? 10_000 }, (res) => {
        res.resume();
        res.on('end', () => {
          const version = res.headers['x-app-version'] as string | undefined;
          const code = res.statusCode ?? 0;
          done(version, code >= 200 && code < 300 ? undefined : `${t}s HTTP ${code}`);
        });
        res.on('error', (e) => done(undefined, `${t}s ${e.message}`));
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (e: NodeJS.ErrnoException) => done(undefined, `${t}s ${e.code ?? e.message}`));
    });
    inflight.add(p);
    void p.then(() => inflight.delete(p));
  };
  const timer = setInterval(() => {
    if (stopped || performance.now() - started > (options.maxMs ?? 120_000)) {
      clearInterval(timer);
      return;
    }
    one();
  }, 1000 / rps);
  const snapshotOf = (r: LoadResult): LoadResult => ({ ...r, byVersion: { ...r.byVersion }, failures: [...r.failures], timeline: runs.map(([v, n]) => `${v}×${n}`).join(' ') });
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await Promise.all([...inflight]);
      agent.destroy();
      return snapshotOf(total);
    },
    snapshot: () => snapshotOf(window),
    mark() {
      window = empty();
    },
  };
}

function empty(): LoadResult {
  return { sent: 0, ok: 0, failed: 0, byVersion: {}, failures: [], timeline: '', slow: 0, maxLatencyMs: 0 };
}
