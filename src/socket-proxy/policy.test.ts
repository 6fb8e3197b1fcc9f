import { test } from 'node:test';
import assert from 'node:assert/strict';
import { configFromEnv, editDistance, haproxyTruthy, humanTruthy } from './config.js';
import { isLocalListen, parseListen } from './server.js';
import { canonicalTarget } from './path.js';
import { compatPolicy, filePolicy, strictEnvPolicy, PolicyError } from './policy.js';
import { DEFAULT_BODY_RULES } from './body.js';
import { loadProxyConfig } from './index.js';

const decide = (policy: ReturnType<typeof compatPolicy>, method: string, target: string, client = '127.0.0.1') => {
  const t = canonicalTarget(target);
  assert.ok(t.ok, `target ${target} should be canonical`);
  return policy.decide({ method, route: t.route, client });
};

test('HAProxy truthiness: only non-zero integers are true', () => {
  for (const v of ['1', '2', '-1', '+1', '1abc', '01']) assert.equal(haproxyTruthy(v), true, v);
  for (const v of ['0', 'true', 'yes', 'on', '', ' 1', 'TRUE', '00', undefined]) assert.equal(haproxyTruthy(v), false, String(v));
  assert.equal(humanTruthy('true'), true);
  assert.equal(humanTruthy('0'), false);
  assert.equal(humanTruthy('maybe'), undefined);
});

test('compat env: defaults EVENTS PING VERSION on, the rest off; CONTAINERS=true is OFF with a warning', () => {
  const env = configFromEnv({ CONTAINERS: 'true' }, 'compat');
  assert.equal(env.flags.EVENTS, true);
  assert.equal(env.flags.PING, true);
  assert.equal(env.flags.VERSION, true);
  assert.equal(env.flags.CONTAINERS, false);
  assert.equal(env.flags.POST, false);
  assert.match(env.warnings.join('\n'), /CONTAINERS=true means OFF/);
  assert.equal(env.socketPath, '/var/run/docker.sock');
  assert.equal(configFromEnv({ CONTAINERS: 'true' }, 'strict').flags.CONTAINERS, true);
  assert.equal(configFromEnv({ SOCKET_PATH: '/x.sock' }, 'compat').socketPath, '/x.sock');
  // DISABLE_IPV6 is read by Tecnativa's shell entrypoint: 1, true, yes (any case).
  for (const v of ['1', 'TRUE', 'yes']) assert.equal(configFromEnv({ DISABLE_IPV6: v }, 'compat').disableIpv6, true, v);
  for (const v of ['0', 'on', '2', '']) assert.equal(configFromEnv({ DISABLE_IPV6: v }, 'compat').disableIpv6, false, v);
});

test('compat policy: Tecnativa behaviour table', () => {
  const defaults = compatPolicy(configFromEnv({}, 'compat'));
  assert.equal(decide(defaults, 'GET', '/v1.41/version').allow, true);
  assert.equal(decide(defaults, 'HEAD', '/_ping').allow, true);
  assert.equal(decide(defaults, 'GET', '/events').allow, true);
  assert.equal(decide(defaults, 'GET', '/v1.41/containers/json').allow, false);
  assert.equal(decide(defaults, 'GET', '/info').allow, false);

  const containers = compatPolicy(configFromEnv({ CONTAINERS: '1' }, 'compat'));
  assert.equal(decide(containers, 'GET', '/v1.41/containers/abc/logs').allow, true);
  assert.equal(decide(containers, 'GET', '/v1.41/containers/abc/json').allow, true);
  assert.equal(decide(containers, 'POST', '/v1.41/containers/create').rule, 'POST');
  assert.equal(decide(containers, 'DELETE', '/v1.41/containers/abc').allow, false);
  assert.equal(decide(containers, 'POST', '/v1.41/containers/abc/restart').allow, false);
  // Compat keeps Tecnativa's prefix semantics: archive and export are inside CONTAINERS.
  assert.equal(decide(containers, 'GET', '/containers/abc/export').allow, true);

  // ALLOW_RESTARTS needs POST in Tecnativa (the method gate comes first).
  assert.equal(decide(compatPolicy(configFromEnv({ ALLOW_RESTARTS: '1' }, 'compat')), 'POST', '/containers/abc/restart').allow, false);
  const restarts = compatPolicy(configFromEnv({ ALLOW_RESTARTS: '1', POST: '1' }, 'compat'));
  assert.equal(decide(restarts, 'POST', '/containers/abc/restart').allow, true);
  assert.equal(decide(restarts, 'POST', '/containers/abc/kill').allow, true);
  assert.equal(decide(restarts, 'POST', '/containers/abc/start').allow, false);
  assert.equal(decide(restarts, 'POST', '/containers/create').allow, false);

  const net = compatPolicy(configFromEnv({ NETWORKS: '1', POST: '1' }, 'compat'));
  for (const [m, t] of [['GET', '/networks'], ['POST', '/networks/create'], ['DELETE', '/networks/abc']]) assert.equal(decide(net, m!, t!).allow, true, `${m} ${t}`);
});

