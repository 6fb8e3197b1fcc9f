import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mergeNodes, normalizeForMerge, finalizeMerged } from './merge.js';
import { parseComposeText, toPlain, type LMap } from './source.js';
import { parseHealthcheck, parsePort } from './service.js';

const tcp = (published: string | undefined, target: number, hostIp = '') => ({ hostIp, published, target, protocol: 'tcp', mode: 'ingress' });

test('ports: short syntax', () => {
  assert.deepEqual(parsePort('80'), [tcp(undefined, 80)]);
  assert.deepEqual(parsePort(80), [tcp(undefined, 80)]);
  assert.deepEqual(parsePort('8080:80'), [tcp('8080', 80)]);
  assert.deepEqual(parsePort('127.0.0.1:8080:80/tcp'), [tcp('8080', 80, '127.0.0.1')]);
  assert.deepEqual(parsePort('127.0.0.1::80'), [tcp(undefined, 80, '127.0.0.1')]);
  assert.deepEqual(parsePort('53:53/udp'), [{ ...tcp('53', 53), protocol: 'udp' }]);
  assert.deepEqual(parsePort('[::1]:8080:80'), [tcp('8080', 80, '::1')]);
  assert.deepEqual(parsePort('::1:8080:80'), [tcp('8080', 80, '::1')]);
  assert.deepEqual(parsePort('0.0.0.0:443:8443'), [tcp('443', 8443, '0.0.0.0')]);
});

test('ports: ranges expand per container port', () => {
  assert.deepEqual(parsePort('8080-8081:80-81'), [tcp('8080', 80), tcp('8081', 81)]);
  assert.deepEqual(parsePort('3000-3001'), [tcp(undefined, 3000), tcp(undefined, 3001)]);
  // A host range for one container port: the engine picks a free one of the range.
  assert.deepEqual(parsePort('9000-9010:80'), [tcp('9000-9010', 80)]);
  assert.deepEqual(parsePort('127.0.0.1:5000-5001:5000-5001/udp').map((p) => [p.hostIp, p.published, p.target, p.protocol]), [
    ['127.0.0.1', '5000', 5000, 'udp'],
    ['127.0.0.1', '5001', 5001, 'udp'],
  ]);
});

test('ports: long syntax', () => {
  assert.deepEqual(parsePort({ target: 80, published: 8080, host_ip: '127.0.0.1', protocol: 'udp', mode: 'host' }), [{ hostIp: '127.0.0.1', published: '8080', target: 80, protocol: 'udp', mode: 'host' }]);
  assert.deepEqual(parsePort({ target: 80 }), [tcp(undefined, 80)]);
  assert.deepEqual(parsePort({ target: 80, published: '8000-8010' }), [tcp('8000-8010', 80)]);
});

test('ports: invalid specs are explained', () => {
  assert.throws(() => parsePort('80:80:80:80:80/tcp/x'), /invalid protocol/);
  assert.throws(() => parsePort('abc'), /invalid container port "abc"/);
  assert.throws(() => parsePort('x:80'), /invalid host port "x"/);
  assert.throws(() => parsePort('8080-8082:80-81'), /different sizes/);
  assert.throws(() => parsePort('80/icmp'), /invalid protocol/);
  assert.throws(() => parsePort({ target: 0 }), /target must be a port number/);
  assert.throws(() => parsePort('70000'), /invalid container port/);
});

test('healthcheck: Docker defaults, durations, disable', () => {
  const locate = () => undefined;
  assert.deepEqual(parseHealthcheck({ test: ['CMD', 'true'] }, [], { locate }), {
    test: ['CMD', 'true'], intervalMs: 30_000, timeoutMs: 30_000, retries: 3, startPeriodMs: 0, startIntervalMs: 5_000, disabled: false,
  });
  const h = parseHealthcheck({ test: 'true', interval: '1m30s', timeout: '500ms', retries: 1, start_period: '2s', start_interval: '250ms' }, [], { locate })!;
  assert.deepEqual([h.intervalMs, h.timeoutMs, h.retries, h.startPeriodMs, h.startIntervalMs], [90_000, 500, 1, 2000, 250]);
  assert.equal(parseHealthcheck({ disable: true }, [], { locate })!.disabled, true);
  assert.equal(parseHealthcheck({ test: ['NONE'] }, [], { locate })!.disabled, true);
  assert.equal(parseHealthcheck(undefined, [], { locate }), undefined);
  assert.throws(() => parseHealthcheck({ interval: 'often' }, ['services', 'a', 'healthcheck'], { locate: () => ({ file: '/p/c.yaml', line: 3, column: 5 }) }), /c\.yaml:3:5: invalid services\.a\.healthcheck\.interval "often"/);
});

function mergeTexts(...texts: string[]): Record<string, unknown> {
  let merged: LMap | undefined;
  texts.forEach((text, i) => {
    const { root } = parseComposeText(text, `/p/${i}.yaml`);
    normalizeForMerge(root);
    merged = mergeNodes(merged, root) as LMap;
  });
  finalizeMerged(merged!);
  return toPlain(merged!).value as Record<string, unknown>;
}

test('merge: ports by {ip, target, published, protocol}, secrets by target, other lists appended uniquely', () => {
  const model = mergeTexts(
    'services:\n  a:\n    ports: ["80:80", { target: 443, published: 443 }]\n    secrets: [db, { source: api, target: api_key }]\n    cap_add: [NET_ADMIN]\n    entrypoint: [a, b]\n    healthcheck: { test: [CMD, one], interval: 5s }\n',
    'services:\n  a:\n    ports: ["8080:80", "443:443"]\n    secrets: [{ source: db, mode: 0400 }, { source: other, target: api_key }]\n    cap_add: [NET_ADMIN, SYS_TIME]\n    entrypoint: [c]\n    healthcheck: { test: [CMD, two] }\n',
  );
  const a = (model.services as Record<string, Record<string, unknown>>).a!;
  // "8080:80" is a new key (published differs): Compose appends it; "443:443" equals the long form.
  assert.deepEqual(a.ports, ['80:80', '443:443', '8080:80']);
  assert.deepEqual(a.secrets, [{ source: 'db', mode: 256 }, { source: 'other', target: 'api_key' }]);
  assert.deepEqual(a.cap_add, ['NET_ADMIN', 'SYS_TIME']);
  assert.deepEqual(a.entrypoint, ['c']);
  assert.deepEqual(a.healthcheck, { test: ['CMD', 'two'], interval: '5s' });
});

test('merge: depends_on and networks list and map forms merge by name', () => {
  const model = mergeTexts(
    'services:\n  a:\n    depends_on: { db: { condition: service_healthy } }\n    networks: { front: { aliases: [web] } }\n',
    'services:\n  a:\n    depends_on: [db, cache]\n    networks: [front, back]\n',
  );
  const a = (model.services as Record<string, Record<string, unknown>>).a!;
  assert.deepEqual(a.depends_on, { db: { condition: 'service_healthy' }, cache: { condition: 'service_started' } });
  assert.deepEqual(a.networks, { front: { aliases: ['web'] }, back: null });
});
