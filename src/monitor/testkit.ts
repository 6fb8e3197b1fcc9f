/**
 * Test helpers of the monitor (not shipped code): a relay in front of the engine's socket that a
 * test controls (cut the events stream, refuse connections, hold one request, count requests),
 * and a reader of Prometheus text exposition.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface EngineRelay {
  /** DOCKER_HOST for clients of the relay (unix://...). */
  host: string;
  /** Every request line seen, in order ("GET /v1.41/containers/json?... HTTP/1.0"). */
  requests: string[];
  /** When each of `requests` arrived (ms since the epoch). */
  requestTimes: number[];
  /** While true, new connections are closed at once (the engine is unreachable). */
  down: boolean;
  /** Closes the open connections whose requests match (e.g. /\/events/): a cut stream. Returns how many. */
  cut(pattern: RegExp): number;
  /** Before a request matching `pattern` is forwarded, `gate` runs and is awaited. */
  hold(pattern: RegExp, gate: () => Promise<void>): void;
  close(): Promise<void>;
}

const REQUEST_LINE = /(?:^|\r\n)((?:GET|HEAD|POST|PUT|DELETE) \S+ HTTP\/1\.[01])\r\n/g;

export async function startEngineRelay(upstreamPath = '/var/run/docker.sock'): Promise<EngineRelay> {
  const dir = mkdtempSync(join(tmpdir(), 'berth-relay-'));
  const path = join(dir, 'docker.sock');
  const open = new Map<Socket, { lines: string[]; upstream?: Socket }>();
  const holds: Array<{ pattern: RegExp; gate: () => Promise<void> }> = [];
  const relay: EngineRelay = {
    host: `unix://${path}`,
    requests: [],
    requestTimes: [],
    down: false,
    cut(pattern) {
      let n = 0;
      for (const [client, c] of open) {
        if (c.lines.some((l) => pattern.test(l))) {
          client.destroy();
          c.upstream?.destroy();
          n++;
        }
      }
      return n;
    },
    hold(pattern, gate) {
      holds.push({ pattern, gate });
    },
    close: async () => {
      for (const [client, c] of open) {
        client.destroy();
        c.upstream?.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
  const server = createServer((client) => {
    if (relay.down) return void client.destroy();
    const conn: { lines: string[]; upstream?: Socket } = { lines: [] };
    open.set(client, conn);
    let pending: Buffer[] = [];
    let ready = false;
    let starting = false;
    const forget = () => {
      open.delete(client);
      conn.upstream?.destroy();
    };
    client.on('close', forget);
    client.on('error', forget);
    const linesOf = (data: Buffer) => [...data.toString('latin1').matchAll(REQUEST_LINE)].map((m) => m[1]!);
    client.on('data', (data: Buffer) => {
      const lines = linesOf(data);
      conn.lines.push(...lines);
      relay.requests.push(...lines);
      for (let i = 0; i < lines.length; i++) relay.requestTimes.push(Date.now());
      if (ready) return void conn.upstream!.write(data);
      pending.push(data);
      if (starting) return;
      starting = true;
      const gates = holds.filter((h) => lines.some((l) => h.pattern.test(l))).map((h) => h.gate());
      void Promise.all(gates).then(() => {
        if (client.destroyed) return;
        const upstream = createConnection(upstreamPath);
        conn.upstream = upstream;
        upstream.on('connect', () => {
          for (const chunk of pending) upstream.write(chunk);
          pending = [];
          ready = true;
        });
        upstream.on('data', (d: Buffer) => client.write(d));
        upstream.on('end', () => client.end());
        upstream.on('error', () => client.destroy());
        upstream.on('close', () => client.destroy());
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return relay;
}

/** One sample of a text exposition. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the Prometheus text format (what /metrics serves). */
export function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!.replace(/\\"/g, '"').replace(/\\n/g, '\n').replace(/\\\\/g, '\\');
    samples.push({ name: m[1]!, labels, value: Number(m[4]) });
  }
  return samples;
}

/** The value of the one sample with this name whose labels include `labels`; undefined when none. */
export function sampleValue(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (found.length > 1) throw new Error(`${found.length} samples of ${name} match ${JSON.stringify(labels)}`);
  return found[0]?.value;
}
