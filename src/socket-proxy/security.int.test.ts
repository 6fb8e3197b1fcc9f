// Security tests against the real daemon. Each denial is checked against the daemon's state,
// and a negative control sends the same bytes to the raw socket to show they would have worked.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { integrationEngine, RUN_ID, testName } from '../testing/engine.js';
import { DOCKER_SOCKET, dockerCli, rawExchange, startTestProxy, statuses, type TestProxy, removeOwned, testOwner } from './testkit.js';

const { engine, skip } = await integrationEngine();
const own = testOwner('security');
const raw = { path: DOCKER_SOCKET };
let readOnly: TestProxy; // CONTAINERS=1
let writer: TestProxy; // CONTAINERS=1 POST=1 EXEC=1 (strict: body policy on)
let containerId = '';

before(async () => {
  if (skip) return;
  readOnly = await startTestProxy({ CONTAINERS: '1' });
  writer = await startTestProxy({ CONTAINERS: '1', POST: '1', EXEC: '1' });
  const r = await dockerCli(undefined, ['run', '-d', '--name', testName('spsec'), ...own.cli, 'local/busybox:latest', 'sleep', '300']);
  assert.equal(r.code, 0, r.stderr);
  containerId = r.stdout.trim();
});
after(async () => {
  await Promise.all([readOnly?.close(), writer?.close()]);
  if (engine) await removeOwned(engine, own.owner);
});

const get = (target: string, extra = '') => `GET ${target} HTTP/1.1\r\nHost: docker\r\n${extra}Connection: close\r\n\r\n`;
const networksNamed = async (name: string) => (await engine!.docker.listNetworks({ filters: { name: [name] } })).filter((n) => n.Name === name);
const containersNamed = async (name: string) => (await engine!.docker.listContainers({ all: true, filters: { name: [name] } })).filter((c) => c.Names.includes(`/${name}`));

describe('path tricks (proxy grants CONTAINERS only; the tricks aim at /images/json)', () => {
  const cases: [string, string, (text: string) => void][] = [
    ['dot segments', '/v1.41/containers/../images/json', (t) => assert.match(t, /301[^]*Location: \/v1\.41\/images\/json/)],
    ['encoded dot segments', '/v1.41/containers/%2e%2e/images/json', (t) => assert.match(t, /301[^]*Location: \/v1\.41\/images\/json/)],
    ['double slash', '/v1.41/containers//../images/json', (t) => assert.match(t, /301 Moved/)],
    ['encoded slash', '/v1.41/images%2fjson', (t) => assert.match(t, /^HTTP\/1\.1 200[^]*"RepoTags"/)],
    ['absolute-form', 'http://x/v1.41/images/json', (t) => assert.match(t, /^HTTP\/1\.1 200[^]*"RepoTags"/)],
    ['absolute-form naming an allowed path', 'http://x/v1.41/containers/json', (t) => assert.match(t, /^HTTP\/1\.1 200/)],
  ];
  for (const [name, target, control] of cases) {
    test(`${name}: ${target}`, { skip }, async () => {
      const viaProxy = await rawExchange({ port: readOnly.port }, get(target));
      assert.equal(statuses(viaProxy.text)[0], 400, viaProxy.text);
      assert.doesNotMatch(viaProxy.text, /RepoTags/);
      control((await rawExchange(raw, get(target))).text);
    });
  }
  test('backslash, fragment, control bytes and stray % are refused', { skip }, async () => {
    for (const target of ['/v1.41\\images/json', '/v1.41/containers/json#x', '/v1.41/containers/json%', '/v1.41/cont%00ainers/json', '/v1.41/%25containers/json']) {
      const r = await rawExchange({ port: readOnly.port }, get(target));
      assert.equal(statuses(r.text)[0], 400, target);
    }
  });
  test('case tricks: /CONTAINERS/json matches nothing (routes are case-sensitive, as in the daemon)', { skip }, async () => {
    const upper = await rawExchange({ port: readOnly.port }, get('/v1.41/CONTAINERS/json'));
    assert.equal(statuses(upper.text)[0], 403);
    const imagesUpper = await rawExchange({ port: readOnly.port }, get('/v1.41/Images/json'));
    assert.equal(statuses(imagesUpper.text)[0], 403);
    // Control: the canonical spelling passes.
    const lower = await rawExchange({ port: readOnly.port }, get('/v1.41/containers/json'));
    assert.equal(statuses(lower.text)[0], 200);
  });
  test('percent-encoded allowed path is decoded once and forwarded canonically', { skip }, async () => {
    const r = await rawExchange({ port: readOnly.port }, get('/v1.41/%63ontainers/json'));
    assert.equal(statuses(r.text)[0], 200);
    assert.equal(readOnly.entries.at(-1)?.path, '/v1.41/containers/json');
  });
});

