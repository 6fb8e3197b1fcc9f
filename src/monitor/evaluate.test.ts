import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ALERTS, promDurationMs } from './alerts.js';
import { AlertEvaluator, CONDITIONS, NOT_EVALUATED_BY_AGENT, linearAt, type AlertInputs } from './evaluate.js';
import type { Silence } from './silences.js';
import { WatchState } from './state.js';

const T0 = Date.parse('2026-12-01T00:00:00Z');
const S = 1000;
const M = 60 * S;

/** A WatchState fed like the watcher feeds it, and inputs built from it. */
function world(desired: Record<string, number> = { web: 1 }) {
  const state = new WatchState();
  state.setDesired('shop', desired);
  const labels = (service: string) => ({ 'com.docker.compose.project': 'shop', 'com.docker.compose.service': service });
  // Events wait for their time: run() applies those due before each evaluation.
  const queue: Array<{ at: number; apply: () => void }> = [];
  const event = (id: string, service: string, action: string, at: number, extra: Record<string, string> = {}) => {
    queue.push({ at, apply: () => void state.applyEvent({ Type: 'container', Action: action, Actor: { ID: id, Attributes: { name: `shop_${service}_1`, image: 'img', ...labels(service), ...extra } }, timeNano: at * 1e6 } as never, at) });
    queue.sort((a, b) => a.at - b.at);
  };
  const advance = (t: number) => {
    while (queue.length && queue[0]!.at <= t) queue.shift()!.apply();
  };
  let silences: Silence[] = [];
  let deploys: AlertInputs['deploys'] = [];
  const inputs = (now: number, extra: Partial<AlertInputs> = {}): AlertInputs => ({
    now, instance: 'host1', services: state.services(), containers: state.containers(), watcher: { dockerUp: true, eventsStreamUp: true },
    probes: [], backups: [], deploys, silences, ...extra,
  });
  return {
    state, event, inputs, advance,
    silence: (service: string | undefined, from: number, to: number | undefined) => {
      silences = [...silences, { id: silences.length + 1, project: 'shop', service, reason: `rollout ${service}`, user: 'u', host: 'h', pid: 1, startedAt: from, expiresAt: from + 30 * M, endedAt: to }];
    },
    deploy: (d: AlertInputs['deploys'][number]) => (deploys = [...deploys, d]),
  };
}

/** Runs evaluations every 5 s from `from` to `to` (events applied when due), returning the transitions with their times. */
function run(evaluator: AlertEvaluator, w: ReturnType<typeof world>, from: number, to: number, extra: Partial<AlertInputs> = {}) {
  return runAll([evaluator], w, from, to, extra)[0]!;
}

function runAll(evaluators: AlertEvaluator[], w: ReturnType<typeof world>, from: number, to: number, extra: Partial<AlertInputs> = {}) {
  const out = evaluators.map(() => [] as Array<{ status: string; name: string; at: number }>);
  for (let t = from; t <= to; t += 5 * S) {
    w.advance(t);
    evaluators.forEach((e, i) => {
      for (const tr of e.evaluate(w.inputs(t, extra))) out[i]!.push({ status: tr.status, name: tr.alert.name, at: tr.at - T0 });
    });
  }
  return out;
}

test('the agent evaluates every shipped alert (the same definitions, thresholds and for:), or says who does', () => {
  const evaluator = new AlertEvaluator();
  for (const def of ALERTS) assert.ok(CONDITIONS[def.name] || NOT_EVALUATED_BY_AGENT[def.name], `${def.name} has no agent condition`);
  // The very objects of the catalogue: nothing copied, nothing retuned.
  assert.deepEqual(evaluator.definitions, ALERTS.filter((d) => !(d.name in NOT_EVALUATED_BY_AGENT)));
  assert.ok(evaluator.definitions.every((d) => ALERTS.includes(d)));
  assert.deepEqual(Object.keys(NOT_EVALUATED_BY_AGENT), ['BerthAgentDown']);
});

