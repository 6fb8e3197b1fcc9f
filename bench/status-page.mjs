// The agent's status page on the example stack, side by side with a baseline page that collects
// the same state at request time (list + inspect of the project's containers, as a status page
// without a watcher must), alternated in one run. Both render with the same renderer, from a
// state store holding 7 days of health history (one observation a minute, some outages) and 40
// deploys. Measured: the server's time to the full HTML, the page's weight, and in headless
// Chromium the first contentful paint of a fresh navigation. Goals: first render < 200 ms, page < 100 KB.
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import { median, percentile, writeResult } from './machine.mjs';
import { Engine } from '../dist/engine/client.js';
import { loadProject } from '../dist/compose/load.js';
import { StateStore } from '../dist/state/store.js';
import { startAgent } from '../dist/agent/scheduler.js';
import { startStatusPage } from '../dist/monitor/status-server.js';
import { HistoryRecorder } from '../dist/monitor/history.js';
import { WatchState } from '../dist/monitor/state.js';
import { startDeploy, finishDeploy } from '../dist/rollout/history.js';

const project = 'berth-bench-status';
const dir = mkdtempSync(join(tmpdir(), 'berth-bench-status-'));
// As in the page test: the stack's Node healthchecks get 20 s instead of 3 s, so a machine loaded
// by other work does not keep `berth up` from finishing (the page's timings do not depend on it).
const override = join(dir, 'compose.loaded-machine.yaml');
writeFileSync(override, 'services:\n  app:\n    healthcheck: { timeout: 20s }\n  socket-proxy:\n    healthcheck: { timeout: 20s }\n');
const stack = ['-f', 'examples/production/compose.yaml', '-f', override, '-p', project];
const env = { ...process.env, NO_COLOR: '1', PROXY_BIND: '127.0.0.1:', DOCKER_GID: String(statSync('/var/run/docker.sock').gid), BERTH_STATE_DIR: join(dir, 'state') };
const TOKEN = 'bench-admin-token-0123456789';
const runs = Number(process.env.BENCH_RUNS ?? 30);

const up = spawnSync(process.execPath, ['bin/berth.js', ...stack, 'up'], { env, stdio: 'inherit' });
if (up.status !== 0) throw new Error('could not bring the example stack up');
const engine = await Engine.connect();
const model = await loadProject({ files: ['examples/production/compose.yaml', override], projectName: project, env });
const store = StateStore.open(env.BERTH_STATE_DIR);

// 7 days of history, one observation a minute per service, an outage now and then.
const recorder = new HistoryRecorder(store);
const now = Date.now();
const services = Object.keys(model.services);
for (let t = now - 7 * 86_400_000, i = 0; t <= now; t += 60_000, i++) {
  recorder.observe(project, services.map((service, s) => ({ service, state: (i + s * 97) % 1439 < 4 ? 'down' : (i + s * 31) % 997 < 6 ? 'degraded' : 'up' })), t);
  if (i % 600 === 0) recorder.flush(t);
}
recorder.flush(now);
for (let i = 0; i < 40; i++) {
  const id = startDeploy(store, { project, service: 'app', kind: i % 5 ? 'deploy' : 'rollout', imageAfter: `local/berth-example-app:${i}`, detail: {} });
  finishDeploy(store, id, { result: i % 9 ? 'succeeded' : 'rolled-back', durationMs: 6000 });
}

const agent = await startAgent({ engine, store, project: model, log: () => undefined, schedules: false, listen: '127.0.0.1:0', monitor: { statsIntervalMs: 0, hostMetrics: false }, resident: { statusToken: TOKEN } });
await agent.monitor.watcher.ready;

// The baseline: the same page, its state collected from the engine at request time.
let fresh = new WatchState();
const baselineMonitor = { get state() { return fresh; }, watcher: agent.monitor.watcher, probeResults: () => [] };
const baselinePage = startStatusPage({ monitor: baselineMonitor, store, project: model, token: TOKEN, intervalMs: 3_600_000 });
const baseline = createServer(async (req, res) => {
  const state = new WatchState();
  state.setDesired(project, Object.fromEntries(Object.values(model.services).map((s) => [s.name, s.replicas])));
  const listed = await engine.listContainers([`com.docker.compose.project=${project}`], true);
  for (const info of await Promise.all(listed.map((c) => engine.inspectContainer(c.Id)))) state.applyInspect(info);
  fresh = state;
  if (!baselinePage.handle(req, res)) (res.writeHead(404), res.end());
});
await new Promise((resolve) => baseline.listen(0, '127.0.0.1', resolve));
const sides = { berth: `http://${agent.address}`, baseline: `http://127.0.0.1:${baseline.address().port}` };
// The floor: the smallest page a server can send, painted by the same browser under the same load.
const floor = createServer((req, res) => (res.writeHead(200, { 'content-type': 'text/html' }), res.end('<!doctype html><title>floor</title><p>up</p>')));
await new Promise((resolve) => floor.listen(0, '127.0.0.1', resolve));