test('compat policy: case-sensitive anchored section match (stricter than HAProxy -i)', () => {
  const p = compatPolicy(configFromEnv({ CONTAINERS: '1' }, 'compat'));
  assert.equal(decide(p, 'GET', '/CONTAINERS/json').allow, false);
  assert.equal(decide(p, 'GET', '/containersx/json').allow, false);
  assert.equal(decide(p, 'GET', '/images/containers/json').allow, false);
});

test('strict env policy: endpoint lists, closed endpoints, lifecycle without POST', () => {
  const p = strictEnvPolicy(configFromEnv({ CONTAINERS: '1' }, 'strict'));
  assert.equal(decide(p, 'GET', '/v1.41/containers/json').allow, true);
  assert.equal(decide(p, 'GET', '/v1.41/containers/x/logs').allow, true);
  for (const t of ['/containers/x/export', '/containers/x/archive', '/containers/x/attach/ws']) {
    const v = decide(p, 'GET', t);
    assert.equal(v.allow, false, t);
  }
  assert.equal(decide(p, 'GET', '/containers/x/unknown').rule, 'unknown-endpoint');
  assert.equal(decide(p, 'POST', '/containers/x/start').allow, false);
  const archive = strictEnvPolicy(configFromEnv({ CONTAINERS: '1', ALLOW_ARCHIVE: '1' }, 'strict'));
  assert.equal(decide(archive, 'GET', '/containers/x/archive').allow, true);

  const start = strictEnvPolicy(configFromEnv({ ALLOW_START: '1' }, 'strict'));
  assert.equal(decide(start, 'POST', '/containers/x/start').allow, true);
  assert.equal(decide(start, 'POST', '/containers/x/stop').allow, false);
  assert.equal(decide(start, 'GET', '/containers/json').allow, false);
  const restarts = strictEnvPolicy(configFromEnv({ ALLOW_RESTARTS: 'true' }, 'strict'));
  for (const a of ['stop', 'restart', 'kill']) assert.equal(decide(restarts, 'POST', `/containers/x/${a}`).allow, true, a);

  const images = strictEnvPolicy(configFromEnv({ IMAGES: '1', SWARM: '1' }, 'strict'));
  assert.equal(decide(images, 'GET', '/images/library/busybox:latest/json').allow, true);
  assert.equal(decide(images, 'GET', '/images/get').allow, false);
  assert.equal(decide(images, 'GET', '/images/busybox/get').allow, false);
  assert.equal(decide(images, 'GET', '/swarm/unlockkey').allow, false);
  assert.equal(decide(images, 'GET', '/swarm').allow, true);
  assert.equal(decide(strictEnvPolicy(configFromEnv({ SYSTEM: '1' }, 'strict')), 'GET', '/debug/vars').allow, false);

  const exec = strictEnvPolicy(configFromEnv({ CONTAINERS: '1', POST: '1' }, 'strict'));
  assert.equal(decide(exec, 'POST', '/containers/x/exec').allow, false, 'exec create needs EXEC');
  const exec2 = strictEnvPolicy(configFromEnv({ CONTAINERS: '1', POST: '1', EXEC: '1' }, 'strict'), DEFAULT_BODY_RULES);
  const v = decide(exec2, 'POST', '/containers/x/exec');
  assert.equal(v.allow, true);
  assert.equal(v.inspect, 'exec-create');
});

