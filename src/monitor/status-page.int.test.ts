/**
 * The status page in a real browser (headless Chromium driven by playwright-core) against the
 * example production stack, brought up with berth: it lists the stack's services with nothing
 * configured, turns a service red within 2 s of its containers turning unhealthy (their Node
 * processes frozen with SIGSTOP: a hung app), and the admin view shows a deploy made with
 * `berth deploy`. The public view never holds image names, environment or the admin token.
 * With BERTH_STATUS_SCREENSHOT=PATH it saves a screenshot of the admin view there (docs/status-page.png).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { startAgent } from '../agent/scheduler.js';
import { loadProject } from '../compose/load.js';
import { StateStore } from '../state/store.js';
import { runBerth } from '../testing/cli.js';
import { integrationEngine, removeComposeProject, testName } from '../testing/engine.js';

const { engine, skip: noEngine } = await integrationEngine();
const CHROMIUM = '/usr/bin/chromium';
const skip = noEngine || (existsSync(CHROMIUM) ? false : 'no Chromium at /usr/bin/chromium (scripts/engine installs it)');
const compose = fileURLToPath(new URL('../../examples/production/compose.yaml', import.meta.url));
const project = testName('statuspage');
const dir = mkdtempSync(join(tmpdir(), 'berth-status-page-'));
const env = { PROXY_BIND: '127.0.0.1:', DOCKER_GID: String(statSync('/var/run/docker.sock', { throwIfNoEntry: false })?.gid ?? 0), BERTH_STATE_DIR: join(dir, 'state') };
// The stack as shipped, with one test-only override: its Node healthchecks (a fresh `node -e
// fetch(...)` in a container limited to half a CPU) take more than their 3 s timeout when the
// machine is loaded by parallel suites (seen at load 25 on 2 cores: every check timed out).
const override = join(dir, 'compose.loaded-machine.yaml');
writeFileSync(override, 'services:\n  app:\n    healthcheck: { timeout: 20s }\n  socket-proxy:\n    healthcheck: { timeout: 20s }\n');
const berth = (args: string[], extraEnv: Record<string, string> = {}) => runBerth(['-f', compose, '-f', override, '-p', project, ...args], { env: { ...env, ...extraEnv }, timeoutMs: 400_000 });
const TOKEN = 'status-admin-token-6f1c2d9e8a7b';

after(async () => {
  await berth(['--profile', 'backup', '--profile', 'migrate', 'compose', '--', 'down', '-v', '--remove-orphans']);
  if (engine) await removeComposeProject(engine, project);
  rmSync(dir, { recursive: true, force: true });
});

test('the example stack in Chromium: every service listed, red within 2 s of unhealthy, the deploy shown; the public view leaks nothing', { skip, timeout: 600_000 }, async () => {
  const up = await berth(['up']);
  assert.equal(up.code, 0, `berth up failed:\n${up.stderr}`);
  const model = await loadProject({ files: [compose, override], projectName: project, env: { ...process.env, ...env } });
  const store = StateStore.open(env.BERTH_STATE_DIR);
  const agent = await startAgent({ engine: engine!, store, project: model, log: () => undefined, schedules: false, listen: '127.0.0.1:0', monitor: { statsIntervalMs: 0, hostMetrics: false }, resident: { statusToken: TOKEN } });
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
  const base = `http://${agent.address}`;
  try {
    await agent.monitor!.watcher.ready;
    // Public view: every service of the stack, no image, environment or token, in the page and in its source.
    const publicPage = await browser.newPage();
    await publicPage.goto(`${base}/status`);
    const listed = await publicPage.$$eval('[data-service]', (rows) => rows.map((r) => r.getAttribute('data-service')));
    assert.deepEqual(listed.sort(), ['app', 'db', 'proxy', 'socket-proxy']);
    const raw = await (await fetch(`${base}/status`)).text();
    const rawJson = await (await fetch(`${base}/status.json`)).text();
    for (const text of [raw, rawJson, await publicPage.content()]) {
      for (const secret of ['local/berth-example-app', 'local/postgres', 'local/caddy', 'berth-socket-proxy:', 'DATABASE_PASSWORD_FILE', '/run/secrets/db_password', 'BERTH_STOP_GRACE_PERIOD', 'POSTGRES_USER', TOKEN, `${project}_app_1`]) {
        assert.ok(!text.includes(secret), `the public view holds ${secret}`);
      }
    }
    // Accessible and themed: landmarks, a language, row headers; the keyboard reaches the sign-in
    // link first after the skip link; dark mode follows prefers-color-scheme.
    assert.deepEqual(await publicPage.evaluate(() => ['header', 'main', 'footer', 'html[lang="en"]', 'th[scope="row"]', 'caption'].map((sel) => Boolean((globalThis as any).document.querySelector(sel)))), [true, true, true, true, true, true]);
    await publicPage.keyboard.press('Tab');
    assert.equal(await publicPage.evaluate(() => (globalThis as any).document.activeElement.textContent), 'Skip to the status');
    await publicPage.keyboard.press('Tab');
    assert.equal(await publicPage.evaluate(() => (globalThis as any).document.activeElement.textContent), 'Admin sign-in');
    const background = () => publicPage.evaluate(() => (globalThis as any).getComputedStyle((globalThis as any).document.body).backgroundColor as string);
    await publicPage.emulateMedia({ colorScheme: 'light' });
    const light = await background();
    await publicPage.emulateMedia({ colorScheme: 'dark' });
    assert.notEqual(await background(), light);
    await publicPage.close();

    // Admin view, signed in through the form.
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    await page.goto(`${base}/status/login`);
    await page.fill('#token', TOKEN);
    await Promise.all([page.waitForURL(`${base}/status`), page.click('button[type=submit]')]);
    assert.ok((await page.content()).includes('local/berth-example-app'), 'the admin view shows images');
    // Functions, not strings: the page's CSP (no unsafe-eval) refuses string predicates. The
    // build has no DOM types: the page's globals are reached through globalThis.
    await page.waitForFunction(() => (globalThis as any).document.getElementById('live-state').textContent === 'Live');
    assert.equal(await page.getAttribute('[data-service="app"]', 'data-state'), 'up');

    // Freeze both app replicas' Node processes: their healthchecks time out, they turn unhealthy.
    // In the page: the wall-clock time the app row turns red (same clock as the engine's events).
    await page.evaluate(() => {
      const g = globalThis as any;
      new g.MutationObserver(() => {
        if (!g.redAt && g.document.querySelector('[data-service="app"][data-state="down"]')) g.redAt = Date.now();
      }).observe(g.document.getElementById('live'), { subtree: true, childList: true, attributes: true });
    });
    const apps = await engine!.docker.listContainers({ filters: { label: [`com.docker.compose.project=${project}`, 'com.docker.compose.service=app'] } });
    assert.equal(apps.length, 2);
    const unhealthyAt = new Map<string, number>();
    const events = await engine!.containerEvents(apps.map((a) => a.Id), (e) => {
      if ((e.Action ?? e.status) === 'health_status: unhealthy') unhealthyAt.set(e.Actor?.ID ?? e.id ?? '', Number(e.timeNano) / 1e6);
    }, {});
    const frozen: number[] = [];
    for (const app of apps) {
      const top = await engine!.docker.getContainer(app.Id).top({ ps_args: '-o pid,args' });
      // The Node process itself, not docker-init (PID 1, whose command line also names server.mjs).
      const pid = top.Processes?.find((p: string[]) => p[1]?.startsWith('node server.mjs'))?.[0];
      assert.ok(pid, JSON.stringify(top));
      process.kill(Number(pid), 'SIGSTOP');
      frozen.push(Number(pid));
    }
    try {
      await page.waitForFunction(() => (globalThis as any).redAt !== undefined, undefined, { timeout: 180_000 });
      const redAt = (await page.evaluate(() => (globalThis as any).redAt)) as number;
      await new Promise((r) => setTimeout(r, 500));
      assert.equal(unhealthyAt.size, 2, 'both replicas turned unhealthy');
      const lastUnhealthy = Math.max(...unhealthyAt.values());
      const delayMs = redAt - lastUnhealthy;
      assert.ok(delayMs >= 0 && delayMs < 2000, `red ${delayMs} ms after the engine said unhealthy`);
      process.stdout.write(`# status page red ${Math.round(delayMs)} ms after the second replica turned unhealthy\n`);
      assert.match((await page.textContent('[data-service="app"]'))!, /down: 2 unhealthy/);
    } finally {
      for (const pid of frozen) process.kill(pid, 'SIGCONT');
      events.close();
    }
    await page.waitForSelector('[data-service="app"][data-state="up"]', { timeout: 60_000 });

    // A deploy made with berth deploy (version 2 of the app) appears in the admin view.
    const deployed = await berth(['deploy', 'app'], { APP_VERSION: '2' });
    assert.equal(deployed.code, 0, `${deployed.stdout}\n${deployed.stderr}`);
    await page.waitForSelector('[data-deploy] >> text=succeeded', { timeout: 15_000 });
    const row = (await page.textContent('[data-deploy]'))!;
    assert.match(row, /app/);
    assert.match(row, /deploy/);
    assert.match(row, /berth-example-app:2/);
    await page.waitForSelector('[data-service="app"][data-state="up"]', { timeout: 30_000 });
    if (process.env.BERTH_STATUS_SCREENSHOT) {
      // Once the deploy's planned stops have ended (the agent re-reads them every 5 s).
      await page.waitForFunction(() => !(globalThis as any).document.body.textContent.includes('Planned stops'), undefined, { timeout: 30_000 });
      await page.screenshot({ path: process.env.BERTH_STATUS_SCREENSHOT, fullPage: true });
    }
  } finally {
    await browser.close();
    await agent.stop();
    store.close();
  }
});