test('unhealthy: pending for the for: of the catalogue (1m), then one firing; one resolved when healthy again; starting never fires', () => {
  const w = world();
  const forMs = promDurationMs(ALERTS.find((a) => a.name === 'BerthContainerUnhealthy')!.for);
  const e = new AlertEvaluator();
  w.event('c1', 'web', 'start', T0);
  w.event('c1', 'web', 'health_status: starting', T0);
  assert.deepEqual(run(e, w, T0, T0 + 5 * M), [], 'starting is not unhealthy');
  w.event('c1', 'web', 'health_status: unhealthy', T0 + 5 * M);
  const firing = run(e, w, T0 + 5 * M, T0 + 5 * M + forMs + 10 * S);
  assert.deepEqual(firing, [{ status: 'firing', name: 'BerthContainerUnhealthy', at: 5 * M + forMs }]);
  assert.equal(e.firing()[0]!.labels.name, 'shop_web_1');
  assert.equal(e.firing()[0]!.summary, 'Container shop_web_1 is unhealthy');
  w.event('c1', 'web', 'health_status: healthy', T0 + 8 * M);
  assert.deepEqual(run(e, w, T0 + 8 * M, T0 + 20 * M), [{ status: 'resolved', name: 'BerthContainerUnhealthy', at: 8 * M }]);
  // Near miss: unhealthy for 55 s, then healthy: nothing.
  w.event('c1', 'web', 'health_status: unhealthy', T0 + 30 * M);
  assert.deepEqual(run(e, w, T0 + 30 * M, T0 + 30 * M + 55 * S), []);
  w.event('c1', 'web', 'health_status: healthy', T0 + 31 * M);
  assert.deepEqual(run(e, w, T0 + 31 * M, T0 + 40 * M), []);
});

test('a planned stop holds the for: clock: unhealthy during a rollout pages nobody; the control without silences pages', () => {
  const w = world();
  const held = new AlertEvaluator();
  const control = new AlertEvaluator({ ignoreSilences: true });
  w.event('c1', 'web', 'start', T0);
  w.event('c1', 'web', 'health_status: healthy', T0);
  // A rollout of web: its old replica drains for 90 s with an unhealthy healthcheck, then is removed.
  w.silence('web', T0 + M, T0 + 4 * M);
  w.event('c1', 'web', 'health_status: unhealthy', T0 + 90 * S);
  w.event('c2', 'web', 'start', T0 + 2 * M);
  w.event('c2', 'web', 'health_status: healthy', T0 + 2 * M);
  const [heldOut, controlOut] = runAll([held, control], w, T0, T0 + 3 * M + 30 * S) as unknown as [Array<{ status: string }>, Array<{ status: string }>];
  assert.deepEqual(heldOut, []);
  assert.deepEqual(controlOut.map((t) => t.status), ['firing'], 'without the silence the drain would page');
  // Still unhealthy after the silence ends: it pages one for: after the end, not at once.
  const after = run(held, w, T0 + 3 * M + 35 * S, T0 + 6 * M);
  assert.deepEqual(after, [{ status: 'firing', name: 'BerthContainerUnhealthy', at: 4 * M + 60 * S }]);
});

test('counter alerts: increases over the window; exits during a planned stop are discounted; StopForced is never held', () => {
  const w = world({ worker: 1 });
  const e = new AlertEvaluator();
  const control = new AlertEvaluator({ ignoreSilences: true });
  w.event('w1', 'worker', 'start', T0);
  // Two unasked exits: a near miss of the restart loop (3 in 15m), but exits non-zero fire.
  for (const at of [T0 + M, T0 + 2 * M]) {
    w.event('w1', 'worker', 'die', at, { exitCode: '1' });
    w.event('w1', 'worker', 'start', at + 2 * S);
  }
  // Later, during a planned stop: three exits and a SIGKILL on stop. Only StopForced pages.
  w.silence('worker', T0 + 20 * M, T0 + 23 * M);
  for (const at of [T0 + 20 * M + 10 * S, T0 + 21 * M, T0 + 22 * M]) {
    w.event('w1', 'worker', 'die', at, { exitCode: '2' });
    w.event('w1', 'worker', 'start', at + 2 * S);
  }
  w.event('w1', 'worker', 'kill', T0 + 22 * M + 20 * S, { signal: '15' });
  w.event('w1', 'worker', 'kill', T0 + 22 * M + 30 * S, { signal: '9' });
  w.event('w1', 'worker', 'die', T0 + 22 * M + 30 * S, { exitCode: '137' });
  w.event('w1', 'worker', 'stop', T0 + 22 * M + 30 * S);
  w.event('w1', 'worker', 'start', T0 + 22 * M + 35 * S);
  const [out, controlOut] = runAll([e, control], w, T0, T0 + 45 * M).map((list) => list.map((t) => `${t.status} ${t.name} +${t.at / S}s`)) as unknown as [string[], string[]];
  assert.deepEqual(out, [
    'firing BerthServiceExitedNonZero +60s',
    // The window (10m) after the second exit passes.
    'resolved BerthServiceExitedNonZero +720s',
    'firing BerthStopForced +1350s',
  ]);
  assert.ok(controlOut.includes('firing BerthRestartLoop +1320s'), `without the silence the restart loop pages: ${controlOut.join(', ')}`);
  assert.ok(controlOut.some((x) => x.startsWith('firing BerthServiceExitedNonZero +12')), controlOut.join(', '));
});

