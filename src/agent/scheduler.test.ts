import assert from 'node:assert/strict';
import { test } from 'node:test';
import { makeProject } from '../backup/testkit.js';
import { computeHealth, maxAgeFor, parseSchedule } from './scheduler.js';

const HOUR = 3_600_000;
const now = new Date('2026-11-27T12:00:00Z');
const project = makeProject('p', {
  db: { backup: { type: 'postgres', schedule: '0 3 * * *' } },
  files: { backup: { type: 'volume', volumes: ['v'], stopContainers: false, schedule: '0 * * * *' } },
  misc: { backup: { type: 'volume', volumes: ['w'], stopContainers: false } },
});
const entry = (id: string, ms: number) => ({ id, startedAt: new Date(ms - 60_000).toISOString(), finishedAt: new Date(ms).toISOString() });

test('max age: two schedule intervals plus slack; a day and a bit without a schedule; an override wins', () => {
  assert.equal(maxAgeFor('0 3 * * *', now), 48 * HOUR + 10 * 60_000);
  assert.equal(maxAgeFor('0 * * * *', now), 2 * HOUR + 10 * 60_000);
  assert.equal(maxAgeFor(undefined, now), 26 * HOUR);
  assert.equal(maxAgeFor('0 3 * * *', now, 5000), 5000);
});

test('health is dead-man style: the age of the newest verified backup per target', () => {
  const health = computeHealth(project, new Map([
    ['db', entry('db-1', now.getTime() - 9 * HOUR)],
    ['files', entry('files-1', now.getTime() - 3 * HOUR)],
  ]), now);
  assert.equal(health.ok, false);
  const byName = Object.fromEntries(health.targets.map((t) => [t.target, t]));
  assert.equal(byName.db!.ok, true);
  assert.equal(byName.db!.ageMs, 9 * HOUR);
  assert.equal(byName.db!.nextRun, '2026-11-28T03:00:00.000Z');
  assert.equal(byName.files!.ok, false, 'hourly schedule, 3h old: stale');
  assert.match(byName.files!.reason, /older than/);
  assert.equal(byName.misc!.ok, false);
  assert.equal(byName.misc!.reason, 'no verified backup yet');
});

test('health: all fresh is ok; a project without targets is not', () => {
  const fresh = computeHealth(project, new Map(['db', 'files', 'misc'].map((t) => [t, entry(`${t}-1`, now.getTime() - HOUR)])), now);
  assert.equal(fresh.ok, true);
  assert.equal(computeHealth(makeProject('empty', { web: {} }), new Map(), now).ok, false);
});

test('invalid cron expressions are usage errors naming the target', () => {
  assert.throws(() => parseSchedule('db', 'every day'), /invalid backup schedule "every day" for db/);
  assert.doesNotThrow(() => parseSchedule('db', '*/5 * * * *'));
});
