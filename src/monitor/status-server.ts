/**
 * The status page served by the agent (on its --listen address):
 *   GET  /status          the page (public view, or the admin view with the token)
 *   GET  /status/events   server-sent events: the page's <main> re-rendered on every change
 *   GET  /status.json     the same snapshot as JSON (public or admin)
 *   GET/POST /status/login, POST /status/logout   the admin sign-in (an HttpOnly cookie)
 * The admin token comes from x-berth monitor.status.token_file (or BERTH_STATUS_TOKEN); it is
 * accepted as `Authorization: Bearer TOKEN` or as the cookie the sign-in sets. Without a token
 * there is no admin view; with `public: false` there is no public view either.
 * It also records the health history (history.ts) from the same state, every few seconds.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ComposeProject } from '../compose/types.js';
import type { StateStore } from '../state/store.js';
import { Catalog } from '../backup/catalog.js';
import { resolveTargets } from '../backup/targets.js';
import { listDeploys } from '../rollout/history.js';
import type { Alerting } from './alerting.js';
import { addUnwritten, blankBars, storedBars, HistoryRecorder, BUCKET_SECONDS, type Bar } from './history.js';
import type { Monitor } from './monitor.js';
import { silenceCovers } from './silences.js';
import { publicSnapshot, renderLive, renderLogin, renderPage, serviceHealth, type StatusSnapshot } from './status-page.js';

export interface StatusPageOptions {
  monitor: Pick<Monitor, 'state' | 'watcher' | 'probeResults'>;
  store: StateStore;
  project: ComposeProject;
  alerting?: Pick<Alerting, 'evaluator' | 'silences'>;
  /** The admin token; undefined: no admin view. */
  token?: string;
  /** Serve the public view to anyone. Default true. */
  public?: boolean;
  title?: string;
  /** How often the history is recorded and idle pages refreshed. Default 5 s. */
  intervalMs?: number;
  log?: (line: Record<string, unknown>) => void;
}

export interface StatusPage {
  /** Handles the request when it is the status page's; false otherwise. */
  handle(req: IncomingMessage, res: ServerResponse): boolean;
  snapshot(now?: number): StatusSnapshot;
  /** Records the history now (tests). */
  record(now?: number): void;
  stop(): void;
}

const COOKIE = 'berth_status';