test('a counter present at the first evaluation is history (no page for what happened before the agent started)', () => {
  const w = world({ worker: 1 });
  w.event('w1', 'worker', 'start', T0 - 10 * M);
  for (const at of [T0 - 3 * M, T0 - 2 * M, T0 - M]) {
    w.event('w1', 'worker', 'die', at, { exitCode: '1' });
    w.event('w1', 'worker', 'start', at + S);
  }
  assert.deepEqual(run(new AlertEvaluator(), w, T0, T0 + 20 * M), []);
});

test('below replicas for 2m; deploy failed; backup too old; engine down for 1m; host disk full and filling', () => {
  const w = world({ web: 1, worker: 1 });
  const e = new AlertEvaluator();
  w.event('c1', 'web', 'start', T0);
  // worker (desired 1) never runs.
  const out = run(e, w, T0, T0 + 2 * M + 5 * S).map((t) => `${t.status} ${t.name} +${t.at / S}s`);
  assert.deepEqual(out, ['firing BerthServiceBelowReplicas +120s']);
  w.deploy({ project: 'shop', service: 'web', result: 'rolled-back', finishedAt: T0 + 3 * M });
  const host = (avail: number) => ({ filesystems: [{ device: '/dev/vda', fstype: 'ext4', mountpoint: '/', paths: ['/'], availBytes: avail, sizeBytes: 1000, files: 100, filesFree: 50 }], memAvailableBytes: 500, memTotalBytes: 1000, load1: 0, cpuCores: 2 });
  const more = run(e, w, T0 + 3 * M, T0 + 9 * M, {
    backups: [{ project: 'shop', target: 'db', at: T0 - 27 * 3_600_000 }, { project: 'shop', target: 'files', at: T0 - 3_600_000 }],
    watcher: { dockerUp: false, eventsStreamUp: true },
    host: host(50),
  }).map((t) => `${t.status} ${t.name}`);
  assert.deepEqual(more.sort(), ['firing BerthBackupTooOld', 'firing BerthDeployFailed', 'firing BerthEngineDown', 'firing BerthHostDiskFull'].sort());
  assert.deepEqual(e.firing().find((a) => a.name === 'BerthBackupTooOld')!.labels, { project: 'shop', target: 'db' });
  // Disk filling: 700 -> 400 of 1000 over 3 h: full within a day, and over 60% full.
  const e2 = new AlertEvaluator();
  const fill = [] as string[];
  for (let t = 0; t <= 4.5 * 3_600_000; t += M) {
    for (const tr of e2.evaluate(w.inputs(T0 + t, { host: host(700 - (300 * t) / (3 * 3_600_000)) }))) fill.push(`${tr.status} ${tr.alert.name} +${Math.round(tr.at - T0) / M}m`);
  }
  assert.ok(fill.some((f) => f.startsWith('firing BerthHostDiskFillingUp')), fill.join('\n'));
  assert.equal(linearAt([{ x: 0, y: 1 }, { x: 1, y: 3 }], 2), 5);
});
