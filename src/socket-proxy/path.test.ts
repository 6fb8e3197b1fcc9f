import { test } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalTarget } from './path.js';

test('canonical targets: version prefix parsed as the daemon does', () => {
  const t = canonicalTarget('/v1.41/containers/json?all=1&filters=%7B%7D');
  assert.ok(t.ok);
  assert.equal(t.version, '1.41');
  assert.equal(t.route, '/containers/json');
  assert.equal(t.target, '/v1.41/containers/json?all=1&filters=%7B%7D');
  const plain = canonicalTarget('/_ping');
  assert.ok(plain.ok && plain.version === undefined && plain.route === '/_ping');
  // Decoded once, forwarded decoded (the forwarded bytes are the judged ones).
  const enc = canonicalTarget('/v1.41/%63ontainers/json');
  assert.ok(enc.ok);
  assert.equal(enc.route, '/containers/json');
  assert.equal(enc.target, '/v1.41/containers/json');
  const image = canonicalTarget('/images/registry:5000/app@sha256:abc/json');
  assert.ok(image.ok && image.route === '/images/registry:5000/app@sha256:abc/json');
});

test('non-canonical forms are rejected', () => {
  const bad = [
    '/v1.41/containers/../images/json', '/v1.41/containers/%2e%2e/images/json', '/v1.41/containers/./json',
    '/v1.41//containers/json', '/v1.41/containers/json/', '/v1.41\\containers/json', '/v1.41/containers%2fjson',
    '/v1.41/containers%2Fjson', '/v1.41/containers/json%', '/v1.41/containers/json%zz', '/v1.41/%25containers/json',
    'http://x/containers/json', '*', 'docker:2375', '/containers/json#frag', '/containers/j\x00son', '/containers/jsön',
    '/v1..41/containers/json', '/v1/containers/json', '/v1.41', '/containers/%20json', '/containers/json?x=%g1', '',
  ];
  for (const target of bad) assert.equal(canonicalTarget(target).ok, false, JSON.stringify(target));
});
