import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvalidArgumentError } from 'commander';
import { closest, drainProblem, value } from './values.js';
import { parseDrain } from './commands/rollout.js';

const rejects = (parse: (v: string) => string, input: string, pattern: RegExp) =>
  assert.throws(() => parse(input), (e: unknown) => e instanceof InvalidArgumentError && pattern.test(e.message), `${input} should be refused`);

test('durations: above 0 unless zero is allowed; the text comes back as given', () => {
  assert.equal(value.duration()('1m30s'), '1m30s');
  rejects(value.duration(), '0s', /above 0/);
  rejects(value.duration(), 'soon', /expected a duration such as 30s/);
  rejects(value.duration(), '-1s', /expected a duration/);
  assert.equal(value.duration({ zero: true })('0s'), '0s');
});

test('whole numbers and ports', () => {
  assert.equal(value.integer()('3'), '3');
  for (const bad of ['abc', '0', '1.5', '1e3', '12abc', '', '-2']) rejects(value.integer(), bad, /whole number ≥ 1/);
  assert.equal(value.integer({ min: 0 })('0'), '0');
  assert.equal(value.port()('65535'), '65535');
  rejects(value.port(), '80800', /port from 1 to 65535, got "80800"/);
  rejects(value.port(), '0', /port from 1/);
  assert.equal(value.hostPort()('127.0.0.1:9465'), '127.0.0.1:9465');
  assert.equal(value.hostPort()(':9465'), ':9465');
  assert.equal(value.hostPort()('[::1]:9465'), '[::1]:9465');
  rejects(value.hostPort(), '127.0.0.1:80800', /80800/);
  rejects(value.hostPort(), '127.0.0.1', /HOST:PORT/);
});

test('drain specs: every strategy, and the errors name the strategies', () => {
  for (const ok of ['2s', 'wait:2s', 'readiness', 'readiness:3s', 'file:/tmp/drain', 'file:/tmp/drain:2s', 'hook:curl -X POST http://x/drain']) {
    assert.equal(drainProblem(ok), undefined, ok);
    assert.equal(value.drain()(ok), ok);
    parseDrain(ok); // and the rollout reads it
  }
  rejects(value.drain(), 'readyness:3s', /unknown drain strategy "readyness" \(did you mean "readiness"\?\); a drain is .*readiness\[:DURATION\]/);
  rejects(value.drain(), '0s', /above 0/);
  rejects(value.drain(), 'wait:0s', /above 0/);
  rejects(value.drain(), 'soon', /neither a duration nor a strategy; a drain is/);
  rejects(value.drain(), 'file:', /needs a path/);
  rejects(value.drain(), 'hook:', /needs a command/);
  assert.throws(() => parseDrain('readyness:3s'), /invalid --drain "readyness:3s": unknown drain strategy/);
});

test('one of a set, with a suggestion for a near miss', () => {
  assert.equal(value.oneOf(['error', 'warning'])('error'), 'error');
  rejects(value.oneOf(['error', 'warning', 'info']), 'warn', /expected one of error, warning, info/);
  rejects(value.oneOf(['compose', 'host']), 'hots', /did you mean "host"/);
  assert.equal(closest('hots', ['compose', 'host', 'rules']), 'host');
  assert.equal(closest('zzzz', ['compose', 'host']), undefined);
});