export function startStatusPage(options: StatusPageOptions): StatusPage {
  const { monitor, store, project } = options;
  const title = options.title ?? project.name;
  const publicView = options.public !== false;
  const recorder = new HistoryRecorder(store);
  const catalog = new Catalog(store);
  const targets = resolveTargets(project).map((t) => t.name);
  const tokenDigest = options.token ? createHash('sha256').update(options.token).digest() : undefined;

  const planned = (service: string, now: number) => options.alerting?.silences().find((s) => silenceCovers(s, project.name, service, now))?.reason;

  const services = () => monitor.state.services().filter((s) => s.project === project.name);

  // The stored history changes only when the recorder writes (once a minute): read it once per write and bar.
  const barsCache = new Map<string, Map<string, Bar[]>>();
  const cachedBars = (now: number, count: number, seconds: number) => {
    const key = `${recorder.generation}|${count}|${seconds}|${Math.floor(now / 1000 / seconds)}`;
    let bars = barsCache.get(key);
    if (!bars) {
      for (const k of barsCache.keys()) if (!k.startsWith(`${recorder.generation}|`)) barsCache.delete(k);
      bars = storedBars(store, project.name, now, count, seconds);
      barsCache.set(key, bars);
    }
    return bars;
  };

  const snapshot = (now = Date.now()): StatusSnapshot => {
    const probes = monitor.probeResults();
    const list = services();
    const unwritten = recorder.unwritten(project.name);
    const bars24 = addUnwritten(cachedBars(now, 96, BUCKET_SECONDS), unwritten, now, 96, BUCKET_SECONDS);
    const bars7d = addUnwritten(cachedBars(now, 84, 7200), unwritten, now, 84, 7200);
    const newest = catalog.newestVerified(project.name);
    return {
      project: project.name,
      title,
      generatedAt: now,
      services: list.map((s) => {
        const health = serviceHealth(s.desired, s.containers, planned(s.service, now));
        const probe = probes.find((p) => p.target.service === s.service && p.target.project === s.project);
        return {
          name: s.service,
          ...health,
          desired: s.desired,
          containers: s.containers.map((c) => ({ name: c.name, image: c.image, status: c.status, health: c.health, startedAt: c.startedAt })),
          probe: probe ? { url: probe.target.url, ok: probe.success, ms: probe.durationSeconds * 1000, statusCode: probe.statusCode, error: probe.error } : undefined,
          bars24h: bars24.get(s.service) ?? blankBars(now, 96, BUCKET_SECONDS),
          bars7d: bars7d.get(s.service) ?? blankBars(now, 84, 7200),
        };
      }),
      alerts: (options.alerting?.evaluator.firing() ?? []).filter((a) => a.project === undefined || a.project === project.name).map((a) => ({ name: a.name, severity: a.severity, summary: a.summary, since: a.firedAt ?? a.activeSince, held: a.held })),
      silences: (options.alerting?.silences() ?? []).filter((s) => s.endedAt === undefined && s.expiresAt > now).map((s) => ({ service: s.service, reason: s.reason, user: s.user, since: s.startedAt })),
      deploys: listDeploys(store, project.name, { limit: 10 }).map((d) => ({ id: d.id, service: d.service, kind: d.kind, user: d.user, result: d.result, startedAt: d.startedAt, durationMs: d.durationMs, image: d.imageAfter })),
      backups: [...newest.values()].map((b) => ({ target: b.target, at: b.finishedAt ?? b.startedAt, id: b.id, sizeBytes: b.sizeBytes, destination: b.destination })),
      backupsMissing: targets.filter((t) => !newest.has(t)),
      engine: { up: monitor.watcher.health.dockerUp, eventsStreamUp: monitor.watcher.health.eventsStreamUp },
    };
  };

  const record = (now = Date.now()) => {
    recorder.observe(project.name, services().map((s) => ({ service: s.service, state: serviceHealth(s.desired, s.containers, planned(s.service, now)).state })), now);
  };

  // Server-sent events: each client gets <main> re-rendered when it changed.
  const clients = new Set<{ res: ServerResponse; admin: boolean; last: string }>();
  const push = () => {
    if (clients.size === 0) return;
    const snap = snapshot();
    const html = { admin: '', public: '' };
    for (const client of clients) {
      const key = client.admin ? 'admin' : 'public';
      html[key] ||= renderLive(client.admin ? snap : publicSnapshot(snap), client.admin);
      if (html[key] === client.last) continue;
      client.last = html[key];
      client.res.write(`data: ${JSON.stringify({ html: html[key] })}\n\n`);
    }
  };
  let soon: NodeJS.Timeout | undefined;
  const unsubscribe = monitor.state.onChange(() => {
    // A burst of engine events is one update; 100 ms keeps the page well within 2 s of a change.
    soon ??= setTimeout(() => {
      soon = undefined;
      push();
    }, 100);
  });
  let lastFlush = Date.now();
  const interval = setInterval(() => {
    const now = Date.now();
    record(now);
    if (now - lastFlush >= 60_000) {
      lastFlush = now;
      try {
        recorder.flush(now);
      } catch (error) {
        options.log?.({ event: 'status-history-failed', error: String(error) });
      }
    }
    push();
    for (const client of clients) client.res.write(': keep-alive\n\n');
  }, options.intervalMs ?? 5000);
  interval.unref();

  const isAdmin = (req: IncomingMessage): boolean => {
    if (!tokenDigest) return false;
    const bearer = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1];
    const cookie = parseCookies(req.headers.cookie)[COOKIE];
    const given = bearer ?? cookie;
    return given !== undefined && timingSafeEqual(createHash('sha256').update(given).digest(), tokenDigest);
  };

  const headers = (nonce: string, type = 'text/html; charset=utf-8') => ({
    'content-type': type,
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'x-frame-options': 'DENY',
    'content-security-policy': `default-src 'none'; style-src 'nonce-${nonce}'; script-src 'nonce-${nonce}'; connect-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'`,
  });

  const handle = (req: IncomingMessage, res: ServerResponse): boolean => {
    const url = new URL(req.url ?? '/', 'http://agent');
    const path = url.pathname.replace(/\/+$/, '') || '/';
    if (!['/status', '/status/events', '/status.json', '/status/login', '/status/logout'].includes(path)) return false;
    const nonce = randomBytes(12).toString('base64');
    if (path === '/status/login') {
      if (!tokenDigest) {
        res.writeHead(404, headers(nonce, 'text/plain; charset=utf-8'));
        res.end('no admin token is configured (x-berth monitor.status.token_file)\n');
        return true;
      }
      if (req.method === 'POST') {
        readForm(req).then((form) => {
          const token = form.get('token') ?? '';
          if (timingSafeEqual(createHash('sha256').update(token).digest(), tokenDigest)) {
            const secure = req.headers['x-forwarded-proto'] === 'https' ? '; Secure' : '';
            res.writeHead(303, { location: '/status', 'set-cookie': `${COOKIE}=${encodeURIComponent(token)}; HttpOnly; SameSite=Strict; Path=/status${secure}`, 'cache-control': 'no-store' });
            res.end();
          } else {
            res.writeHead(401, headers(nonce));
            res.end(renderLogin('That token is not right.', nonce));
          }
        }, () => {
          res.writeHead(400, headers(nonce, 'text/plain; charset=utf-8'));
          res.end('bad form\n');
        });
        return true;
      }
      res.writeHead(200, headers(nonce));
      res.end(renderLogin(undefined, nonce));
      return true;
    }
    if (path === '/status/logout') {
      res.writeHead(303, { location: '/status', 'set-cookie': `${COOKIE}=; HttpOnly; SameSite=Strict; Path=/status; Max-Age=0` });
      res.end();
      return true;
    }
    const admin = isAdmin(req);
    if (!admin && !publicView) {
      res.writeHead(401, headers(nonce));
      res.end(renderLogin(tokenDigest ? undefined : 'This status page is not public and has no admin token.', nonce));
      return true;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' });
      res.end();
      return true;
    }
    if (path === '/status/events') {
      res.writeHead(200, { ...headers(nonce, 'text/event-stream; charset=utf-8'), connection: 'keep-alive', 'x-accel-buffering': 'no' });
      const snap = snapshot();
      const html = renderLive(admin ? snap : publicSnapshot(snap), admin);
      const client = { res, admin, last: html };
      res.write(`retry: 1000\ndata: ${JSON.stringify({ html })}\n\n`);
      clients.add(client);
      req.on('close', () => clients.delete(client));
      return true;
    }
    const snap = snapshot();
    if (path === '/status.json') {
      res.writeHead(200, headers(nonce, 'application/json'));
      res.end(`${JSON.stringify(admin ? snap : publicSnapshot(snap))}\n`);
      return true;
    }
    res.writeHead(200, headers(nonce));
    res.end(req.method === 'HEAD' ? undefined : renderPage(admin ? snap : publicSnapshot(snap), { admin, nonce, eventsPath: '/status/events', canSignIn: Boolean(tokenDigest) }));
    return true;
  };

  return {
    handle,
    snapshot,
    record,
    stop: () => {
      clearInterval(interval);
      if (soon) clearTimeout(soon);
      unsubscribe();
      for (const client of clients) client.res.end();
      clients.clear();
      try {
        record();
        recorder.flush();
      } catch {
        // The store may be closed already.
      }
    },
  };
}

function parseCookies(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (header ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0) out[part.slice(0, i).trim()] = decodeURIComponent(part.slice(i + 1).trim());
  }
  return out;
}

function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      body += chunk;
      if (body.length > 4096) req.destroy(new Error('form too large'));
    });
    req.on('end', () => resolve(new URLSearchParams(body)));
    req.on('error', reject);
  });
}
