/**
 * The night built-in alerting is for, with real receivers: a webhook, an ntfy-compatible
 * endpoint, an SMTP server in a container, and a pager webhook that answers 500. A container
 * turns unhealthy: each working channel gets exactly one firing and one resolved notification,
 * after the catalogue's for: (1m). Meanwhile `berth rollout` of another service drains its old
 * replica for 75 s with a failing healthcheck: nobody is paged (the rollout announced its planned
 * stop); the negative control, the same evaluation without silences, pages for it. The pager is
 * retried with backoff and then reported on the other channels.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { startAgent } from '../agent/scheduler.js';
import { loadProject } from '../compose/load.js';
import { StateStore } from '../state/store.js';
import { runBerth } from '../testing/cli.js';
import { integrationEngine, removeComposeProject, removeLabelled, testName, testScope } from '../testing/engine.js';
import { startAlerting } from './alerting.js';
import { createChannel, type Notification } from './notify.js';
import { startHttpReceiver, startSmtpSink } from './receivers.testkit.js';

const { engine, skip } = await integrationEngine();
const SCOPE = testScope('alerting');
const project = testName('alert');
const dir = mkdtempSync(join(tmpdir(), 'berth-alerting-'));

after(async () => {
  if (engine) {
    await removeComposeProject(engine, project);
    await removeLabelled(engine, SCOPE);
  }
  rmSync(dir, { recursive: true, force: true });
});

const waitFor = async (what: string, check: () => boolean | Promise<boolean>, timeoutMs: number) => {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
};

test('unhealthy: one firing and one resolved per channel (webhook, ntfy, email); a rollout pages nobody (the control without silences does); a pager answering 500 is retried and reported', { skip, timeout: 420_000 }, async () => {
  const webhook = await startHttpReceiver();
  const ntfy = await startHttpReceiver({ ntfy: true });
  const pager = await startHttpReceiver({ status: 500 });
  const control = await startHttpReceiver();
  const password = 'smtp-secret-4711';
  const smtp = await startSmtpSink(engine!, SCOPE, password);
  writeFileSync(join(dir, 'smtp_password'), `${password}\n`);
  const health = (test: string) => `{ test: ["CMD-SHELL", "${test}"], interval: 1s, timeout: 2s, retries: 1, start_period: 2s }`;
  writeFileSync(join(dir, 'compose.yaml'), `
x-berth:
  monitor:
    notify:
      - { type: webhook, url: "${webhook.url('/hooks/berth')}" }
      - { type: ntfy, url: "${ntfy.url('/ops')}" }
      - { type: email, smtp: "smtp://alerts@127.0.0.1:${smtp.port}", from: "berth@example.com", to: [ops@example.com], password_file: ./smtp_password }
      - { type: webhook, name: pager, url: "${pager.url('/page')}" }
services:
  web:
    image: local/debian:bookworm
    init: true
    command: ["sh", "-c", "touch /tmp/ok; exec sleep infinity"]
    stop_grace_period: 2s
    healthcheck: ${health('test -f /tmp/ok')}
  api:
    image: local/debian:bookworm
    init: true
    command: ["sleep", "infinity"]
    stop_grace_period: 2s
    # Unhealthy while draining: the old replica fails its healthcheck for the whole 75 s drain.
    healthcheck: ${health('test ! -f /tmp/drain')}
    x-berth:
      rollout:
        drain: { strategy: file, path: /tmp/drain, duration: 75s }
`);
  const env = { BERTH_STATE_DIR: join(dir, 'state') };
  const berth = (...args: string[]) => runBerth(['-f', join(dir, 'compose.yaml'), '-p', project, ...args], { env, timeoutMs: 300_000 });
  const up = await berth('up');
  assert.equal(up.code, 0, up.stderr);
  const model = await loadProject({ files: [join(dir, 'compose.yaml')], projectName: project });
  const store = StateStore.open(env.BERTH_STATE_DIR);
  const logs: Array<Record<string, unknown>> = [];
  const agent = await startAgent({
    engine: engine!, store, project: model, log: (l) => logs.push(l), schedules: false, listen: '127.0.0.1:0',
    monitor: { statsIntervalMs: 0, hostMetrics: false },
    resident: { alerting: { intervalMs: 1000, groupWaitMs: 1000, retryDelaysMs: [200, 400, 800] } },
  });
  // The negative control: the same catalogue and inputs, silences ignored, to its own receiver.
  const controlAlerting = startAlerting({
    monitor: agent.monitor!, store, project: model, channels: [createChannel({ type: 'webhook', name: 'control', url: control.url(), headers: {} })],
    intervalMs: 1000, groupWaitMs: 1000, hostPaths: false, evaluator: { ignoreSilences: true },
  });
  const web = `${project}_web_1`;
  const notifications = (r: typeof webhook) => r.requests.map((q) => JSON.parse(q.body) as Notification);
  const alertsFor = (r: typeof webhook) => notifications(r).filter((n) => n.kind === 'alerts');
  try {
    await agent.monitor!.watcher.ready;
    // A detached exec still answers with a stream: read it to its end, or its socket keeps this
    // process alive for minutes after the test (as it kept berth rollout alive, rollout/execute.ts).
    const exec = (container: string, cmd: string[]) => engine!.docker.getContainer(container).exec({ Cmd: cmd }).then((e) => e.start({ Detach: true })).then((s: unknown) => (s as { resume?: () => void }).resume?.());
    // At once: web turns unhealthy, and api is rolled out (its old replica drains unhealthy for 75 s).
    const started = Date.now();
    await exec(web, ['rm', '/tmp/ok']);
    const rollout = berth('rollout', 'api', '--force');
    await waitFor('the firing notification', () => alertsFor(webhook).length >= 1, 120_000);
    const firedAfter = Date.now() - started;
    assert.ok(firedAfter >= 60_000, `fired after the catalogue's for: 1m, not before (${firedAfter} ms)`);
    await exec(web, ['touch', '/tmp/ok']);
    await waitFor('the resolved notification', () => alertsFor(webhook).length >= 2, 30_000);
    const rolled = await rollout;
    assert.equal(rolled.code, 0, `${rolled.stdout}\n${rolled.stderr}`);
    await waitFor('the control pages for the drained api replica', () => alertsFor(control).some((n) => n.alerts.some((a) => a.labels.container_label_com_docker_compose_service === 'api')), 30_000);
    await new Promise((r) => setTimeout(r, 3000));
    await agent.resident!.alerting.flush();
    await controlAlerting.flush();

    // Webhook: the documented JSON body; exactly one firing and one resolved, both about web.
    const hooks = alertsFor(webhook);
    assert.deepEqual(hooks.map((n) => [n.status, n.alerts.map((a) => `${a.status} ${a.name} ${a.labels.name}`)]), [
      ['firing', [`firing BerthContainerUnhealthy ${web}`]],
      ['resolved', [`resolved BerthContainerUnhealthy ${web}`]],
    ]);
    assert.equal(hooks[0]!.group, project);
    assert.equal(hooks[0]!.version, 1);
    assert.equal(webhook.requests[0]!.headers['content-type'], 'application/json');
    // ntfy: one publish per notification to the topic, title and priority as headers.
    const published = ntfy.requests.filter((q) => /BerthContainerUnhealthy/.test(String(q.headers.title)));
    assert.deepEqual(published.map((q) => [q.path, String(q.headers.title).slice(0, 11), q.headers.priority]), [
      ['/ops', '[FIRING] be', '5'],
      ['/ops', '[RESOLVED] ', '3'],
    ]);
    // Email: through the SMTP server in its container, authenticated with the password file.
    const mails = (await smtp.messages()).filter((m) => m.data.includes('BerthContainerUnhealthy'));
    assert.equal(mails.length, 2, JSON.stringify(mails.map((m) => m.data.split('\n').find((l) => l.startsWith('Subject')))));
    assert.match(mails[0]!.data, /Subject: \[FIRING\]/);
    assert.match(mails[1]!.data, /Subject: \[RESOLVED\]/);
    assert.equal(mails[0]!.login, 'alerts');
    assert.deepEqual(mails[0]!.to, ['ops@example.com']);
    // The rollout paged nobody: no notification on any channel names api.
    const all = [...notifications(webhook).map((n) => JSON.stringify(n)), ...ntfy.requests.map((q) => `${q.headers.title} ${q.body}`), ...(await smtp.messages()).map((m) => m.data)];
    assert.deepEqual(all.filter((text) => text.includes(`${project}_api_`)), []);
    // ... while without the silence it would have: the control paged for the old api replica.
    const controlAlerts = alertsFor(control).flatMap((n) => n.alerts.filter((a) => a.status === 'firing').map((a) => `${a.name} ${a.labels.container_label_com_docker_compose_service}`));
    assert.ok(controlAlerts.includes('BerthContainerUnhealthy api'), controlAlerts.join(', '));
    // The pager: each notification tried 4 times (3 retries with backoff), every failure logged,
    // and its outage reported once on each other channel.
    assert.equal(pager.requests.length, 8, `2 notifications x 4 attempts: ${pager.requests.length}`);
    const failures = logs.filter((l) => l.event === 'notify-failed' && l.channel === 'pager');
    assert.deepEqual(failures.slice(0, 4).map((l) => [l.attempt, l.retryInMs]), [[1, 200], [2, 400], [3, 800], [4, null]]);
    assert.match(String(failures[0]!.error), /HTTP 500/);
    const gaps = pager.requests.slice(1, 4).map((q, i) => q.at - pager.requests[i]!.at);
    assert.ok(gaps[0]! >= 180 && gaps[1]! >= 380 && gaps[2]! >= 780, `backoff between attempts: ${gaps}`);
    const down = notifications(webhook).filter((n) => n.kind === 'notifier-down');
    assert.equal(down.length, 1);
    assert.equal(down[0]!.channel?.name, 'pager');
    assert.equal(ntfy.requests.filter((q) => /channel pager/.test(String(q.headers.title))).length, 1);
    // Long subjects are folded onto continuation lines: unfold before matching.
    assert.equal((await smtp.messages()).filter((m) => /Subject: .*channel pager/.test(m.data.replace(/\r?\n[ \t]+/g, ' '))).length, 1);
    assert.deepEqual([...agent.resident!.alerting.channelsDown().keys()], ['pager']);
    // Nothing else paged on the working channels.
    assert.equal(notifications(webhook).length, 3);
  } finally {
    await controlAlerting.stop();
    await agent.stop();
    store.close();
    await Promise.all([webhook.close(), ntfy.close(), pager.close(), control.close(), smtp.close()]);
  }
});
