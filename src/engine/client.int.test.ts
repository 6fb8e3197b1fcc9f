import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Engine, MAX_API_VERSION } from './client.js';
import { integrationEngine } from '../testing/engine.js';
import { startTestProxy } from '../socket-proxy/testkit.js';

const { engine, skip } = await integrationEngine();

describe('the engine client against the real daemon', { skip }, () => {
  test('negotiates the API version down to the daemon (1.41 on Engine 20.10) and uses it', async () => {
    const raw = await engine!.docker.version();
    const expected = Number(raw.ApiVersion) < Number(MAX_API_VERSION) ? raw.ApiVersion : MAX_API_VERSION;
    assert.equal(engine!.version.apiVersion, expected);
    assert.equal(engine!.version.version, raw.Version);
    // Every request goes out under the negotiated version prefix.
    assert.equal((engine!.docker.modem as unknown as { version: string }).version, `v${expected}`);
    await engine!.ping();
  });

  test('details: false negotiates the same API version from GET /_ping and loads no dockerode', async () => {
    const light = await Engine.connect({ details: false });
    assert.equal(light.apiVersion, engine!.version.apiVersion);
    assert.throws(() => light.version, /version details not read/);
    const direct = await light.listContainers([]);
    assert.deepEqual(direct.map((c) => c.Id).sort(), (await engine!.docker.listContainers({ all: true })).map((c) => c.Id).sort());
    assert.equal((light as unknown as { dockerode?: unknown }).dockerode, undefined);
    // Once asked for, dockerode speaks the same version.
    assert.equal((light.docker.modem as unknown as { version: string }).version, `v${light.apiVersion}`);
  });

  test('an engine error is one line saying what was attempted', async () => {
    await assert.rejects(engine!.inspectContainer('berth-no-such-container-0000'), (error: Error) => {
      assert.match(error.message, /^cannot inspect container berth-no-such-container-0000: No such container: berth-no-such-container-0000 \(engine answered 404\)$/);
      return true;
    });
    assert.equal(await engine!.inspectImage('local/berth-no-such-image:0'), undefined);
  });

  test('a tcp:// DOCKER_HOST works (through berth socket-proxy on 127.0.0.1), and a 403 is one line', async () => {
    const proxy = await startTestProxy({ CONTAINERS: '1' });
    try {
      const viaTcp = await Engine.connect({ host: proxy.dockerHost });
      assert.equal(viaTcp.version.apiVersion, engine!.version.apiVersion);
      const direct = await engine!.listContainers([]);
      const proxied = await viaTcp.listContainers([]);
      assert.deepEqual(proxied.map((c) => c.Id).sort(), direct.map((c) => c.Id).sort());
      await assert.rejects(viaTcp.call('list volumes', () => viaTcp.docker.listVolumes()), /^BerthError: cannot list volumes: .*\(engine answered 403\)$/);
    } finally {
      await proxy.close();
    }
  });

  test('an unreachable address fails at connect with one line', async () => {
    await assert.rejects(Engine.connect({ host: 'tcp://127.0.0.1:1' }), /^BerthError: cannot reach the Docker engine at tcp:\/\/127\.0\.0\.1:1: connection refused/);
  });
});
