import assert from 'node:assert/strict';
import { test } from 'node:test';
import { byTime, normalizeTime, splitTimestamp, TimeOrderedBuffer, type LogEntry } from './entries.js';
import { isErrorLine, lineLevel, parseLine, renderParsed } from './parse.js';

test('pino, bunyan, other JSON, logfmt and plain lines', () => {
  const pino = parseLine('{"level":50,"time":1764763200000,"pid":1,"hostname":"h","msg":"db down","err":"ECONNREFUSED"}');
  assert.equal(pino.format, 'pino');
  assert.equal(pino.level, 'error');
  assert.equal(renderParsed(pino), 'ERROR db down err=ECONNREFUSED');
  const bunyan = parseLine('{"name":"api","hostname":"h","pid":1,"level":40,"msg":"slow","time":"2026-12-03T10:00:00.000Z","v":0,"ms":812}');
  assert.equal(bunyan.format, 'bunyan');
  assert.equal(renderParsed(bunyan), 'WARN  slow name=api ms=812');
  assert.equal(parseLine('{"severity":"WARNING","message":"x"}').level, 'warn');
  const logfmt = parseLine('time=2026-12-03T10:00:00Z level=error msg="cannot connect" host=db port=5432');
  assert.equal(logfmt.format, 'logfmt');
  assert.equal(renderParsed(logfmt), 'ERROR cannot connect host=db port=5432');
  const plain = parseLine('  GET / 200 a=b');
  assert.equal(plain.format, 'plain');
  assert.equal(renderParsed(plain), '  GET / 200 a=b', 'plain lines untouched');
  assert.equal(parseLine('{not json').format, 'plain');
  assert.equal(lineLevel(parseLine('2026-12-03 10:00:00 [ERROR] boom')), 'error');
  assert.equal(lineLevel(parseLine('LOG:  database system is ready')), undefined);
});

test('error lines: by level when there is one, else by the words of a failure', () => {
  assert.ok(isErrorLine(parseLine('{"level":60,"msg":"x"}')));
  assert.ok(!isErrorLine(parseLine('{"level":30,"msg":"error count 0"}')), 'an info line that says "error" is not one');
  assert.ok(isErrorLine(parseLine('Error: connect ECONNREFUSED 10.0.0.2:5432')));
  assert.ok(!isErrorLine(parseLine('app 1 listening on :3000')));
});

test('engine timestamps: trimmed fractions normalised so text order is time order', () => {
  assert.equal(normalizeTime('2026-12-03T11:53:59.1234Z'), '2026-12-03T11:53:59.123400000Z');
  assert.equal(normalizeTime('2026-12-03T11:53:59Z'), '2026-12-03T11:53:59.000000000Z');
  assert.deepEqual(splitTimestamp('2026-12-03T11:53:59.5Z hello world'), { time: '2026-12-03T11:53:59.500000000Z', text: 'hello world' });
  // Without normalising, ".5Z" sorts after ".123456789Z" the right way only by luck; ".9Z" vs ".10Z" would not.
  const a = { time: normalizeTime('2026-12-03T11:53:59.9Z')! } as LogEntry;
  const b = { time: normalizeTime('2026-12-03T11:53:59.10Z')! } as LogEntry;
  assert.equal(byTime(b, a), -1);
});

test('the follow buffer holds lines for a window, then emits in time order; late lines are never dropped', () => {
  let now = 0;
  const out: string[] = [];
  const buffer = new TimeOrderedBuffer((e) => out.push(e.text), 300, () => now);
  const entry = (t: string, text: string) => ({ time: `2026-12-03T10:00:0${t}.000000000Z`, text, container: 'c', service: 's', stream: 'stdout' as const });
  buffer.push(entry('2', 'b'));
  now = 100;
  buffer.push(entry('1', 'a'));
  buffer.flush();
  assert.deepEqual(out, [], 'nothing before the window');
  now = 350;
  buffer.flush();
  assert.deepEqual(out, ['a', 'b'], 'a (earlier time, arrived later) goes first, with b');
  buffer.push(entry('0', 'late'));
  buffer.flush(true);
  assert.deepEqual(out, ['a', 'b', 'late']);
});
