import assert from 'node:assert/strict';
import { test } from 'node:test';
import { composeGlobalArgs, scaleUpArgs } from './cli.js';
import { downgradeForV1 } from './render.js';
import { healthFromStatus, replicaName } from './containers.js';

test('Compose v1 gets the model without the fields it rejects, and says which', () => {
  const model = {
    name: 'shop',
    services: {
      app: { image: 'a', healthcheck: { test: ['CMD', 'true'], interval: '5s', start_interval: '1s' }, use_api_socket: true, depends_on: { db: { condition: 'service_healthy', restart: true } } },
      db: { image: 'b' },
    },
  };
  const { model: out, dropped } = downgradeForV1(model);
  assert.deepEqual(dropped.sort(), ['services.app.healthcheck.start_interval', 'services.app.use_api_socket']);
  assert.equal((out as { name?: string }).name, undefined);
  const app = (out.services as Record<string, Record<string, unknown>>).app!;
  assert.deepEqual(app.healthcheck, { test: ['CMD', 'true'], interval: '5s' });
  assert.deepEqual(app.depends_on, { db: { condition: 'service_healthy' } });
  // The input is left as it was.
  assert.equal(model.services.app.healthcheck.start_interval, '1s');
});

test('Compose gets the same selection berth loaded', () => {
  assert.deepEqual(
    composeGlobalArgs({ files: ['/p/compose.yaml', '/p/prod.yaml'], projectName: 'shop', projectDirectory: '/p', envFiles: ['/p/.env.prod'], profiles: ['backup'] }),
    ['-f', '/p/compose.yaml', '-f', '/p/prod.yaml', '-p', 'shop', '--project-directory', '/p', '--env-file', '/p/.env.prod', '--profile', 'backup'],
  );
  assert.deepEqual(scaleUpArgs({ kind: 'v2', command: ['docker', 'compose'], version: '2.29.0' }, 'app', 4), ['up', '-d', '--no-deps', '--no-recreate', '--scale', 'app=4', 'app']);
});

test('replica names and health follow each Compose version exactly', () => {
  assert.equal(replicaName('shop', 'app', 2, 'v1'), 'shop_app_2');
  assert.equal(replicaName('shop', 'app', 2, 'v2'), 'shop-app-2');
  assert.equal(healthFromStatus('Up 3 minutes (healthy)'), 'healthy');
  assert.equal(healthFromStatus('Up 3 minutes (unhealthy)'), 'unhealthy');
  assert.equal(healthFromStatus('Up 2 seconds (health: starting)'), 'starting');
  assert.equal(healthFromStatus('Up 2 seconds'), 'none');
});
