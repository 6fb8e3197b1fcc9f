/**
 * A steady stream of HTTP requests that behaves like a proxy in front of the app: it polls the
 * readiness path and stops routing when it turns non-2xx (or, without a readiness endpoint, after
 * the first failure, like a passive health check). Failures that remain are what users would see.
 */
import * as http from 'node:http';
import type { RequestStats } from './types.js';

export interface RequestStreamOptions {
  host?: string;
  port: number;
  path: string;
  readinessPath: string;
  requestsPerSecond: number;
  readinessPollMs: number;
}

export interface RequestStream {
  /** Call right before the stop request: requests in flight then, and all later ones, count as "during shutdown". */
  markStop(): void;
  /** Stops sending new requests (the container exited); those in flight still count. */
  halt(): void;
  /** Stops sending, waits briefly for answers, and returns the counts. */
  finish(): Promise<RequestStats>;
}

function get(port: number, host: string, path: string, agent: http.Agent | false, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host, port, path, agent, timeout: timeoutMs }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
    req.on('error', reject);
  });
}

const cause = (error: unknown) => {
  const e = error as NodeJS.ErrnoException;
  return e?.code ?? (e instanceof Error ? e.message : String(error));
};

export async function startRequestStream(options: RequestStreamOptions): Promise<RequestStream> {
  const host = options.host ?? '127.0.0.1';
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const stats: RequestStats = { sent: 0, ok: 0, failed: {}, failedDuringShutdown: 0, inFlightAtStop: 0, readiness: 'unused' };
  let stopAt: number | undefined;
  let routing = true;
  let finished = false;
  const pending = new Set<Promise<void>>();
  const inFlight = new Set<{ duringShutdown: boolean }>();

  const fail = (why: string, duringShutdown: boolean) => {
    stats.failed[why] = (stats.failed[why] ?? 0) + 1;
    if (duringShutdown) stats.failedDuringShutdown++;
    if (stats.readiness === 'absent') routing = false; // passive health check: one failure takes the backend out
  };

  // Does the app have a readiness endpoint? 404 (or 405) means no: fall back to passive checks.
  try {
    const status = await get(options.port, host, options.readinessPath, false, 2000);
    stats.readiness = status === 404 || status === 405 ? 'absent' : 'followed';
  } catch {
    stats.readiness = 'absent';
  }

  const poll =
    stats.readiness === 'followed'
      ? setInterval(() => {
          if (!routing) return;
          get(options.port, host, options.readinessPath, false, options.readinessPollMs).then(
            (status) => {
              if (status < 200 || status > 299) notReady();
            },
            () => notReady(),
          );
        }, options.readinessPollMs)
      : undefined;
  const notReady = () => {
    if (!routing) return;
    routing = false;
    if (stopAt !== undefined) stats.readinessFailedAfterMs = Date.now() - stopAt;
  };

  const send = () => {
    if (!routing || finished) return;
    const entry = { duringShutdown: stopAt !== undefined };
    inFlight.add(entry);
    stats.sent++;
    const p = get(options.port, host, options.path, agent, 30_000).then(
      (status) => {
        if (status >= 500) fail(`HTTP ${status}`, entry.duringShutdown);
        else stats.ok++;
      },
      (error: unknown) => fail(cause(error), entry.duringShutdown),
    );
    const tracked = p.finally(() => {
      inFlight.delete(entry);
      pending.delete(tracked);
    });
    pending.add(tracked);
  };
  const intervalMs = Math.max(5, 1000 / options.requestsPerSecond);
  const perTick = Math.max(1, Math.round(options.requestsPerSecond / (1000 / intervalMs)));
  const ticker = setInterval(() => {
    for (let i = 0; i < perTick; i++) send();
  }, intervalMs);

  return {
    markStop() {
      stopAt = Date.now();
      stats.inFlightAtStop = inFlight.size;
      for (const entry of inFlight) entry.duringShutdown = true;
    },
    halt() {
      finished = true;
    },
    async finish() {
      finished = true;
      clearInterval(ticker);
      if (poll) clearInterval(poll);
      // Whatever is still open after the container is gone gets two seconds to fail or answer.
      await Promise.race([Promise.all([...pending]), new Promise((r) => setTimeout(r, 2000))]);
      agent.destroy();
      await Promise.race([Promise.all([...pending]), new Promise((r) => setTimeout(r, 500))]);
      return stats;
    },
  };
}