describe('method tricks (POST=0)', () => {
  test('DELETE, POST, PUT are denied and the container survives; lower-case and unknown methods refused', { skip }, async () => {
    for (const m of ['DELETE', 'POST', 'PUT']) {
      const r = await rawExchange({ port: readOnly.port }, `${m} /v1.41/containers/${containerId}?force=1 HTTP/1.1\r\nHost: d\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
      assert.equal(statuses(r.text)[0], 403, m);
    }
    for (const m of ['delete', 'PATCH', 'OPTIONS', 'GET\tX']) {
      const r = await rawExchange({ port: readOnly.port }, `${m} /v1.41/containers/${containerId} HTTP/1.1\r\nHost: d\r\n\r\n`);
      assert.ok([400, 405].includes(statuses(r.text)[0]!), m);
    }
    const r = await rawExchange({ port: readOnly.port }, `GET /v1.41/containers/${containerId}/kill HTTP/1.1\r\nHost: d\r\nX-HTTP-Method-Override: POST\r\nConnection: close\r\n\r\n`);
    assert.notEqual(statuses(r.text)[0], 204);
    assert.equal((await engine!.docker.getContainer(containerId).inspect()).State.Running, true);
  });
});

describe('framing and smuggling', () => {
  const networkBody = (name: string) => JSON.stringify({ Name: name, Labels: own.labels });
  const hidden = (name: string) => {
    const body = networkBody(name);
    return `POST /v1.41/networks/create HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
  };
  test('CL+TE, duplicate CL, bad chunk sizes, obs-fold and bare LF are refused', { skip }, async () => {
    const name = testName('spsmug');
    const inner = hidden(name);
    const attempts = [
      `POST /v1.41/containers/x/start HTTP/1.1\r\nHost: d\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${inner}`,
      `POST /v1.41/containers/x/start HTTP/1.1\r\nHost: d\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n${inner}`,
      `POST /v1.41/containers/x/start HTTP/1.1\r\nHost: d\r\nContent-Length: 0\r\nContent-Length: ${inner.length}\r\n\r\n${inner}`,
      `POST /v1.41/containers/x/start HTTP/1.1\r\nHost: d\r\nTransfer-Encoding: chunked\r\n\r\n-0\r\n\r\n${inner}`,
      `POST /v1.41/containers/x/start HTTP/1.1\r\nHost: d\r\nTransfer-Encoding: chunked\r\n\r\n0x10\r\n${inner}`,
      `POST /v1.41/containers/x/start HTTP/1.1\r\nHost: d\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n${inner}`,
      `POST /v1.41/containers/x/start HTTP/1.1\nHost: d\nContent-Length: 0\n\n${inner}`,
      `POST /v1.41/containers/x/start HTTP/1.1\r\nHost: d\r\nTransfer-Encoding: identity, chunked\r\n\r\n0\r\n\r\n${inner}`,
    ];
    for (const attempt of attempts) {
      const r = await rawExchange({ port: writer.port }, attempt);
      const codes = statuses(r.text);
      assert.equal(codes.length, 1, `exactly one answer: ${JSON.stringify(attempt.slice(0, 120))} → ${r.text.slice(0, 200)}`);
      assert.ok([400, 501].includes(codes[0]!), JSON.stringify(attempt.slice(0, 120)));
    }
    assert.equal((await networksNamed(name)).length, 0, 'no network created through smuggling');
  });
  test('a second request hidden after a chunked body is judged on its own', { skip }, async () => {
    const name = testName('spsmug2');
    const bytes = `POST /v1.41/containers/nonexistent-${RUN_ID}/start HTTP/1.1\r\nHost: d\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n${hidden(name)}`;
    const viaProxy = await rawExchange({ port: writer.port }, bytes);
    const codes = statuses(viaProxy.text);
    assert.equal(codes.length, 2, viaProxy.text);
    assert.match(viaProxy.text, /^HTTP\/1\.1 4\d\d [^]*Server: Docker/, 'the first request reached the daemon');
    assert.equal(codes[1], 403, 'the hidden request was judged and denied');
    assert.equal((await networksNamed(name)).length, 0);
    // Control: the daemon itself runs the hidden request.
    const direct = await rawExchange(raw, bytes);
    assert.equal(statuses(direct.text)[1], 201);
    assert.equal((await networksNamed(name)).length, 1);
  });
});

describe('upgrades and HTTP/2', () => {
  test('Upgrade on a non-hijacking endpoint and h2c are refused; HTTP/2 preface is not relayed', { skip }, async () => {
    const up = await rawExchange({ port: writer.port }, get('/v1.41/containers/json', 'Upgrade: tcp\r\nConnection: Upgrade\r\n').replace('Connection: close\r\n', ''));
    assert.equal(statuses(up.text)[0], 400);
    const h2c = await rawExchange({ port: writer.port }, `POST /v1.41/exec/x/start HTTP/1.1\r\nHost: d\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\nContent-Length: 2\r\n\r\n{}`);
    assert.equal(statuses(h2c.text)[0], 400);
    const pri = await rawExchange({ port: writer.port }, 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x12\x04\x00\x00\x00\x00\x00');
    assert.equal(statuses(pri.text)[0], 400);
    assert.equal(pri.closed, true);
    assert.doesNotMatch(pri.text, /Server: Docker|Api-Version/, 'nothing reached the daemon');
  });
  test('an upgrade the daemon refuses does not open a tunnel: following bytes are parsed and judged', { skip }, async () => {
    const name = testName('spup');
    const body = JSON.stringify({ Name: name, Labels: own.labels });
    const bytes = `POST /v1.41/exec/nonexistent${RUN_ID}/start HTTP/1.1\r\nHost: d\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}` +
      `POST /v1.41/networks/create HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    const r = await rawExchange({ port: writer.port }, bytes);
    assert.deepEqual(statuses(r.text), [404, 403], r.text);
    assert.equal((await networksNamed(name)).length, 0);
  });
});

describe('body policy on containers/create (strict mode)', () => {
  const create = (name: string, json: string, chunked = false) => chunked
    ? `POST /v1.41/containers/create?name=${name} HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${Buffer.byteLength(json).toString(16)}\r\n${json}\r\n0\r\n\r\n`
    : `POST /v1.41/containers/create?name=${name} HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(json)}\r\nConnection: close\r\n\r\n${json}`;
  const base = `"Image":"local/busybox:latest","Cmd":["true"],"Labels":${JSON.stringify(own.labels)}`;
  // [name, body, what the daemon would really do with it (checked on the raw socket)]
  const cases: [string, string, (hc: Record<string, unknown>) => boolean][] = [
    ['duplicate key after folding', `{${base},"HostConfig":{"Privileged":false,"privileged":true}}`, (hc) => hc.Privileged === true],
    ['long s folds to s (Bindſ)', `{${base},"HostConfig":{"Bind\u017F":["/var/run/docker.sock:/s"]}}`, (hc) => JSON.stringify(hc.Binds).includes('docker.sock')],
    ['Kelvin sign folds to k (NetworKMode)', `{${base},"HostConfig":{"Networ\u212AMode":"host"}}`, (hc) => hc.NetworkMode === 'host'],
    ['top-level (deprecated) HostConfig fields', `{${base},"Privileged":true}`, (hc) => hc.Privileged === true],
    ['privileged', `{${base},"HostConfig":{"Privileged":true}}`, (hc) => hc.Privileged === true],
    ['docker socket bind', `{${base},"HostConfig":{"Binds":["/var/run/docker.sock:/var/run/docker.sock"]}}`, (hc) => JSON.stringify(hc.Binds).includes('docker.sock')],
    ['host root bind via Mounts', `{${base},"HostConfig":{"Mounts":[{"Type":"bind","Source":"/","Target":"/host"}]}}`, (hc) => JSON.stringify(hc.Mounts).includes('"/"')],
    ['CapAdd', `{${base},"HostConfig":{"CapAdd":["SYS_ADMIN"]}}`, (hc) => JSON.stringify(hc.CapAdd).includes('SYS_ADMIN')],
    ['PidMode host', `{${base},"HostConfig":{"PidMode":"host"}}`, (hc) => hc.PidMode === 'host'],
    ['Devices', `{${base},"HostConfig":{"Devices":[{"PathOnHost":"/dev/null","PathInContainer":"/dev/x","CgroupPermissions":"rwm"}]}}`, (hc) => JSON.stringify(hc.Devices).includes('/dev/null')],
    ['seccomp=unconfined', `{${base},"HostConfig":{"SecurityOpt":["seccomp=unconfined"]}}`, (hc) => JSON.stringify(hc.SecurityOpt).includes('unconfined')],
  ];
  for (const [what, json, dangerous] of cases) {
    test(`denied: ${what}`, { skip }, async () => {
      const name = testName('spbody');
      for (const chunked of [false, true]) {
        const r = await rawExchange({ port: writer.port }, create(name, json, chunked));
        assert.equal(statuses(r.text)[0], 403, `${chunked ? 'chunked' : 'length'}: ${r.text}`);
        assert.equal((await containersNamed(name)).length, 0, 'no container created');
      }
      // Control: the daemon accepts it and the dangerous setting takes effect.
      const direct = await rawExchange(raw, create(name, json));
      assert.equal(statuses(direct.text)[0], 201, direct.text);
      const inspect = await engine!.docker.getContainer(name).inspect();
      assert.ok(dangerous(inspect.HostConfig as unknown as Record<string, unknown>), `control: ${what} takes effect in the daemon`);
      await engine!.docker.getContainer(name).remove({ force: true });
    });
  }
  test('allowed: a plain container with a named volume', { skip }, async () => {
    const name = testName('spok');
    try {
      const r = await rawExchange({ port: writer.port }, create(name, `{${base},"HostConfig":{"Binds":["${name}:/data"]}}`));
      assert.equal(statuses(r.text)[0], 201, r.text);
      assert.equal((await containersNamed(name)).length, 1);
    } finally {
      // The daemon made the volume for the bind (unlabelled): it goes once its container has gone.
      await engine!.docker.getContainer(name).remove({ force: true }).catch(() => undefined);
      await engine!.docker.getVolume(name).remove().catch(() => undefined);
    }
  });
  test('oversized bodies are refused with 413, never forwarded uninspected', { skip }, async () => {
    const name = testName('spbig');
    const padding = 'x'.repeat(1024 * 1024 + 10);
    const json = `{${base},"Env":["PAD=${padding}"],"HostConfig":{"Privileged":true}}`;
    for (const chunked of [false, true]) {
      const r = await rawExchange({ port: writer.port }, create(name, json, chunked));
      assert.equal(statuses(r.text)[0], 413);
    }
    assert.equal((await containersNamed(name)).length, 0);
  });
  test('docker run --privileged and exec --privileged are denied through the CLI', { skip }, async () => {
    const name = testName('spcli');
    const run = await dockerCli(writer.dockerHost, ['run', '--rm', '--privileged', '--name', name, ...own.cli, 'local/busybox:latest', 'true']);
    assert.notEqual(run.code, 0);
    assert.match(run.stderr, /Privileged/);
    assert.equal((await containersNamed(name)).length, 0);
    const exec = await dockerCli(writer.dockerHost, ['exec', '--privileged', containerId, 'true']);
    assert.notEqual(exec.code, 0);
    assert.match(exec.stderr, /Privileged/);
    const bind = await dockerCli(writer.dockerHost, ['run', '--rm', '-v', '/var/run/docker.sock:/s', '--name', name, ...own.cli, 'local/busybox:latest', 'true']);
    assert.notEqual(bind.code, 0);
    assert.equal((await containersNamed(name)).length, 0);
    // Control: unprivileged exec works through the same proxy.
    assert.equal((await dockerCli(writer.dockerHost, ['exec', containerId, 'sh', '-c', 'exit 0'])).code, 0);
  });
});

describe('volumes', () => {
  test('local volume backed by a host bind is denied (daemon unchanged); control creates it on the raw socket', { skip }, async () => {
    const p = await startTestProxy({ VOLUMES: '1', POST: '1' });
    try {
      const name = testName('spvol');
      const body = JSON.stringify({ Name: name, Driver: 'local', DriverOpts: { type: 'none', o: 'bind', device: '/etc' }, Labels: own.labels });
      const req = `POST /v1.41/volumes/create HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`;
      assert.equal(statuses((await rawExchange({ port: p.port }, req)).text)[0], 403);
      await assert.rejects(engine!.docker.getVolume(name).inspect());
      assert.equal(statuses((await rawExchange(raw, req)).text)[0], 201);
      await engine!.docker.getVolume(name).remove();
    } finally {
      await p.close();
    }
  });
});
