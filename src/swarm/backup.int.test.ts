/**
 * berth backup run / restore --swarm: a Postgres task pinned to the second node of the two-node
 * fixture is dumped and restored through that node's engine (the docker context named like the
 * node), found from the manager; without that context berth says which context to create.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { execInContainer } from '../backup/exec.js';
import type { Engine } from '../engine/client.js';
import { RUN_ID } from '../testing/engine.js';
import { swarmSkip, SwarmStack, TestSwarm } from './testing.js';

const skip = await swarmSkip();
let swarm: TestSwarm;
let stack: SwarmStack;
let dir = '';
let dockerConfig = '';

before(async () => {
  if (skip) return;
  // Postgres (the large image) goes to the worker only: the database is pinned there.
  swarm = await TestSwarm.start({ workerImages: ['local/postgres:latest', 'local/busybox:latest'] });
  dockerConfig = await swarm.contexts();
  dir = mkdtempSync(join(tmpdir(), 'berth-swarm-backup-'));
  writeFileSync(join(dir, 'compose.yaml'), `
services:
  db:
    image: local/postgres:latest
    environment: { POSTGRES_USER: app, POSTGRES_DB: app, POSTGRES_PASSWORD: secret-pw }
    volumes: [pgdata:/var/lib/postgresql/data]
    healthcheck:
      # Over TCP: the entrypoint's first, temporary server listens on the socket only, then restarts.
      test: ["CMD", "pg_isready", "-h", "127.0.0.1", "-U", "app", "-d", "app"]
      interval: 1s
      retries: 30
      start_period: 30s
    deploy:
      placement: { constraints: ["node.hostname == ${swarm.worker.hostname}"] }
    x-berth:
      backup: { type: postgres }
volumes:
  pgdata: {}
x-berth:
  backup:
    destinations: { local: { type: local, path: ./backups } }
`);
  stack = new SwarmStack(swarm, `berthtest-swarmbk-${RUN_ID}`.toLowerCase().replace(/[^a-z0-9_-]/g, '').slice(0, 40), [join(dir, 'compose.yaml')], { DOCKER_CONFIG: dockerConfig });
  const deploy = await stack.berth(['deploy', '--swarm']);
  if (deploy.code !== 0) throw new Error(`deploy --swarm failed: ${deploy.stdout}\n${deploy.stderr}`);
}, { timeout: 600_000 });

after(async () => {
  if (skip) return;
  await stack?.down();
  await swarm?.down();
  if (dir) rmSync(dir, { recursive: true, force: true });
}, { timeout: 120_000 });

async function dbContainer(): Promise<{ engine: Engine; id: string }> {
  const engine = await swarm.engine(swarm.worker);
  for (let i = 0; i < 60; i++) {
    const [c] = await engine.docker.listContainers({ filters: { label: [`com.docker.swarm.service.name=${stack.project}_db`] } });
    if (c) return { engine, id: c.Id };
    await sleep(500);
  }
  throw new Error('no db task container on the worker');
}

async function psql(query: string): Promise<string> {
  const { engine, id } = await dbContainer();
  const r = await execInContainer(engine, id, ['psql', '-U', 'app', '-d', 'app', '-v', 'ON_ERROR_STOP=1', '-Atc', query]);
  if (r.exitCode !== 0) throw new Error(`psql: ${r.stderr}`);
  return r.stdout.trim();
}

const checksum = () => psql("SELECT count(*) || ':' || md5(string_agg(t::text, ',' ORDER BY id)) FROM items t");

test('backup run --swarm dumps the Postgres of the second node through its engine; restore --swarm puts it back there', { skip, timeout: 300_000 }, async () => {
  const status = await stack.status();
  assert.equal(status.services[0]!.tasks[0]!.node, swarm.worker.hostname, 'the database runs on the second node');
  await psql("CREATE TABLE items (id serial PRIMARY KEY, name text); INSERT INTO items (name) SELECT 'item ' || g FROM generate_series(1, 3000) g;");
  const before = await checksum();

  const run = await stack.berth(['--json', 'backup', 'run', '--swarm', 'db']);
  assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
  assert.match(run.stderr, new RegExp(`runs on Swarm node ${swarm.worker.hostname}: backing up through its engine`));
  const report = JSON.parse(run.stdout) as { results: Array<{ id: string; status: string }> };
  assert.equal(report.results[0]!.status, 'verified');
  const id = report.results[0]!.id;
  assert.deepEqual(readdirSync(join(dir, 'backups', stack.project, 'db', id)).sort(), ['app.pgdump', 'globals.sql', 'manifest.json']);

  // The day it is for: the data is damaged on the second node.
  await psql('DELETE FROM items WHERE id % 2 = 0; UPDATE items SET name = \'damaged\'');
  assert.notEqual(await checksum(), before);

  const dry = await stack.berth(['backup', 'restore', '--swarm', id, '--dry-run']);
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, new RegExp(`on Swarm node ${swarm.worker.hostname}`));
  const restore = await stack.berth(['backup', 'restore', '--swarm', id, '--yes']);
  assert.equal(restore.code, 0, `${restore.stdout}\n${restore.stderr}`);
  assert.equal(await checksum(), before, 'the restored table is identical');
});

test('without a docker context for the node that runs the database, backup run --swarm says which one to create', { skip, timeout: 120_000 }, async () => {
  const run = await stack.berth(['backup', 'run', '--swarm', 'db'], { env: { DOCKER_CONFIG: mkdtempSync(join(tmpdir(), 'berth-empty-docker-config-')) } });
  assert.notEqual(run.code, 0);
  assert.match(run.stderr, new RegExp(`cannot reach the engine of node ${swarm.worker.hostname}: no docker context named ${swarm.worker.hostname}`));
  assert.doesNotMatch(run.stderr, /\n\s+at /, 'no stack trace');
});
