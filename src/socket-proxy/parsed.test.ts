import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HttpError, parseRequestHead } from './http.js';
import { parseRequest, parsedRequestCacheSize } from './parsed.js';

const bytes = (text: string) => Buffer.from(text, 'latin1');

test('parsed requests: identical heads parse once, to a frozen result equal to a fresh parse', () => {
  const text = 'GET /v1.41/containers/json?all=1&X-Registry-Auth=secret HTTP/1.1\r\nHost: docker\r\nUser-Agent: test\r\nAuthorization: Basic abc\r\n\r\n';
  const first = parseRequest(bytes(text), text.length);
  const again = parseRequest(bytes(text), text.length);
  assert.equal(again, first, 'the second identical head is a cache hit');
  assert.deepEqual(first.head, parseRequestHead(bytes(text), text.length));
  assert.ok(first.target.ok && first.target.route === '/containers/json');
  assert.equal(first.query, 'all=1&X-Registry-Auth=[redacted]');
  assert.deepEqual(first.headersForLog, { 'user-agent': 'test', authorization: '[redacted]' });
  assert.equal(first.forwardWithoutBody?.toString('latin1'), 'GET /v1.41/containers/json?all=1&X-Registry-Auth=secret HTTP/1.1\r\nHost: docker\r\nUser-Agent: test\r\nAuthorization: Basic abc\r\n\r\n');
  // Shared between requests, so nothing in it can be changed by one of them.
  assert.throws(() => { (first.head as { method: string }).method = 'DELETE'; }, TypeError);
  assert.throws(() => { (first.head.headers as [string, string][]).push(['X', 'y']); }, TypeError);
  assert.throws(() => { first.head.headers[0]![1] = 'other'; }, TypeError);
  assert.throws(() => { (first.target as { route: string }).route = '/exec'; }, TypeError);
  // One byte different is another entry.
  const other = text.replace('all=1', 'all=0');
  assert.notEqual(parseRequest(bytes(other), other.length), first);
});

test('parsed requests: only body-less requests without an upgrade get a ready head; bad heads throw every time', () => {
  const post = 'POST /containers/x/start HTTP/1.1\r\nHost: d\r\nContent-Length: 2\r\n\r\n';
  assert.equal(parseRequest(bytes(post), post.length).forwardWithoutBody, undefined);
  const upgrade = 'POST /exec/x/start HTTP/1.1\r\nHost: d\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n';
  assert.equal(parseRequest(bytes(upgrade), upgrade.length).forwardWithoutBody, undefined);
  const empty = 'POST /containers/x/stop HTTP/1.1\r\nHost: d\r\n\r\n';
  assert.match(parseRequest(bytes(empty), empty.length).forwardWithoutBody!.toString('latin1'), /\r\nContent-Length: 0\r\n\r\n$/);
  const bad = 'GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n';
  for (let i = 0; i < 2; i++) assert.throws(() => parseRequest(bytes(bad), bad.length), HttpError);
});

test('parsed requests: the cache is bounded, and long heads are not kept', () => {
  for (let i = 0; i < 1500; i++) {
    const text = `GET /containers/c${i}/json HTTP/1.1\r\nHost: d\r\n\r\n`;
    parseRequest(bytes(text), text.length);
    assert.ok(parsedRequestCacheSize() <= 512, `bounded after ${i + 1} distinct heads`);
  }
  const long = `GET /_ping HTTP/1.1\r\nHost: d\r\nUser-Agent: ${'x'.repeat(3000)}\r\n\r\n`;
  const first = parseRequest(bytes(long), long.length);
  assert.notEqual(parseRequest(bytes(long), long.length), first, 'parsed again, not cached');
});
