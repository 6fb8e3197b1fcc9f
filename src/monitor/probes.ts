/**
 * HTTP probes of the URLs named in x-berth (per service `monitor: { url }`), reported under
 * blackbox_exporter's names. Probing runs on its own interval, never at scrape time.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { ComposeProject } from '../compose/types.js';

export interface ProbeTarget {
  project: string;
  service: string;
  url: string;
  timeoutMs: number;
  intervalMs: number;
}

export interface ProbeResult {
  target: ProbeTarget;
  at: number;
  success: boolean;
  durationSeconds: number;
  statusCode: number;
  /** Seconds since the epoch when the peer's certificate expires (https only). */
  certExpiry: number | undefined;
  error: string | undefined;
}

/** Pure: the probes a project asks for. */
export function probeTargets(project: ComposeProject): ProbeTarget[] {
  return Object.values(project.services)
    .filter((s) => s.berth.monitor?.url)
    .map((s) => ({ project: project.name, service: s.name, url: s.berth.monitor!.url!, timeoutMs: s.berth.monitor!.timeoutMs ?? 5000, intervalMs: s.berth.monitor!.intervalMs ?? 15_000 }));
}

/** One probe: success is a 2xx or 3xx answer within the timeout (blackbox's http_2xx default accepts 2xx; redirects are not followed). */
export function probeOnce(target: ProbeTarget): Promise<ProbeResult> {
  const started = process.hrtime.bigint();
  const url = new URL(target.url);
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve) => {
    let certExpiry: number | undefined;
    const done = (statusCode: number, error?: string) => {
      const durationSeconds = Number(process.hrtime.bigint() - started) / 1e9;
      resolve({ target, at: Date.now(), success: !error && statusCode >= 200 && statusCode < 400, durationSeconds, statusCode, certExpiry, error });
    };
    const req = request(url, { method: 'GET', timeout: target.timeoutMs, headers: { 'user-agent': 'berth-agent probe' } }, (res) => {
      const socket = res.socket as TLSSocket;
      if (typeof socket.getPeerCertificate === 'function') {
        const validTo = socket.getPeerCertificate()?.valid_to;
        if (validTo) certExpiry = Date.parse(validTo) / 1000;
      }
      res.resume();
      res.on('end', () => done(res.statusCode ?? 0));
      res.on('error', (e) => done(res.statusCode ?? 0, e.message));
    });
    req.on('timeout', () => req.destroy(new Error(`timed out after ${target.timeoutMs} ms`)));
    req.on('error', (e) => done(0, e.message));
    req.end();
  });
}

/** Probes every target on its interval; results() is what the exposition reads. */
export function startProbes(targets: ProbeTarget[], onResult?: (r: ProbeResult) => void): { results(): ProbeResult[]; stop(): void } {
  const latest = new Map<string, ProbeResult>();
  const timers = targets.map((t) => {
    let inFlight = false;
    const run = () => {
      if (inFlight) return;
      inFlight = true;
      void probeOnce(t).then((r) => {
        inFlight = false;
        latest.set(`${t.project}/${t.service}/${t.url}`, r);
        onResult?.(r);
      });
    };
    run();
    const timer = setInterval(run, t.intervalMs);
    timer.unref();
    return timer;
  });
  return { results: () => [...latest.values()], stop: () => timers.forEach(clearInterval) };
}
