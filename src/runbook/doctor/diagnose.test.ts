import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseReach } from './collect.js';
import { diagnose, explainExit } from './diagnose.js';
import type { ContainerFacts } from './types.js';

const base: ContainerFacts = { id: 'x', name: 'p_app_1', service: 'app', state: 'exited', running: false, oomKilled: false, restartCount: 0, restartPolicy: 'no', stopTimeoutS: 10, stopSignal: 'SIGTERM', networks: [], expectedNetworks: [], errorLines: [], errorLineCount: 0, finishedAt: '2026-12-03T10:00:11Z' };

test('exits explained: OOM, SIGKILL on stop, SIGKILL, crash, signal on stop', () => {
  assert.equal(explainExit({ ...base, exitCode: 137, oomKilled: true })?.kind, 'oom-killed');
  const onStop = explainExit({ ...base, exitCode: 137, kills: [{ at: '2026-12-03T10:00:00Z', signal: 15 }, { at: '2026-12-03T10:00:10Z', signal: 9 }] });
  assert.equal(onStop?.kind, 'sigkill-on-stop');
  assert.match(onStop!.message, /grace period \(10s\) after SIGTERM, killed 10.0s later/);
  assert.equal(explainExit({ ...base, exitCode: 137, kills: [{ at: '2026-12-03T10:00:10Z', signal: 9 }] })?.kind, 'sigkill');
  const unknown = explainExit({ ...base, exitCode: 137 });
  assert.equal(unknown?.kind, 'sigkill');
  assert.match(unknown!.message, /no longer has the events/, 'says it could not tell, never guesses');
  assert.equal(explainExit({ ...base, exitCode: 1 })?.kind, 'crashed');
  assert.equal(explainExit({ ...base, exitCode: 143, kills: [{ at: '2026-12-03T10:00:00Z', signal: 15 }] })?.kind, 'stopped');
  assert.equal(explainExit({ ...base, exitCode: 139 })?.kind, 'killed-by-signal');
  assert.equal(explainExit({ ...base, exitCode: 0 }), undefined);
});

test('a healthy service is ok; infos alone do not make it not ok', () => {
  const running: ContainerFacts = { ...base, state: 'running', running: true, exitCode: undefined, finishedAt: undefined, health: { status: 'healthy', failingStreak: 0, log: [] } };
  const report = diagnose({ project: 'p', collectedAt: '', services: [{ name: 'app', desired: 1, running: 1, dependsOn: [], containers: [{ ...running, reachSkipped: 'no helper image' }] }] });
  assert.equal(report.ok, true);
  assert.deepEqual(report.findings.map((f) => f.kind), ['reach-not-checked']);
  const sick = diagnose({ project: 'p', collectedAt: '', services: [{ name: 'app', desired: 2, running: 1, dependsOn: [], containers: [{ ...running, health: { status: 'unhealthy', failingStreak: 3, log: [{ exitCode: 1, output: 'refused', end: 't' }] } }] }] });
  assert.equal(sick.ok, false);
  assert.deepEqual(sick.findings.map((f) => f.kind), ['below-desired', 'unhealthy']);
});

test('the probe\'s output: DNS and TCP per dependency; silence is a failure', () => {
  const out = 'dns db ok 172.18.0.2 \ntcp db 5432 ok\ndns cache failed\n';
  assert.deepEqual(parseReach(out, [{ name: 'db', port: 5432 }, { name: 'cache', port: 6379 }, { name: 'queue' }]), [
    { name: 'db', port: 5432, dns: 'ok', addresses: ['172.18.0.2'], tcp: 'ok', detail: undefined },
    { name: 'cache', port: 6379, dns: 'failed', addresses: [], tcp: undefined, detail: undefined },
    { name: 'queue', port: undefined, dns: 'failed', addresses: [], tcp: undefined, detail: 'the probe said nothing' },
  ]);
});

test('a check that times out is said to time out; a service blocked by an unhealthy dependency says so', () => {
  const sickApp: ContainerFacts = { ...base, name: 'p_app_1', state: 'running', running: true, exitCode: undefined, finishedAt: undefined, health: { status: 'unhealthy', failingStreak: 3, test: "node -e 'fetch(1)'", timeoutS: 3, log: [1, 2, 3].map((i) => ({ exitCode: -1, output: 'Health check exceeded timeout (3s)', end: `t${i}` })) } };
  const report = diagnose({ project: 'p', collectedAt: '', services: [
    { name: 'proxy', desired: 1, running: 0, dependsOn: ['app'], containers: [] },
    { name: 'app', desired: 1, running: 1, dependsOn: [], containers: [sickApp] },
  ] });
  assert.match(report.findings[0]!.advice, /^it depends on app, which is not up and healthy: fix that first, then berth up proxy$/);
  const unhealthy = report.findings.find((f) => f.kind === 'unhealthy')!;
  assert.match(unhealthy.advice, /did not finish within its timeout \(3s\)/);
  assert.match(unhealthy.advice, /docker exec p_app_1 node -e 'fetch\(1\)'$/);
});
