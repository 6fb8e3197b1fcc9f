import assert from 'node:assert/strict';
import { test } from 'node:test';
import { planRetention, type RetentionEntry } from './retention.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const base = Date.parse('2026-11-26T03:00:00Z'); // a Thursday

function entry(id: string, ms: number, status: RetentionEntry['status'] = 'verified', target = 'db'): RetentionEntry {
  return { id, project: 'p', target, status, startedAt: new Date(ms).toISOString() };
}

/** One backup a day at 03:00 for `days` days, newest first ids d0, d1, ... */
function daily(days: number, target = 'db'): RetentionEntry[] {
  return Array.from({ length: days }, (_, i) => entry(`${target}-d${i}`, base - i * DAY, 'verified', target));
}

const kept = (plan: ReturnType<typeof planRetention>) => plan.decisions.filter((d) => d.action === 'keep').map((d) => d.id).sort();
const pruned = (plan: ReturnType<typeof planRetention>) => plan.decisions.filter((d) => d.action === 'prune').map((d) => d.id).sort();

test('no policy keeps everything', () => {
  const plan = planRetention(daily(10), {});
  assert.equal(pruned(plan).length, 0);
  assert.equal(kept(plan).length, 10);
});

test('keep-last keeps the N newest verified backups', () => {
  const plan = planRetention(daily(10), { keepLast: 3 });
  assert.deepEqual(kept(plan), ['db-d0', 'db-d1', 'db-d2']);
  assert.equal(pruned(plan).length, 7);
  assert.ok(plan.decisions.find((d) => d.id === 'db-d0')!.reasons.includes('newest verified backup'));
});

test('daily keeps the newest backup of each of the last N days', () => {
  // Two backups a day: 03:00 and 15:00.
  const entries = [...daily(10), ...Array.from({ length: 10 }, (_, i) => entry(`pm${i}`, base - i * DAY - 12 * HOUR))];
  const plan = planRetention(entries, { daily: 3 });
  // Newest per day: day 0 -> d0 (03:00; pm0 is 15:00 the day before), day -1 -> pm0 (15:00 of 25th), day -2 -> pm1.
  assert.deepEqual(kept(plan), ['db-d0', 'pm0', 'pm1']);
});

test('GFS over a year of daily backups keeps daily, weekly and monthly representatives', () => {
  const plan = planRetention(daily(365), { daily: 7, weekly: 4, monthly: 6 });
  const keep = plan.decisions.filter((d) => d.action === 'keep');
  // 7 daily + at most 4 weekly + at most 6 monthly, overlapping.
  assert.ok(keep.length >= 7 && keep.length <= 17, `kept ${keep.length}`);
  const months = new Set(keep.map((d) => d.startedAt.slice(0, 7)));
  assert.equal(months.size, 6);
  const oldest = keep.map((d) => Date.parse(d.startedAt)).sort((a, b) => a - b)[0]!;
  assert.ok(base - oldest < 190 * DAY, 'nothing older than six months is kept');
  for (const d of keep) assert.ok(d.reasons.length > 0);
});

test('ages are measured from the newest backup, not the wall clock: a long gap prunes nothing recent', () => {
  // The server was off for 90 days: the wall clock is far ahead of the newest backup.
  const entries = daily(10);
  const plan = planRetention(entries, { daily: 7 }, { now: new Date(base + 90 * DAY) });
  assert.deepEqual(kept(plan), ['db-d0', 'db-d1', 'db-d2', 'db-d3', 'db-d4', 'db-d5', 'db-d6']);
});

test('gaps: days without backups still count as days', () => {
  const entries = [entry('a', base), entry('b', base - 5 * DAY), entry('c', base - 10 * DAY)];
  const plan = planRetention(entries, { daily: 7 });
  assert.deepEqual(kept(plan), ['a', 'b']);
  assert.deepEqual(pruned(plan), ['c']);
});

test('the newest verified backup is never pruned, even by a policy that keeps nothing of its period', () => {
  const plan = planRetention(daily(3), { keepLast: 0, weekly: 0, monthly: 0, daily: 0 });
  // An all-zero policy is no policy.
  assert.equal(pruned(plan).length, 0);
  const plan2 = planRetention([entry('new', base), entry('old', base - 400 * DAY)], { monthly: 1 });
  assert.deepEqual(kept(plan2), ['new']);
});