test('policy file: per-endpoint rules, client CIDRs, deny wins, unknown endpoints are errors', () => {
  const base = strictEnvPolicy(configFromEnv({}, 'strict'));
  const p = filePolicy({
    rules: [
      { name: 'traefik', clients: ['172.20.0.0/16'], endpoints: ['GET /containers/json', 'GET /containers/{id}/json'] },
      { name: 'ci', clients: ['10.0.0.5'], endpoints: ['* /containers/{id}/archive'] },
      { name: 'local', clients: ['unix', '127.0.0.0/8'], sections: ['networks'], methods: ['GET'] },
      { name: 'no-json', action: 'deny', clients: ['172.20.9.0/24'], endpoints: ['GET /containers/json'] },
    ],
  }, base, undefined);
  assert.equal(decide(p, 'GET', '/containers/json', '172.20.1.2').rule, 'traefik');
  assert.equal(decide(p, 'GET', '/containers/json', '172.20.9.9').allow, false);
  assert.equal(decide(p, 'GET', '/containers/json', '172.21.1.2').allow, false);
  assert.equal(decide(p, 'PUT', '/containers/x/archive', '10.0.0.5').allow, true);
  assert.equal(decide(p, 'PUT', '/containers/x/archive', '10.0.0.6').allow, false);
  assert.equal(decide(p, 'GET', '/networks/x', 'unix').allow, true);
  assert.equal(decide(p, 'POST', '/networks/create', 'unix').allow, false);
  assert.equal(decide(p, 'GET', '/_ping', '192.168.1.1').allow, true, 'env defaults stay underneath');
  assert.throws(() => filePolicy({ rules: [{ name: 'x', endpoints: ['GET /containers'] }] }, base, undefined), PolicyError);
  assert.throws(() => filePolicy({ rules: [{ name: 'x', clients: ['300.1.1.1/8'] }] }, base, undefined), PolicyError);
  const restricted = filePolicy({ clients: ['10.1.0.0/16'] }, base, undefined);
  assert.equal(decide(restricted, 'GET', '/_ping', '10.2.0.1').rule, 'clients');
  assert.equal(decide(restricted, 'GET', '/_ping', '::ffff:10.1.0.1').allow, true);
});

test('loadProxyConfig: compat has no body policy by default, strict and policy files do', () => {
  assert.equal(loadProxyConfig({ env: {}, compat: true }).config.policy.body, undefined);
  assert.ok(loadProxyConfig({ env: { BODY_POLICY: '1' }, compat: true }).config.policy.body);
  assert.ok(loadProxyConfig({ env: {} }).config.policy.body);
  assert.deepEqual(loadProxyConfig({ env: {} }).config.listen, ['[::]:2375']);
  assert.deepEqual(loadProxyConfig({ env: { DISABLE_IPV6: '1' } }).config.listen, ['0.0.0.0:2375']);
  const file = loadProxyConfig({ env: {}, policy: { body: { allowedBindRoots: ['/srv'] } } });
  assert.deepEqual(file.config.policy.body?.allowedBindRoots, ['/srv']);
  assert.throws(() => loadProxyConfig({ env: {}, policy: { body: { allowEverything: true } as never } }), PolicyError);
});

