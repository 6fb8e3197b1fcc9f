import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startHeartbeat } from './heartbeat.js';
import { startHttpReceiver } from './receivers.testkit.js';

test('heartbeat: pings on its schedule while the engine is seen, stops while it is not, logs a failed ping', async () => {
  const receiver = await startHttpReceiver();
  let engineUp = true;
  const logs: Array<Record<string, unknown>> = [];
  const heartbeat = startHeartbeat({ url: receiver.url('/ping/abc'), everyMs: 100, engineUp: () => engineUp, log: (l) => logs.push(l) });
  try {
    // Three pings on the 100 ms schedule (waited for: a loaded machine delays timers).
    const started = Date.now();
    while (receiver.requests.length < 3 && Date.now() - started < 10_000) await new Promise((r) => setTimeout(r, 20));
    assert.ok(receiver.requests.length >= 3, `pings: ${receiver.requests.length}`);
    assert.ok(Date.now() - started >= 250, 'not faster than the schedule');
    assert.equal(receiver.requests[0]!.path, '/ping/abc');
    engineUp = false;
    await new Promise((r) => setTimeout(r, 300));
    const atDown = receiver.requests.length;
    await new Promise((r) => setTimeout(r, 400));
    assert.equal(receiver.requests.length, atDown, 'no ping while the engine cannot be seen');
    assert.equal(heartbeat.last?.outcome, 'withheld');
    assert.equal(logs.filter((l) => l.event === 'heartbeat-withheld').length, 1, 'logged once per outage');
    receiver.status = 503;
    engineUp = true;
    assert.equal(await heartbeat.beat(), 'failed');
    assert.match(String(logs.find((l) => l.event === 'heartbeat-failed')?.error), /HTTP 503/);
  } finally {
    heartbeat.stop();
    await receiver.close();
  }
});
