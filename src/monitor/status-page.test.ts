import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { makeProject, tempDir } from '../backup/testkit.js';
import { StateStore } from '../state/store.js';
import { HistoryRecorder, historyBars, barState } from './history.js';
import { serviceHealth } from './status-page.js';
import { startStatusPage } from './status-server.js';
import { WatchState } from './state.js';
import type { Monitor } from './monitor.js';

const TOKEN = 'admin-token-0123456789abcdef';
const IMAGE = 'registry.example.com/shop/secret-api:1.2.3';

function fixture(options: { public?: boolean } = {}) {
  const store = StateStore.open(tempDir('status-page'));
  const project = makeProject('shop', { api: {}, db: {} });
  const state = new WatchState();
  state.setDesired('shop', { api: 2, db: 1 });
  const labels = (service: string) => ({ 'com.docker.compose.project': 'shop', 'com.docker.compose.service': service, 'com.example.env': 'DATABASE_PASSWORD=hunter2' });
  for (const [id, service, health] of [['a1', 'api', 'healthy'], ['a2', 'api', 'unhealthy'], ['d1', 'db', 'healthy']] as const) {
    state.applyInspect({ Id: id, Name: `/shop_${service}_${id}`, Config: { Image: IMAGE, Labels: labels(service), Healthcheck: { Test: ['CMD', 'true'] } }, State: { Status: 'running', Health: { Status: health }, StartedAt: new Date().toISOString() } });
  }
  const monitor = { state, watcher: { health: { dockerUp: true, eventsStreamUp: true, reconnects: 0, lastEventAt: null, calls: {} }, ready: Promise.resolve() }, probeResults: () => [] } as unknown as Pick<Monitor, 'state' | 'watcher' | 'probeResults'>;
  const page = startStatusPage({ monitor, store, project, token: TOKEN, public: options.public, intervalMs: 60_000 });
  const server = createServer((req, res) => {
    if (!page.handle(req, res)) (res.writeHead(404), res.end());
  });
  return {
    store, state, page,
    listen: () => new Promise<string>((resolve) => server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`))),
    close: () => {
      page.stop();
      server.close();
      store.close();
    },
  };
}

test('service state: up, degraded, down, planned, in words', () => {
  const c = (status: string, health: string) => ({ status, health }) as never;
  assert.equal(serviceHealth(2, [c('running', 'healthy'), c('running', 'none')], undefined).state, 'up');
  assert.deepEqual(serviceHealth(2, [c('running', 'healthy'), c('running', 'unhealthy')], undefined).detail, '1 of 2 healthy, 1 unhealthy');
  assert.equal(serviceHealth(1, [c('running', 'unhealthy')], undefined).state, 'down');
  assert.equal(serviceHealth(1, [], undefined).detail, 'down: not running');
  assert.equal(serviceHealth(1, [], 'rollout api').state, 'planned');
  assert.equal(serviceHealth(1, [c('running', 'healthy')], 'rollout api').state, 'up', 'a planned stop of a healthy service shows it up');
});

test('public view: names and states only (no image, no container, no label or environment, no token); admin view behind the token', async () => {
  const f = fixture();
  const base = await f.listen();
  try {
    const pub = await (await fetch(`${base}/status`)).text();
    const pubJson = await (await fetch(`${base}/status.json`)).text();
    for (const text of [pub, pubJson]) {
      for (const secret of [IMAGE, 'secret-api', 'shop_api_a1', 'hunter2', 'DATABASE_PASSWORD', TOKEN]) assert.ok(!text.includes(secret), `public view leaks ${secret}`);
    }
    assert.match(pub, /data-service="api" data-state="degraded"/);
    assert.match(pub, /data-service="db" data-state="up"/);
    assert.match(pub, /<main id="live"/);
    assert.match(pub, /<html lang="en">/);
    assert.ok(!/<(link|img|script)[^>]+(src|href)=["']https?:/.test(pub), 'no external assets');
    // A wrong token is the public view; the right one (Bearer) is the admin view.
    const wrong = await (await fetch(`${base}/status`, { headers: { authorization: 'Bearer nope' } })).text();
    assert.ok(!wrong.includes(IMAGE));
    const admin = await (await fetch(`${base}/status`, { headers: { authorization: `Bearer ${TOKEN}` } })).text();
    assert.ok(admin.includes(IMAGE), 'the admin view shows images');
    assert.match(admin, /1 of 2 healthy, 1 unhealthy/);
    assert.ok(!admin.includes(TOKEN), 'not even the admin view echoes the token');
    // Sign-in: a form post sets an HttpOnly cookie; the cookie gives the admin view.
    const login = await fetch(`${base}/status/login`, { method: 'POST', body: new URLSearchParams({ token: TOKEN }), redirect: 'manual' });
    assert.equal(login.status, 303);
    const cookie = login.headers.get('set-cookie')!;
    assert.match(cookie, /HttpOnly; SameSite=Strict/);
    assert.ok((await (await fetch(`${base}/status`, { headers: { cookie: cookie.split(';')[0]! } })).text()).includes(IMAGE));
    const bad = await fetch(`${base}/status/login`, { method: 'POST', body: new URLSearchParams({ token: 'guess' }), redirect: 'manual' });
    assert.equal(bad.status, 401);
    // CSP: nothing from elsewhere, the inline script only with its nonce.
    const csp = (await fetch(`${base}/status`)).headers.get('content-security-policy')!;
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'nonce-/);
  } finally {
    f.close();
  }
});

test('public: false: no view without the token', async () => {
  const f = fixture({ public: false });
  const base = await f.listen();
  try {
    const res = await fetch(`${base}/status`);
    assert.equal(res.status, 401);
    assert.ok(!(await res.text()).includes('data-service'));
    assert.equal((await fetch(`${base}/status`, { headers: { authorization: `Bearer ${TOKEN}` } })).status, 200);
  } finally {
    f.close();
  }
});

test('live updates: the events stream sends <main> again when a container turns unhealthy', async () => {
  const f = fixture();
  const base = await f.listen();
  const controller = new AbortController();
  try {
    const res = await fetch(`${base}/status/events`, { signal: controller.signal });
    assert.equal(res.headers.get('content-type'), 'text/event-stream; charset=utf-8');
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    const next = async () => {
      while (!text.includes('\n\n')) text += decoder.decode((await reader.read()).value);
      const [event, ...rest] = text.split('\n\n');
      text = rest.join('\n\n');
      return event!;
    };
    assert.match(await next(), /data-service=\\"db\\" data-state=\\"up\\"/);
    const changed = Date.now();
    f.state.applyEvent({ Type: 'container', Action: 'health_status: unhealthy', Actor: { ID: 'd1', Attributes: {} } } as never);
    const update = await next();
    assert.match(update, /data-service=\\"db\\" data-state=\\"down\\"/);
    assert.ok(!update.includes('secret-api') && !update.includes('shop_db_d1'), 'the public stream is the public view');
    assert.ok(Date.now() - changed < 1000, `pushed within a second (${Date.now() - changed} ms)`);
  } finally {
    controller.abort();
    f.close();
  }
});

test('history: bounded 15-minute buckets; a bar is down if any of it was down', () => {
  const store = StateStore.open(tempDir('history'));
  try {
    const recorder = new HistoryRecorder(store);
    const t0 = Date.parse('2026-12-01T00:00:00Z');
    // 8 days of one observation a minute: up, with 2 minutes down on the last day.
    for (let t = t0; t <= t0 + 8 * 86_400_000; t += 60_000) {
      const down = t >= t0 + 8 * 86_400_000 - 3_600_000 && t < t0 + 8 * 86_400_000 - 3_480_000;
      recorder.observe('shop', [{ service: 'api', state: down ? 'down' : 'up' }], t);
      if ((t - t0) % 3_600_000 === 0) recorder.flush(t);
    }
    recorder.flush(t0 + 8 * 86_400_000);
    const rows = (store.db.prepare('SELECT COUNT(*) AS n FROM monitor_history').get() as { n: number }).n;
    assert.ok(rows <= 7 * 96 + 2, `at most 7 days of buckets kept: ${rows}`);
    const bars = historyBars(store, 'shop', t0 + 8 * 86_400_000, 96, 900).get('api')!;
    assert.equal(bars.length, 96);
    assert.deepEqual(bars.map(barState).filter((s) => s === 'down').length, 1);
    assert.ok(bars.filter((b) => barState(b) === 'up').length >= 90);
  } finally {
    store.close();
  }
});