test('strict: removing is a right of its own (DELETE=1); compat keeps Tecnativa (POST grants DELETE)', () => {
  const writer = strictEnvPolicy(configFromEnv({ CONTAINERS: '1', IMAGES: '1', NETWORKS: '1', VOLUMES: '1', POST: '1' }, 'strict'));
  for (const [m, t] of [['DELETE', '/containers/abc'], ['DELETE', '/images/busybox'], ['DELETE', '/networks/n'], ['DELETE', '/volumes/v'], ['POST', '/containers/prune'], ['POST', '/images/prune'], ['POST', '/volumes/prune'], ['POST', '/networks/prune']]) {
    const v = decide(writer, m!, t!);
    assert.equal(v.allow, false, `${m} ${t}`);
    assert.equal(v.rule, 'DELETE');
    assert.match(v.reason, /DELETE=1/);
  }
  assert.equal(decide(writer, 'POST', '/containers/create').allow, true, 'POST still grants creating');
  const remover = strictEnvPolicy(configFromEnv({ CONTAINERS: '1', DELETE: '1' }, 'strict'));
  assert.equal(decide(remover, 'DELETE', '/v1.41/containers/abc').allow, true, 'DELETE=1 with the section, without POST');
  assert.equal(decide(remover, 'DELETE', '/v1.41/containers/abc').rule, 'CONTAINERS+DELETE');
  assert.equal(decide(remover, 'POST', '/containers/create').allow, false, 'DELETE does not grant POST');
  assert.equal(decide(remover, 'DELETE', '/images/busybox').allow, false, 'only within granted sections');
  const compat = compatPolicy(configFromEnv({ CONTAINERS: '1', POST: '1' }, 'compat'));
  assert.equal(decide(compat, 'DELETE', '/containers/abc').allow, true);
});

test('unknown variables: a suggestion for flag-like near misses and unknown ALLOW_*; the rest of the environment is left alone', () => {
  const w = (env: Record<string, string>, mode: 'strict' | 'compat' = 'strict') => configFromEnv(env, mode).warnings;
  assert.deepEqual(w({ CONTAINRES: '1' }), ['CONTAINRES=1 is not a variable the proxy reads: did you mean CONTAINERS?']);
  assert.match(w({ CONTAINER: 'yes' })[0]!, /did you mean CONTAINERS\?/);
  assert.match(w({ INF0: '1' })[0]!, /did you mean INFO\?/);
  assert.match(w({ ALLOW_RESTART: '1' })[0]!, /did you mean ALLOW_RESTARTS\?/);
  assert.match(w({ ALLOW_PAUSE: '1' })[0]!, /ALLOW_PAUSE=1 is not a variable the proxy reads/);
  assert.deepEqual(w({ PATH: '/usr/bin', HOME: '/root', HOSTNAME: 'x', NODE_ENV: 'production', TERM: 'xterm', USER: '1', PWD: '/', LANG: 'C', CONTAINERS: '1', SOCKET_PATH: '/x' }), []);
  assert.match(w({ DELETE: '1' }, 'compat').join('\n'), /DELETE=1 is read in strict mode only/);
  assert.match(w({ ALLOW_ARCHIVE: '1' }, 'compat').join('\n'), /ALLOW_ARCHIVE=1 is read in strict mode only/);
  assert.deepEqual(w({ ALLOW_ARCHIVE: '1', DELETE: '1' }), []);
  assert.equal(editDistance('CONTAINRES', 'CONTAINERS'), 1);
});

test('listen addresses are validated up front', () => {
  assert.deepEqual(parseListen('127.0.0.1:2375'), { kind: 'tcp', host: '127.0.0.1', port: 2375 });
  assert.deepEqual(parseListen(':2375'), { kind: 'tcp', host: '::', port: 2375 });
  assert.deepEqual(parseListen('tcp://[::1]:0'), { kind: 'tcp', host: '::1', port: 0 });
  assert.deepEqual(parseListen('unix:///run/x.sock'), { kind: 'unix', path: '/run/x.sock' });
  for (const bad of ['127.0.0.1:80800', 'x', '1.2.3.4:', 'unix://rel', 'a b:1', '[1.2.3.4]:1']) assert.throws(() => parseListen(bad), PolicyError, bad);
  assert.equal(isLocalListen('127.0.0.1:2375'), true);
  assert.equal(isLocalListen('[::1]:2375'), true);
  assert.equal(isLocalListen('unix:///run/x.sock'), true);
  assert.equal(isLocalListen('0.0.0.0:2375'), false);
  assert.equal(isLocalListen(':2375'), false);
  assert.equal(isLocalListen('10.0.0.5:2375'), false);
});
