import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatDuration, parseDuration } from './duration.js';

test('parses Go/Compose durations', () => {
  assert.equal(parseDuration('30s'), 30_000);
  assert.equal(parseDuration('1m30s'), 90_000);
  assert.equal(parseDuration('500ms'), 500);
  assert.equal(parseDuration('1.5h'), 5_400_000);
  assert.equal(parseDuration('10'), 10_000);
  assert.equal(parseDuration(2), 2000);
});

test('rejects what is not a duration, naming it', () => {
  assert.throws(() => parseDuration('10 seconds', 'stop_grace_period'), /invalid stop_grace_period "10 seconds"/);
  assert.throws(() => parseDuration('s'), /invalid duration/);
  assert.throws(() => parseDuration('5x'), /invalid duration/);
});

test('formats for people', () => {
  assert.equal(formatDuration(850), '850ms');
  assert.equal(formatDuration(12_345), '12.3s');
  assert.equal(formatDuration(125_000), '2m05s');
  assert.equal(formatDuration(3_720_000), '1h02m');
});
