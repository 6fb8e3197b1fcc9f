import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ComposeProject, ServiceModel } from '../compose/types.js';
import { buildStatusReport, type ContainerFacts } from './report.js';
import { selectServices } from '../compose/select.js';

function project(replicas: Record<string, number>, inactive: string[] = []): ComposeProject {
  const services = Object.fromEntries(Object.entries(replicas).map(([name, n]) => [name, { name, replicas: n } as ServiceModel]));
  return { name: 'shop', services, inactiveServices: inactive } as unknown as ComposeProject;
}

function container(service: string, number: number, over: Partial<ContainerFacts> = {}): ContainerFacts {
  return {
    id: `${service}${number}`, name: `shop_${service}_${number}`, service, number, state: 'running', health: 'healthy',
    image: 'app:1', imageId: 'sha256:abc', repoDigest: undefined, startedAt: '2026-11-26T10:00:00Z', restartCount: 0,
    exitCode: undefined, ports: [], ...over,
  };
}

const now = new Date('2026-11-26T10:05:00Z');

test('all replicas running and healthy is ok, with uptime', () => {
  const report = buildStatusReport(project({ app: 2 }), ['app'], [container('app', 1), container('app', 2)], now);
  assert.equal(report.ok, true);
  assert.equal(report.services[0]!.running, 2);
  assert.equal(report.services[0]!.containers[0]!.uptimeMs, 300_000);
});

test('below the desired count is not ok and says so', () => {
  const report = buildStatusReport(project({ app: 2 }), ['app'], [container('app', 1), container('app', 2, { state: 'exited', exitCode: 137, startedAt: undefined })], now);
  assert.equal(report.ok, false);
  assert.deepEqual(report.services[0]!.problems, ['1 of 2 replicas running']);
  assert.equal(report.services[0]!.containers[1]!.problem, 'exited (137)');
});

test('an unhealthy container is not ok even at the desired count', () => {
  const report = buildStatusReport(project({ app: 1 }), ['app'], [container('app', 1, { health: 'unhealthy' })], now);
  assert.equal(report.ok, false);
  assert.deepEqual(report.services[0]!.problems, ['1 unhealthy']);
});

test('a stopped stack reports every service at zero', () => {
  const report = buildStatusReport(project({ app: 2, db: 1 }), ['app', 'db'], [], now);
  assert.equal(report.ok, false);
  assert.deepEqual(report.services.map((s) => [s.name, s.running, s.desired]), [['app', 0, 2], ['db', 0, 1]]);
});

test('containers of services not in the model are orphans', () => {
  const report = buildStatusReport(project({ app: 1 }), ['app'], [container('app', 1), container('old', 1)], now);
  assert.deepEqual(report.orphans.map((o) => o.name), ['shop_old_1']);
  assert.equal(report.ok, true);
});

test('an unknown service is bad input; an inactive one says which flag helps', () => {
  assert.throws(() => selectServices(project({ app: 1 }), ['nope']), /no such service: nope/);
  assert.throws(() => selectServices(project({ app: 1 }, ['backup']), ['backup']), /inactive profile; pass --profile/);
  assert.deepEqual(selectServices(project({ app: 1, db: 1 }), []), ['app', 'db']);
});

test('issue 17: extra replicas, image drift and a project not found are problems, not "all is well"', () => {
  const four = buildStatusReport(project({ app: 2 }), ['app'], [1, 2, 3, 4].map((n) => container('app', n)), now);
  assert.equal(four.ok, false);
  assert.deepEqual(four.services[0]!.problems, ['4 replicas running, 2 desired (2 extra)']);
  const declared = new Map([['app', { ref: 'app:2', imageId: 'sha256:def' }]]);
  const drift = buildStatusReport(project({ app: 1 }), ['app'], [container('app', 1)], now, { declared });
  assert.equal(drift.ok, false);
  assert.deepEqual(drift.services[0]!.problems, ['every replica runs app:1 (abc), the compose file declares app:2 (def)']);
  const same = buildStatusReport(project({ app: 1 }), ['app'], [container('app', 1, { imageId: 'sha256:def' })], now, { declared });
  assert.equal(same.ok, true);
  const gone = buildStatusReport(project({ app: 1 }), ['app'], [], now, { otherProjects: [{ name: 'shop2', workingDir: '/srv/shop' }, { name: 'blog', workingDir: '/srv/blog' }], workingDir: '/srv/shop' });
  assert.deepEqual(gone.notFound, { project: 'shop', runningAs: 'shop2', otherProjects: ['shop2', 'blog'] });
});