test('a failed latest run does not block pruning; the failed record is kept, the newest verified too', () => {
  const entries = [entry('failed', base + HOUR, 'failed'), ...daily(10)];
  const plan = planRetention(entries, { keepLast: 1 });
  assert.deepEqual(kept(plan), ['db-d0', 'failed']);
  assert.equal(pruned(plan).length, 9);
  assert.equal(plan.skipped.length, 0);
});

test('safety backups never take a keep-last slot and are kept safety_days by the clock', () => {
  const now = new Date(base + HOUR);
  const safety = (id: string, ms: number): RetentionEntry => ({ ...entry(id, ms), purpose: 'safety' });
  // A fresh, tiny safety backup is the newest record: the good backups keep their slots.
  const entries = [safety('safety-new', base + 30 * 60_000), safety('safety-old', base - 8 * DAY), ...daily(3)];
  const plan = planRetention(entries, { keepLast: 2 }, { now });
  assert.deepEqual(kept(plan), ['db-d0', 'db-d1', 'safety-new']);
  assert.deepEqual(pruned(plan), ['db-d2', 'safety-old']);
  assert.match(plan.decisions.find((d) => d.id === 'safety-old')!.reasons[0]!, /older than 7 days/);
  assert.deepEqual(pruned(planRetention(entries, { keepLast: 2, safetyDays: 30 }, { now })), ['db-d2']);
});

test('nothing is pruned while a run is in progress', () => {
  const plan = planRetention([entry('running', base + HOUR, 'running'), ...daily(5)], { keepLast: 1 });
  assert.equal(pruned(plan).length, 0);
  assert.match(plan.skipped[0]!.reason, /still running/);
});

test('older failed runs are never pruned by retention and do not count', () => {
  const entries = [...daily(3), entry('f1', base - DAY - HOUR, 'failed')];
  const plan = planRetention(entries, { keepLast: 2 });
  assert.deepEqual(kept(plan), ['db-d0', 'db-d1', 'f1']);
  assert.deepEqual(pruned(plan), ['db-d2']);
});

test('clock skew: a future-dated backup is kept and does not become the anchor', () => {
  const now = new Date(base + HOUR);
  const entries = [entry('future', base + 400 * DAY), ...daily(10)];
  const plan = planRetention(entries, { daily: 3 }, { now });
  assert.deepEqual(kept(plan), ['db-d0', 'db-d1', 'db-d2', 'future']);
  assert.match(plan.decisions.find((d) => d.id === 'future')!.reasons[0]!, /future/);
});

test('clock skew: out-of-order timestamps are sorted by time, not by insertion', () => {
  const entries = [entry('b', base - DAY), entry('a', base), entry('c', base - 2 * DAY)];
  const plan = planRetention(entries, { keepLast: 1 });
  assert.deepEqual(kept(plan), ['a']);
});

test('targets are independent', () => {
  const plan = planRetention([...daily(5, 'db'), ...daily(5, 'files'), entry('files-running', base + HOUR, 'running', 'files')], { keepLast: 2 });
  assert.deepEqual(pruned(plan), ['db-d2', 'db-d3', 'db-d4']);
  assert.equal(plan.skipped.length, 1);
  assert.equal(plan.skipped[0]!.target, 'files');
});

test('weekly buckets follow ISO weeks (Monday start)', () => {
  // base is Thursday 2026-11-26; Monday 2026-11-23 is the same week, Sunday 2026-11-22 the previous.
  const entries = [entry('thu', base), entry('mon', base - 3 * DAY), entry('sun', base - 4 * DAY), entry('sat', base - 5 * DAY)];
  const plan = planRetention(entries, { weekly: 2 });
  assert.deepEqual(kept(plan), ['sun', 'thu']);
  assert.ok(plan.decisions.find((d) => d.id === 'thu')!.reasons.some((r) => r.includes('2026-W48')));
});

test('pruned records are ignored; invalid policies are rejected', () => {
  const plan = planRetention([entry('gone', base - DAY, 'pruned'), entry('a', base)], { keepLast: 1 });
  assert.deepEqual(plan.decisions.map((d) => d.id), ['a']);
  assert.throws(() => planRetention([], { keepLast: -1 }), /whole number/);
  assert.throws(() => planRetention([], { daily: 1.5 }), /whole number/);
});
