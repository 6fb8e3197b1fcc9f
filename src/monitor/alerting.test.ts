/**
 * The routing of built-in alerting, without an engine: grouping per project, de-duplication, the
 * repeat interval, and a channel down reported once on the others. The alerts come from the state
 * store (BerthDeployFailed: for 0s), so real time is enough; channels record what they are sent.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { makeProject, tempDir } from '../backup/testkit.js';
import { finishDeploy, startDeploy } from '../rollout/history.js';
import { StateStore } from '../state/store.js';
import { startAlerting } from './alerting.js';
import type { Monitor } from './monitor.js';
import type { Channel, Notification } from './notify.js';
import { WatchState } from './state.js';

function recorder(name: string, fail = false): Channel & { sent: Notification[]; attempts: number } {
  const channel = {
    name, type: 'webhook' as const, target: name, sent: [] as Notification[], attempts: 0,
    send: async (n: Notification) => {
      channel.attempts++;
      if (fail) throw new Error('HTTP 500');
      channel.sent.push(n);
    },
  };
  return channel;
}

const until = async (check: () => boolean, ms = 5000) => {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
};

test('grouped per project, notified once, repeated after repeat_interval, resolved once; a channel down is reported once on the others', async () => {
  const store = StateStore.open(tempDir('alerting'));
  const project = makeProject('shop', { api: {}, web: {} });
  const state = new WatchState();
  const monitor = { state, watcher: { health: { dockerUp: true, eventsStreamUp: true }, ready: Promise.resolve() }, probeResults: () => [] } as unknown as Pick<Monitor, 'state' | 'watcher' | 'probeResults'>;
  const ops = recorder('ops');
  const pager = recorder('pager', true);
  const logs: Array<Record<string, unknown>> = [];
  const alerting = startAlerting({ monitor, store, project, channels: [ops, pager], log: (l) => logs.push(l), intervalMs: 100, groupWaitMs: 300, repeatIntervalMs: 1500, retryDelaysMs: [10], hostPaths: false });
  try {
    // Two failed deploys of the same project: two alerts, one notification.
    for (const service of ['api', 'web']) {
      const id = startDeploy(store, { project: 'shop', service, kind: 'rollout', imageAfter: 'x', detail: {} });
      finishDeploy(store, id, { result: 'failed', durationMs: 1 });
    }
    await until(() => ops.sent.some((n) => n.kind === 'alerts'));
    await alerting.flush();
    const first = ops.sent.filter((n) => n.kind === 'alerts');
    assert.equal(first.length, 1);
    assert.deepEqual(first[0]!.alerts.map((a) => `${a.name} ${a.labels.service} ${a.status}`).sort(), ['BerthDeployFailed api firing', 'BerthDeployFailed web firing']);
    assert.equal(first[0]!.group, 'shop');
    // Still firing: not again before the repeat interval, then once more, marked as a repeat.
    await new Promise((r) => setTimeout(r, 700));
    assert.equal(ops.sent.filter((n) => n.kind === 'alerts').length, 1, 'de-duplicated');
    await until(() => ops.sent.filter((n) => n.kind === 'alerts').length === 2, 5000);
    const repeat = ops.sent.filter((n) => n.kind === 'alerts')[1]!;
    assert.deepEqual(repeat.alerts.map((a) => a.repeat), [true, true]);
    // The deploys leave the 30-minute window: one resolved notification for both.
    store.db.prepare('UPDATE deploys SET finished_at = ?').run(new Date(Date.now() - 31 * 60_000).toISOString());
    await until(() => ops.sent.some((n) => n.kind === 'alerts' && n.status === 'resolved'));
    await alerting.flush();
    const resolved = ops.sent.filter((n) => n.kind === 'alerts' && n.status === 'resolved');
    assert.equal(resolved.length, 1);
    assert.deepEqual(resolved[0]!.alerts.map((a) => a.status), ['resolved', 'resolved']);
    // The pager failed every notification (2 attempts each); it was reported once, on ops.
    const down = ops.sent.filter((n) => n.kind === 'notifier-down');
    assert.equal(down.length, 1);
    assert.equal(down[0]!.channel?.name, 'pager');
    assert.match(down[0]!.channel!.error!, /HTTP 500/);
    assert.equal(pager.attempts, 2 * 3, '3 notifications x 2 attempts');
    assert.equal(logs.filter((l) => l.event === 'notify-failed' && l.channel === 'pager').length, 6);
  } finally {
    await alerting.stop();
    store.close();
  }
});

test('a restarted agent neither pages again for what it already notified nor forgets to resolve it', async () => {
  const store = StateStore.open(tempDir('alerting-restart'));
  const project = makeProject('shop', { api: {} });
  const monitor = { state: new WatchState(), watcher: { health: { dockerUp: true, eventsStreamUp: true }, ready: Promise.resolve() }, probeResults: () => [] } as unknown as Pick<Monitor, 'state' | 'watcher' | 'probeResults'>;
  const options = { monitor, store, project, intervalMs: 100, groupWaitMs: 100, hostPaths: false as const };
  try {
    const id = startDeploy(store, { project: 'shop', service: 'api', kind: 'rollout', imageAfter: 'x', detail: {} });
    finishDeploy(store, id, { result: 'failed', durationMs: 1 });
    const before = recorder('ops');
    const first = startAlerting({ ...options, channels: [before] });
    await until(() => before.sent.length === 1);
    await first.stop();
    // The agent restarts while the alert still fires.
    const after = recorder('ops');
    const second = startAlerting({ ...options, channels: [after] });
    try {
      await new Promise((r) => setTimeout(r, 800));
      await second.flush();
      assert.equal(after.sent.length, 0, 'not paged again');
      assert.deepEqual(second.evaluator.firing().map((a) => a.name), ['BerthDeployFailed']);
      store.db.prepare('UPDATE deploys SET finished_at = ?').run(new Date(Date.now() - 31 * 60_000).toISOString());
      await until(() => after.sent.length === 1);
      assert.deepEqual(after.sent[0]!.alerts.map((a) => `${a.status} ${a.name}`), ['resolved BerthDeployFailed']);
      assert.equal((store.db.prepare('SELECT COUNT(*) AS n FROM monitor_alerts').get() as { n: number }).n, 0);
    } finally {
      await second.stop();
    }
  } finally {
    store.close();
  }
});