const fetchTime = async (url, admin) => {
  const started = process.hrtime.bigint();
  const res = await fetch(url, { headers: admin ? { authorization: `Bearer ${TOKEN}` } : {} });
  const body = await res.text();
  return { ms: Number(process.hrtime.bigint() - started) / 1e6, bytes: Buffer.byteLength(body), body };
};

// The machine is shared: its load says how far the numbers are from a quiet server's.
const result = { runs, services: services.length, loadAverageAtStart: os.loadavg() };
try {
  const server = { berth: { public: [], admin: [] }, baseline: { public: [], admin: [] } };
  for (let i = 0; i < 3; i++) for (const url of Object.values(sides)) await fetchTime(`${url}/status`, true);
  for (let i = 0; i < runs; i++) {
    for (const side of i % 2 ? ['baseline', 'berth'] : ['berth', 'baseline']) {
      server[side].public.push((await fetchTime(`${sides[side]}/status`, false)).ms);
      server[side].admin.push((await fetchTime(`${sides[side]}/status`, true)).ms);
    }
  }
  const weight = { public: (await fetchTime(`${sides.berth}/status`, false)).bytes, admin: (await fetchTime(`${sides.berth}/status`, true)).bytes };
  for (const side of ['berth', 'baseline']) {
    for (const view of ['public', 'admin']) {
      result[`${side}_${view}_serverMedianMs`] = median(server[side][view]);
      result[`${side}_${view}_serverP95Ms`] = percentile(server[side][view], 95);
    }
  }
  result.serverRatioAdmin = result.berth_admin_serverMedianMs / result.baseline_admin_serverMedianMs;
  result.pageBytes = weight;

  // In the browser: first contentful paint of a fresh navigation (a new page each time).
  const chromium = '/usr/bin/chromium';
  if (existsSync(chromium)) {
    const { chromium: launcher } = await import('playwright-core');
    const browser = await launcher.launch({ executablePath: chromium, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
    try {
      const paint = { berth: { public: [], admin: [] }, baseline: { public: [], admin: [] }, floor: { public: [], admin: [] } };
      const browserRuns = Math.min(runs, 15);
      const floorUrl = `http://127.0.0.1:${floor.address().port}/`;
      for (let i = 0; i < browserRuns + 2; i++) {
        for (const side of i % 2 ? ['baseline', 'floor', 'berth'] : ['berth', 'floor', 'baseline']) {
          for (const view of side === 'floor' ? ['public'] : ['public', 'admin']) {
            // Admin as a browser has it: the sign-in's cookie (extra headers go through Playwright's
            // request handling and cost a few hundred ms on this loaded machine).
            const context = await browser.newContext();
            if (view === 'admin') await context.addCookies([{ name: 'berth_status', value: TOKEN, url: `${sides[side]}/status` }]);
            const page = await context.newPage();
            await page.goto(side === 'floor' ? floorUrl : `${sides[side]}/status`, { waitUntil: 'load' });
            const fcp = await page.evaluate(() => new Promise((resolve) => {
              const done = () => resolve(performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? null);
              performance.getEntriesByName('first-contentful-paint').length ? done() : new PerformanceObserver(done).observe({ type: 'paint', buffered: true });
            }));
            await context.close();
            if (i >= 2 && fcp !== null) paint[side][view].push(fcp);
          }
        }
      }
      for (const side of ['berth', 'baseline']) for (const view of ['public', 'admin']) result[`${side}_${view}_firstPaintMedianMs`] = median(paint[side][view]);
      result.firstPaintRatioAdmin = result.berth_admin_firstPaintMedianMs / result.baseline_admin_firstPaintMedianMs;
      result.floor_firstPaintMedianMs = median(paint.floor.public);
      // What the page itself adds to the browser's floor under the same load.
      result.berth_admin_firstPaintOverFloorMs = result.berth_admin_firstPaintMedianMs - result.floor_firstPaintMedianMs;
      result.berth_public_firstPaintOverFloorMs = result.berth_public_firstPaintMedianMs - result.floor_firstPaintMedianMs;
    } finally {
      await browser.close();
    }
  }
  result.loadAverageAtEnd = os.loadavg();
  result.goals = { firstRenderMs: '< 200 (Chromium first contentful paint, admin and public)', pageBytes: '< 100 KB' };
  const firstRender = Math.max(result.berth_admin_firstPaintMedianMs ?? result.berth_admin_serverMedianMs, result.berth_public_firstPaintMedianMs ?? result.berth_public_serverMedianMs);
  result.pass = firstRender < 200 && weight.admin < 100 * 1024 && weight.public < 100 * 1024;
  console.log(writeResult('status-page', result));
} finally {
  baselinePage.stop();
  baseline.close();
  floor.close();
  await agent.stop();
  store.close();
  spawnSync(process.execPath, ['bin/berth.js', ...stack, '--profile', 'backup', '--profile', 'migrate', 'compose', '--', 'down', '-v'], { env, stdio: 'ignore' });
  rmSync(dir, { recursive: true, force: true });
}
