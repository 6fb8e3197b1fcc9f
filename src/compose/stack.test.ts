/** renderStack (pure): the compose model rendered for docker stack deploy, through the real loader. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadProject } from './load.js';
import { assertDeployable, dependencyLayers, renderStack, restartPolicy } from './stack.js';

async function project(yaml: string, files: Record<string, string> = {}, env: Record<string, string> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'berth-stack-test-'));
  writeFileSync(join(dir, 'compose.yaml'), yaml);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  try {
    return { dir, project: await loadProject({ cwd: dir, projectName: 'shop', env: { PATH: process.env.PATH, ...env } }) };
  } finally {
    // The rendering reads secret files: callers remove dir.
  }
}

test('restart maps to deploy.restart_policy', () => {
  assert.deepEqual(restartPolicy('no'), { condition: 'none' });
  assert.deepEqual(restartPolicy('always'), { condition: 'any' });
  assert.deepEqual(restartPolicy('unless-stopped'), { condition: 'any' });
  assert.deepEqual(restartPolicy('on-failure:3'), { condition: 'on-failure', max_attempts: 3 });
});

test('depends_on becomes deploy layers; restart and update config filled in; relative paths absolute', async () => {
  const { dir, project: p } = await project(`
services:
  proxy:
    image: caddy:2
    depends_on: [app]
    restart: always
    volumes: ["./Caddyfile:/etc/caddy/Caddyfile:ro"]
  app:
    image: acme/app:1
    depends_on: { db: { condition: service_healthy } }
    healthcheck: { test: ["CMD", "/hc"], interval: 2s, retries: 3 }
    deploy: { update_config: { order: stop-first } }
  db:
    image: postgres:16
    x-berth: { backup: { type: postgres } }
`);
  try {
    const stack = renderStack(p);
    assert.deepEqual(stack.order, [['db'], ['app'], ['proxy']]);
    assert.deepEqual(dependencyLayers(p.services), stack.order);
    const services = stack.file.services as Record<string, Record<string, any>>;
    assert.equal(services.proxy!.depends_on, undefined);
    assert.equal(services.proxy!.restart, undefined);
    assert.deepEqual(services.proxy!.deploy.restart_policy, { condition: 'any' });
    assert.deepEqual(services.proxy!.volumes, [`${dir}/Caddyfile:/etc/caddy/Caddyfile:ro`]);
    // The file's own choice wins; the rest is filled in.
    assert.deepEqual(services.app!.deploy.update_config, { order: 'stop-first', failure_action: 'rollback', monitor: '6s', parallelism: 1 });
    // A database updates stop-first: never two tasks on one volume.
    assert.equal(services.db!.deploy.update_config.order, 'stop-first');
    assert.equal(stack.file.version, '3.8');
    assert.doesNotThrow(() => assertDeployable(stack));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('secrets and configs are named by their content hash: a change is a new name', async () => {
  const yaml = `
services:
  app:
    image: acme/app:1
    secrets: [token, api]
secrets:
  token: { file: ./token }
  api: { environment: API_KEY }
`;
  const a = await project(yaml, { token: 'one' }, { API_KEY: 'k1' });
  const b = await project(yaml, { token: 'two' }, { API_KEY: 'k1' });
  try {
    const sa = renderStack(a.project, { env: { API_KEY: 'k1' } });
    const sb = renderStack(b.project, { env: { API_KEY: 'k1' } });
    const name = (s: typeof sa, key: string) => s.secrets.find((o) => o.key === key)!.name;
    assert.match(name(sa, 'token'), /^shop_token_[0-9a-f]{12}$/);
    assert.notEqual(name(sa, 'token'), name(sb, 'token'));
    assert.equal(name(sa, 'api'), name(sb, 'api'));
    // An environment source is carried as content for the deploy to write (format 3.8 reads files).
    assert.equal(sa.secrets.find((o) => o.key === 'api')!.content, 'k1');
    const secrets = sa.file.secrets as Record<string, Record<string, unknown>>;
    assert.equal(secrets.token!.file, `${a.dir}/token`);
    assert.equal(secrets.token!.name, name(sa, 'token'));
    assert.equal(secrets.api!.environment, undefined);
  } finally {
    rmSync(a.dir, { recursive: true, force: true });
    rmSync(b.dir, { recursive: true, force: true });
  }
});

test('what Swarm would drop is refused, each at its file:line, in one error', async () => {
  const { dir, project: p } = await project(`
services:
  web:
    image: acme/web:1
    container_name: web
    network_mode: host
    ports: ["127.0.0.1:8080:80"]
  job:
    build: .
    image: acme/job:1
`);
  try {
    const stack = renderStack(p);
    const errors = stack.findings.filter((f) => f.level === 'error').map((f) => `${f.id} ${f.where.replace(/^.*\//, '')}`);
    assert.deepEqual(errors.sort(), ['swarm-build compose.yaml:9:5', 'swarm-container-name compose.yaml:5:5', 'swarm-network-mode compose.yaml:6:5', 'swarm-port-host-ip compose.yaml:7:13'].sort());
    assert.throws(() => assertDeployable(stack), (e: Error) => /4 problems for Swarm:\n {2}compose\.yaml:5:5: web: container_name/.test(e.message));
    // Handled by the caller (built and loaded on every node): not refused.
    assert.ok(!renderStack(p, { built: new Set(['job']) }).findings.some((f) => f.id === 'swarm-build'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
