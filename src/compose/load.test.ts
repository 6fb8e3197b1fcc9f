import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { BerthError } from '../lib/errors.js';
import { loadProject, normalizeProjectName } from './load.js';
import type { ComposeOptions } from './types.js';

const dirs: string[] = [];
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

/** A temp project directory with the given files (paths relative to it). */
async function project(files: Record<string, string>, name = 'proj'): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'berth-compose-'));
  dirs.push(root);
  const dir = join(root, name);
  await mkdir(dir, { recursive: true });
  for (const [path, text] of Object.entries(files)) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), text);
  }
  return dir;
}

function load(dir: string, options: ComposeOptions = {}) {
  return loadProject({ cwd: dir, env: {}, ...options });
}

async function rejects(promise: Promise<unknown>, pattern: RegExp): Promise<BerthError> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof BerthError, `expected a BerthError, got ${String(caught)}`);
  assert.match(caught.message, pattern);
  assert.ok(!caught.message.includes('\n'), `one line: ${caught.message}`);
  return caught;
}

test('discovers compose.yaml and its override file, merging in order', async () => {
  const dir = await project({
    'compose.yaml': 'services:\n  app:\n    image: app:1\n    environment:\n      - A=1\n      - B=2\n',
    'compose.override.yaml': 'services:\n  app:\n    image: app:dev\n    environment:\n      B: override\n      C: "3"\n',
  });
  const p = await load(dir);
  assert.deepEqual(p.files, [join(dir, 'compose.yaml'), join(dir, 'compose.override.yaml')]);
  assert.equal(p.workingDir, dir);
  assert.equal(p.services.app!.image, 'app:dev');
  assert.deepEqual(p.services.app!.environment, { A: '1', B: 'override', C: '3' });
  assert.equal(p.name, 'proj');
});

test('discovery searches parent directories; docker-compose.yml is found too', async () => {
  const dir = await project({ 'docker-compose.yml': 'services:\n  web:\n    image: nginx\n', 'sub/deeper/.keep': '' });
  const p = await load(join(dir, 'sub', 'deeper'));
  assert.deepEqual(p.files, [join(dir, 'docker-compose.yml')]);
  assert.equal(p.workingDir, dir);
  assert.deepEqual(Object.keys(p.services), ['web']);
});

test('no compose file: one-line error naming the directory and the names looked for', async () => {
  const root = await mkdtemp(join(tmpdir(), 'berth-compose-empty-'));
  dirs.push(root);
  const err = await rejects(load(root), /^no compose file found in .*berth-compose-empty-.* \(looked for compose\.yaml, compose\.yml, docker-compose\.yml, docker-compose\.yaml\)$/);
  assert.ok(err.hint);
});

test('a missing -f file is a one-line error', async () => {
  const dir = await project({ 'compose.yaml': 'services: {}\n' });
  await rejects(load(dir, { files: ['nope.yaml'] }), /^cannot read compose file .*nope\.yaml: no such file$/);
});

test('several -f files: image override, environment list+map, ports, command replaced, volumes by target', async () => {
  const dir = await project({
    'base.yaml': [
      'services:',
      '  app:',
      '    image: app:1',
      '    command: ["node", "server.js", "--verbose"]',
      '    environment: ["A=1", "B=2", "ONLY_NAME"]',
      '    labels: { tier: web }',
      '    ports: ["80:80", "127.0.0.1:9090:9090"]',
      '    volumes: ["data:/data", "./conf:/etc/app:ro"]',
      '    dns: 1.1.1.1',
      '    networks: [front]',
      'networks: { front: {}, back: {} }',
      'volumes: { data: {}, other: {} }',
    ].join('\n'),
    'prod.yaml': [
      'services:',
      '  app:',
      '    image: app:2',
      '    command: ["node", "server.js"]',
      '    environment: { B: two, D: "4" }',
      '    labels: ["team=ops"]',
      '    ports: ["443:443", "80:80"]',
      '    volumes: ["other:/data"]',
      '    dns: [8.8.8.8]',
      '    networks: { back: { aliases: [api] } }',
    ].join('\n'),
  });
  const p = await load(dir, { files: ['base.yaml', 'prod.yaml'], env: { ONLY_NAME: 'from-shell' } });
  const app = p.services.app!;
  assert.equal(app.image, 'app:2');
  assert.deepEqual(app.raw.command, ['node', 'server.js']);
  assert.deepEqual(app.environment, { A: '1', B: 'two', ONLY_NAME: 'from-shell', D: '4' });
  assert.deepEqual(app.labels, { tier: 'web', team: 'ops' });
  assert.deepEqual(app.raw.ports, ['80:80', '127.0.0.1:9090:9090', '443:443']);
  assert.deepEqual(app.raw.volumes, ['other:/data', './conf:/etc/app:ro']);
  assert.deepEqual(app.raw.dns, ['1.1.1.1', '8.8.8.8']);
  assert.deepEqual(Object.keys(app.networks), ['front', 'back']);
  assert.deepEqual(app.networks.back!.aliases, ['api']);
  // locate() answers with the file that last set a path.
  assert.deepEqual(p.locate(['services', 'app', 'image']), { file: join(dir, 'prod.yaml'), line: 3, column: 5 });
  assert.deepEqual(p.locate(['services', 'app', 'volumes', 1]), { file: join(dir, 'base.yaml'), line: 8, column: 29 });
  assert.equal(p.locate(['services', 'app', 'ports', 2])?.file, join(dir, 'prod.yaml'));
});

test('!reset and !override in a later file', async () => {
  const dir = await project({
    'a.yaml': 'services:\n  app:\n    image: a\n    ports: ["80:80"]\n    environment: { A: "1" }\n',
    'b.yaml': 'services:\n  app:\n    ports: !reset []\n    environment: !override { B: "2" }\n',
  });
  const p = await load(dir, { files: ['a.yaml', 'b.yaml'] });
  assert.deepEqual(p.services.app!.ports, []);
  assert.deepEqual(p.services.app!.environment, { B: '2' });
});

test('COMPOSE_FILE with COMPOSE_PATH_SEPARATOR, from the environment or .env', async () => {
  const dir = await project({
    'one.yaml': 'services:\n  app:\n    image: one\n',
    'two.yaml': 'services:\n  app:\n    image: two\n',
    'compose.yaml': 'services:\n  app:\n    image: discovered\n',
  });
  assert.equal((await load(dir, { env: { COMPOSE_FILE: 'one.yaml:two.yaml' } })).services.app!.image, 'two');
  assert.equal((await load(dir, { env: { COMPOSE_FILE: 'two.yaml;one.yaml', COMPOSE_PATH_SEPARATOR: ';' } })).services.app!.image, 'one');
  await writeFile(join(dir, '.env'), 'COMPOSE_FILE=one.yaml\n');
  const p = await load(dir);
  assert.equal(p.services.app!.image, 'one');
  assert.deepEqual(p.files, [join(dir, 'one.yaml')]);
  // -f wins over COMPOSE_FILE.
  assert.equal((await load(dir, { files: ['compose.yaml'] })).services.app!.image, 'discovered');
});

test('interpolation: .env file, process env wins, --env-file replaces .env', async () => {
  const dir = await project({
    'compose.yaml': [
      'services:',
      '  app:',
      '    image: "app:${TAG}"',
      '    ports: ["${HOST_PORT:-8080}:80"]',
      '    environment:',
      '      FROM_ENV: $FROM_ENV',
      '      LITERAL: "$$HOME"',
      '      MISSING: "${NOT_SET}"',
      '    deploy: { replicas: "${REPLICAS:-2}" }',
      '    healthcheck: { test: ["CMD", "true"], retries: "${RETRIES}", disable: "${OFF:-false}" }',
    ].join('\n'),
    '.env': 'TAG=from-dotenv\nFROM_ENV=dotenv\nRETRIES=5\n',
    'prod.env': 'TAG=prod\nHOST_PORT=9000\nRETRIES=4\n',
  });
  const p = await load(dir, { env: { FROM_ENV: 'process' } });
  const app = p.services.app!;
  assert.equal(app.image, 'app:from-dotenv');
  assert.equal(app.environment.FROM_ENV, 'process');
  assert.equal(app.environment.LITERAL, '$HOME');
  assert.equal(app.environment.MISSING, '');
  assert.equal(app.replicas, 2);
  assert.equal((app.raw.deploy as { replicas: unknown }).replicas, 2);
  assert.equal(app.healthcheck!.retries, 5);
  assert.equal(app.healthcheck!.disabled, false);
  assert.deepEqual(app.ports.map((x) => x.published), ['8080']);
  assert.deepEqual(p.envFiles, [join(dir, '.env')]);
  assert.equal(p.warnings.filter((w) => w.includes('"NOT_SET" variable is not set')).length, 1);
  assert.match(p.warnings.find((w) => w.includes('NOT_SET'))!, /^compose\.yaml:8:7: /);

  const prod = await load(dir, { envFiles: ['prod.env'], env: {} });
  assert.equal(prod.services.app!.image, 'app:prod');
  assert.equal(prod.services.app!.ports[0]!.published, '9000');
  assert.equal(prod.services.app!.environment.FROM_ENV, '');
  assert.deepEqual(prod.envFiles, [join(dir, 'prod.env')]);
  await rejects(load(dir, { envFiles: ['missing.env'] }), /env file .*missing\.env not found/);
});

test('a missing required variable names file and line', async () => {
  const dir = await project({
    'compose.yaml': 'services:\n  db:\n    image: postgres\n    environment:\n      POSTGRES_PASSWORD: ${DB_PASSWORD:?set DB_PASSWORD in .env}\n',
  });
  await rejects(load(dir), /^compose\.yaml:5: required variable DB_PASSWORD is missing: set DB_PASSWORD in \.env$/);
  const p = await load(dir, { env: { DB_PASSWORD: 's3cret' } });
  assert.equal(p.services.db!.environment.POSTGRES_PASSWORD, 's3cret');
});

test('a bad type cast after interpolation is reported at the value', async () => {
  const dir = await project({ 'compose.yaml': 'services:\n  app:\n    image: a\n    deploy:\n      replicas: ${N:-many}\n' });
  await rejects(load(dir), /^compose\.yaml:5:7: services\.app\.deploy\.replicas must be an integer, not "many"$/);
});

test('project name: -p, then COMPOSE_PROJECT_NAME, then name:, then the directory, normalized', async () => {
  const dir = await project({ 'compose.yaml': 'name: From-File\nservices:\n  a:\n    image: x\n' }, 'My.Project Dir');
  assert.equal((await load(dir, { projectName: 'Cli_Name', env: { COMPOSE_PROJECT_NAME: 'envname' } })).name, 'cli_name');
  assert.equal((await load(dir, { env: { COMPOSE_PROJECT_NAME: 'envname' } })).name, 'envname');
  const fromFile = await load(dir);
  assert.equal(fromFile.name, 'from-file');
  assert.equal(fromFile.model.name, 'from-file');
  await writeFile(join(dir, 'compose.yaml'), 'services:\n  a:\n    image: x\n');
  assert.equal((await load(dir)).name, 'myprojectdir');
  await writeFile(join(dir, '.env'), 'COMPOSE_PROJECT_NAME=dotenv-name\n');
  assert.equal((await load(dir)).name, 'dotenv-name');
  assert.equal(normalizeProjectName('__Shop.App-1'), 'shopapp-1');
  await rejects(load(dir, { projectName: '...' }), /invalid project name/);
});

test('--project-directory sets the working dir and where .env is read', async () => {
  const dir = await project({ 'files/compose.yaml': 'services:\n  a:\n    image: "x:${T}"\n', 'elsewhere/.env': 'T=else\n' });
  const p = await load(dir, { files: ['files/compose.yaml'], projectDirectory: 'elsewhere' });
  assert.equal(p.workingDir, join(dir, 'elsewhere'));
  assert.equal(p.name, 'elsewhere');
  assert.equal(p.services.a!.image, 'x:else');
});

test('profiles: --profile, COMPOSE_PROFILES, * and services without profiles', async () => {
  const dir = await project({
    'compose.yaml': [
      'services:',
      '  app: { image: a }',
      '  debug: { image: d, profiles: [debug] }',
      '  backup: { image: b, profiles: [ops, backup] }',
      '  migrate: { image: m, profiles: [ops] }',
    ].join('\n'),
  });
  let p = await load(dir);
  assert.deepEqual(Object.keys(p.services), ['app']);
  assert.deepEqual(p.inactiveServices, ['debug', 'backup', 'migrate']);
  assert.deepEqual(p.profiles, []);
  p = await load(dir, { profiles: ['backup'] });
  assert.deepEqual(Object.keys(p.services), ['app', 'backup']);
  p = await load(dir, { profiles: ['debug'], env: { COMPOSE_PROFILES: 'ops, ' } });
  assert.deepEqual(Object.keys(p.services), ['app', 'debug', 'backup', 'migrate']);
  assert.deepEqual(p.profiles, ['debug', 'ops']);
  assert.deepEqual(p.inactiveServices, []);
  p = await load(dir, { profiles: ['*'] });
  assert.equal(Object.keys(p.services).length, 4);
  // The model keeps every service.
  assert.equal(Object.keys(p.model.services as object).length, 4);
});

test('an active service that needs a service of an inactive profile is an error', async () => {
  const dir = await project({ 'compose.yaml': 'services:\n  app:\n    image: a\n    depends_on: [db]\n  db:\n    image: d\n    profiles: [data]\n' });
  await rejects(load(dir), /^compose\.yaml:4:18: service "app" depends on "db", which is not in an active profile$/);
  assert.equal((await load(dir, { profiles: ['data'] })).services.app!.dependsOn.db!.condition, 'service_started');
});

test('malformed YAML: file:line:col and the parser message', async () => {
  const dir = await project({ 'compose.yaml': 'services:\n  app:\n    image: a\n   ports: [80\n' });
  const err = await rejects(load(dir), /^compose\.yaml:\d+:\d+: invalid YAML: /);
  assert.match(err.message, /^compose\.yaml:4:/);
  const dup = await project({ 'compose.yaml': 'services:\n  app:\n    image: a\n    image: b\n' });
  await rejects(load(dup), /^compose\.yaml:4:5: invalid YAML: Map keys must be unique/);
});

test('schema errors point at the offending node', async () => {
  const dir = await project({
    'compose.yaml': ['services:', '  app:', '    image: a', '    ports:', '      - "80:80"', '      - [1, 2]'].join('\n'),
  });
  await rejects(load(dir), /^compose\.yaml:6:9: services\.app\.ports\[1\] must be number or string or object$/);
  const unknown = await project({ 'compose.yaml': 'services:\n  app:\n    image: a\n    imagee: b\n' });
  await rejects(load(unknown), /^compose\.yaml:4:5: services\.app: additional property imagee is not allowed$/);
  const cond = await project({ 'compose.yaml': 'services:\n  app:\n    image: a\n    depends_on:\n      db: { condition: healthy }\n  db:\n    image: d\n' });
  await rejects(load(cond), /^compose\.yaml:5:13: services\.app\.depends_on\.db\.condition must be one of /);
  const dur = await project({ 'compose.yaml': 'services:\n  app:\n    image: a\n    healthcheck:\n      interval: soon\n' });
  await rejects(load(dur), /^compose\.yaml:5:7: services\.app\.healthcheck\.interval must be a valid duration$/);
  // The error names the file that wrote the bad value.
  const two = await project({ 'compose.yaml': 'services:\n  app:\n    image: a\n', 'compose.override.yaml': 'services:\n  app:\n    restart: [always]\n' });
  await rejects(load(two), /^compose\.override\.yaml:3:5: services\.app\.restart must be string$/);
});

test('current Compose Specification fields validate', async () => {
  const dir = await project({
    'compose.yaml': [
      'name: modern',
      'x-common: &common { restart: unless-stopped }',
      'services:',
      '  app:',
      '    <<: *common',
      '    image: a',
      '    use_api_socket: false',
      '    attach: false',
      '    annotations: { a: b }',
      '    cgroup: private',
      '    gpus: all',
      '    label_file: ./labels',
      '    env_file: [{ path: ./missing.env, required: false }, ./app.env]',
      '    post_start: [{ command: ["sh", "-c", "true"], user: root }]',
      '    pre_stop: [{ command: "true" }]',
      '    develop: { watch: [{ path: ./src, action: sync, target: /app }] }',
      '    healthcheck: { test: ["CMD", "true"], start_interval: 1s }',
      '    depends_on: { db: { condition: service_healthy, restart: true, required: true } }',
      '    volumes: [{ type: volume, source: data, target: /data, volume: { subpath: sub } }]',
      '    x-anything: { goes: here }',
      '  db:',
      '    image: d',
      '    healthcheck: { test: ["CMD", "true"] }',
      'volumes: { data: {} }',
    ].join('\n'),
    'labels': 'from.file=yes\n',
    'app.env': 'FROM_FILE=1\n',
  });
  const p = await load(dir);
  const app = p.services.app!;
  assert.equal(app.restart, 'unless-stopped');
  assert.deepEqual(app.labels, { 'from.file': 'yes' });
  assert.deepEqual(app.environment, { FROM_FILE: '1' });
  assert.deepEqual(app.dependsOn.db, { condition: 'service_healthy', restart: true, required: true });
  assert.equal(app.healthcheck!.startIntervalMs, 1000);
});

test('include: included files are merged before the including file', async () => {
  const dir = await project({
    'compose.yaml': 'include: [./db/compose.yaml]\nservices:\n  app:\n    image: a\n    depends_on: [db]\n',
    'db/compose.yaml': 'services:\n  db:\n    image: postgres\n',
  });
  const p = await load(dir);
  assert.deepEqual(Object.keys(p.services).sort(), ['app', 'db']);
  // files are what Compose gets with -f; it reads the include itself.
  assert.deepEqual(p.files, [join(dir, 'compose.yaml')]);
  assert.equal(p.locate(['services', 'db'])?.file, join(dir, 'db/compose.yaml'));
  assert.deepEqual(p.model.include, ['./db/compose.yaml']);
});

test('undefined references are errors like in Compose', async () => {
  const net = await project({ 'compose.yaml': 'services:\n  app:\n    image: a\n    networks: [front]\n' });
  await rejects(load(net), /^compose\.yaml:4:16: service "app" refers to undefined network "front"$/);
  const vol = await project({ 'compose.yaml': 'services:\n  app:\n    image: a\n    volumes: ["data:/data", "./x:/x"]\n' });
  await rejects(load(vol), /^compose\.yaml:4:15: service "app" refers to undefined volume "data"$/);
  const dep = await project({ 'compose.yaml': 'services:\n  app:\n    image: a\n    depends_on: [ghost]\n' });
  await rejects(load(dep), /depends on undefined service "ghost"/);
  const noImage = await project({ 'compose.yaml': 'services:\n  app:\n    restart: always\n' });
  await rejects(load(noImage), /^compose\.yaml:2:3: service "app" has neither an image nor a build context specified$/);
});

test('service defaults: replicas, networks, stop grace period, healthcheck defaults and disable', async () => {
  const dir = await project({
    'compose.yaml': [
      'version: "3.8"',
      'services:',
      '  plain:',
      '    image: a',
      '  scaled:',
      '    image: a',
      '    scale: 3',
      '    network_mode: host',
      '    stop_grace_period: 1m30s',
      '    healthcheck:',
      '      test: curl -f http://localhost/',
      '  deployed:',
      '    image: a',
      '    deploy: { replicas: 5 }',
      '    healthcheck: { disable: true }',
      '  none:',
      '    image: a',
      '    healthcheck: { test: ["NONE"] }',
    ].join('\n'),
  });
  const p = await load(dir);
  assert.match(p.warnings.find((w) => w.includes('version'))!, /^compose\.yaml:1:1: the top-level "version" is obsolete/);
  const { plain, scaled, deployed, none } = p.services;
  assert.equal(plain!.replicas, 1);
  assert.equal(scaled!.replicas, 3);
  assert.equal(deployed!.replicas, 5);
  assert.deepEqual(plain!.networks, { default: { aliases: [] } });
  assert.deepEqual(scaled!.networks, {});
  assert.equal(scaled!.networkMode, 'host');
  assert.equal(plain!.stopGracePeriodMs, 10_000);
  assert.equal(scaled!.stopGracePeriodMs, 90_000);
  assert.equal(plain!.healthcheck, undefined);
  assert.deepEqual(scaled!.healthcheck, { test: 'curl -f http://localhost/', intervalMs: 30_000, timeoutMs: 30_000, retries: 3, startPeriodMs: 0, startIntervalMs: 5_000, disabled: false });
  assert.equal(deployed!.healthcheck!.disabled, true);
  assert.equal(none!.healthcheck!.disabled, true);
});

test('x-berth: typed configs, relative paths from the project dir, unknown keys as located warnings', async () => {
  const dir = await project({
    'compose.yaml': [
      'x-berth:',
      '  deploy:',
      '    migrate: { service: migrate, command: [npm, run, migrate], timeout: 5m }',
      '    pre_hooks: [{ command: ./scripts/check, timeout: 30s }]',
      '    lock_wait: 0s',
      '  backup:',
      '    destinations:',
      '      local: { type: local, path: ./backups }',
      '      offsite: { type: sftp, host: backup.example, port: 2222, user: b, path: /srv/b, identity_file: ./keys/id }',
      '    default_destination: local',
      '    retention: { keep_last: 7, daily: 7, weekly: 4, monthly: 6 }',
      '    encryption: { age_recipients: [age1abc] }',
      '  check:',
      '    rules: { no-latest: off, healthcheck: error }',
      '  colour: blue',
      'services:',
      '  app:',
      '    image: a',
      '    x-berth:',
      '      rollout:',
      '        timeout: 60s',
      '        batch: 1',
      '        monitor: 10s',
      '        stop_first: false',
      '        drain: { strategy: readiness, path: /ready, port: 3000, duration: 3s }',
      '        foo: 1',
      '      shutdown_deadline: 8s',
      '  db:',
      '    image: postgres',
      '    x-berth:',
      '      rollout: { stateful: true, drain: { strategy: wait, duration: 5s } }',
      '      backup: { type: postgres, database: app, user: app, password_file: /run/secrets/db_password, schedule: "0 3 * * *", destination: local }',
      '  files:',
      '    image: f',
      '    x-berth:',
      '      backup: { type: volume, volumes: [data], stop_containers: true }',
      '  migrate:',
      '    image: a',
      '    profiles: [tools]',
    ].join('\n'),
  });
  const p = await load(dir);
  assert.deepEqual(p.berth.deploy, {
    migrate: { service: 'migrate', command: ['npm', 'run', 'migrate'], timeoutMs: 300_000 },
    preHooks: [{ command: './scripts/check', timeoutMs: 30_000 }],
    postHooks: [],
    lockWaitMs: 0,
  });
  assert.deepEqual(p.berth.backup.destinations, {
    local: { type: 'local', path: join(dir, 'backups') },
    offsite: { type: 'sftp', host: 'backup.example', port: 2222, user: 'b', path: '/srv/b', identityFile: join(dir, 'keys/id') },
  });
  assert.equal(p.berth.backup.defaultDestination, 'local');
  assert.deepEqual(p.berth.backup.retention, { keepLast: 7, daily: 7, weekly: 4, monthly: 6 });
  assert.deepEqual(p.berth.backup.encryption, { ageRecipients: ['age1abc'] });
  assert.deepEqual(p.berth.check.rules, { 'no-latest': 'off', healthcheck: 'error' });
  assert.deepEqual(p.services.app!.berth, {
    rollout: { timeoutMs: 60_000, batch: 1, monitorMs: 10_000, stopFirst: false, drain: { strategy: 'readiness', path: '/ready', port: 3000, durationMs: 3000 } },
    shutdownDeadlineMs: 8000,
  });
  assert.deepEqual(p.services.db!.berth, {
    rollout: { stateful: true, drain: { strategy: 'wait', durationMs: 5000 } },
    backup: { type: 'postgres', database: 'app', user: 'app', passwordFile: '/run/secrets/db_password', schedule: '0 3 * * *', destination: 'local' },
  });
  assert.deepEqual(p.services.files!.berth.backup, { type: 'volume', volumes: ['data'], stopContainers: true });
  assert.ok(p.warnings.includes('compose.yaml:36:41: x-berth backup of service "files" names volume "data", which is not a top-level volume'), p.warnings.join('\n'));
  assert.ok(p.warnings.includes('compose.yaml:26:9: unknown x-berth key services.app.x-berth.rollout.foo'), p.warnings.join('\n'));
  assert.ok(p.warnings.includes('compose.yaml:15:3: unknown x-berth key x-berth.colour'), p.warnings.join('\n'));
});

test('x-berth: wrong types and bad durations are errors with file:line', async () => {
  const bad = await project({ 'compose.yaml': 'services:\n  app:\n    image: a\n    x-berth:\n      rollout:\n        batch: two\n' });
  await rejects(load(bad), /^compose\.yaml:6:9: services\.app\.x-berth\.rollout\.batch must be integer$/);
  const dur = await project({ 'compose.yaml': 'services:\n  app:\n    image: a\n    x-berth:\n      shutdown_deadline: later\n' });
  await rejects(load(dur), /^compose\.yaml:5:7: invalid services\.app\.x-berth\.shutdown_deadline "later"/);
  const strategy = await project({ 'compose.yaml': 'services:\n  app:\n    image: a\n    x-berth:\n      rollout: { drain: { strategy: pray } }\n' });
  await rejects(load(strategy), /^compose\.yaml:5:27: services\.app\.x-berth\.rollout\.drain\.strategy: unknown strategy "pray"$/);
  const top = await project({ 'compose.yaml': 'x-berth:\n  check:\n    rules: { a: loud }\nservices:\n  app:\n    image: a\n' });
  await rejects(load(top), /^compose\.yaml:3:14: x-berth\.check\.rules\.a must be one of off, info, warning, error$/);
});

test('x-berth: rollout.traffic_networks names networks of the service and leaves it one to start on', async () => {
  const ok = await project({ 'compose.yaml': 'services:\n  app:\n    image: a\n    networks: [web, back]\n    x-berth:\n      rollout: { traffic_networks: [web] }\nnetworks: { web: {}, back: {} }\n' });
  assert.deepEqual((await load(ok)).services.app!.berth.rollout.trafficNetworks, ['web']);
  const unknown = await project({ 'compose.yaml': 'services:\n  app:\n    image: a\n    networks: [web, back]\n    x-berth:\n      rollout: { traffic_networks: [webb] }\nnetworks: { web: {}, back: {} }\n' });
  await rejects(load(unknown), /^compose\.yaml:6:\d+: services\.app\.x-berth\.rollout\.traffic_networks: "webb" is not a network of service app \(its networks: web, back\)$/);
  const all = await project({ 'compose.yaml': 'services:\n  app:\n    image: a\n    x-berth:\n      rollout: { traffic_networks: [default] }\n' });
  await rejects(load(all), /traffic_networks names every network of service app: a new replica needs one other network to start on/);
});

test('extends: same file and another file, the extending service wins, cycles are errors', async () => {
  const dir = await project({
    'compose.yaml': [
      'services:',
      '  base:',
      '    image: base:1',
      '    environment: { A: "1", B: "1" }',
      '    command: [run, base]',
      '  app:',
      '    extends: base',
      '    environment: ["B=2"]',
      '    command: [run, app]',
      '  worker:',
      '    extends: { service: common, file: common.yaml }',
      '    ports: ["9000:9000"]',
    ].join('\n'),
    'common.yaml': 'services:\n  common:\n    image: common:${TAG:-latest}\n    ports: ["8000:8000"]\n    restart: always\n',
  });
  const p = await load(dir);
  const app = p.services.app!;
  assert.equal(app.image, 'base:1');
  assert.deepEqual(app.environment, { A: '1', B: '2' });
  assert.deepEqual(app.raw.command, ['run', 'app']);
  assert.equal(app.raw.extends, undefined);
  const worker = p.services.worker!;
  assert.equal(worker.image, 'common:latest');
  assert.equal(worker.restart, 'always');
  assert.deepEqual(worker.ports.map((x) => x.target), [8000, 9000]);
  assert.equal(p.locate(['services', 'worker', 'restart'])?.file, join(dir, 'common.yaml'));

  const cycle = await project({ 'compose.yaml': 'services:\n  a:\n    extends: b\n  b:\n    extends: a\n    image: x\n' });
  await rejects(load(cycle), /extends cycle: /);
  const missing = await project({ 'compose.yaml': 'services:\n  a:\n    extends: ghost\n' });
  await rejects(load(missing), /^compose\.yaml:3:5: cannot extend service "ghost": no such service/);
});

test('x-berth: the migrate service must exist; COMPOSE_ENV_FILES selects env files', async () => {
  const dir = await project({
    'compose.yaml': 'x-berth:\n  deploy:\n    migrate: { service: migrat }\nservices:\n  app:\n    image: "a:${TAG}"\n  migrate:\n    image: a\n',
    'a.env': 'TAG=a\n',
    'b.env': 'TAG=b\n',
    '.env': 'TAG=dotenv\n',
  });
  await rejects(load(dir), /^compose\.yaml:3:16: x-berth\.deploy\.migrate\.service "migrat" is not a service of this project$/);
  await writeFile(join(dir, 'compose.yaml'), 'x-berth:\n  deploy:\n    migrate: { service: migrate }\nservices:\n  app:\n    image: "a:${TAG}"\n  migrate:\n    image: a\n');
  assert.equal((await load(dir)).services.app!.image, 'a:dotenv');
  const p = await load(dir, { env: { COMPOSE_ENV_FILES: 'a.env,b.env' } });
  assert.equal(p.services.app!.image, 'a:b');
  assert.deepEqual(p.envFiles, [join(dir, 'a.env'), join(dir, 'b.env')]);
  assert.equal(p.berth.deploy.migrate!.timeoutMs, 300_000);
});

test('replicas: scale and deploy.replicas must agree; container_name needs one replica', async () => {
  const both = await project({ 'compose.yaml': 'services:\n  app:\n    image: a\n    scale: 2\n    deploy: { replicas: 3 }\n' });
  await rejects(load(both), /^compose\.yaml:4:5: service "app": scale \(2\) and deploy\.replicas \(3\) differ$/);
  const named = await project({ 'compose.yaml': 'services:\n  app:\n    image: a\n    container_name: app\n    deploy: { replicas: 2 }\n' });
  await rejects(load(named), /^compose\.yaml:4:5: service "app": container_name cannot be set with 2 replicas/);
  const netMode = await project({ 'compose.yaml': 'services:\n  app:\n    image: a\n    network_mode: host\n    networks: [default]\n' });
  await rejects(load(netMode), /^compose\.yaml:5:5: service "app": network_mode and networks cannot be combined$/);
  const agree = await project({ 'compose.yaml': 'services:\n  app:\n    image: a\n    scale: 2\n    deploy: { replicas: 2 }\n' });
  assert.equal((await load(agree)).services.app!.replicas, 2);
});

test('${COMPOSE_PROJECT_NAME} resolves to the project name (-p, name: or the directory)', async () => {
  const dir = await project({ 'compose.yaml': 'services:\n  app:\n    image: a\n    labels: { project: "${COMPOSE_PROJECT_NAME}" }\n' }, 'Shop');
  assert.equal((await load(dir)).services.app!.labels.project, 'shop');
  assert.equal((await load(dir, { projectName: 'cli' })).services.app!.labels.project, 'cli');
  await writeFile(join(dir, 'compose.yaml'), 'name: "${STACK:-store}"\nservices:\n  app:\n    image: a\n    labels: { project: "${COMPOSE_PROJECT_NAME}" }\n');
  const p = await load(dir);
  assert.equal(p.name, 'store');
  assert.equal(p.services.app!.labels.project, 'store');
  assert.equal(p.warnings.length, 0, p.warnings.join('\n'));
});

test('issue 17: every x-berth problem at once, and the warnings found before the error travel with it', async () => {
  const dir = await project({
    'compose.yaml': [
      'version: "3.8"',
      'x-berth:',
      '  deploy:',
      '    migrat: { service: app }',
      '    lock_wait: forever',
      'services:',
      '  app:',
      '    image: a:${TAG}',
      '    x-berth:',
      '      rollout:',
      '        drian: 2s',
      '        batch: two',
      '        timeout: soon',
      '  web:',
      '    image: b',
      '    x-berth:',
      '      shutdown_deadline: later',
      '',
    ].join('\n'),
  });
  const error = (await load(dir).then(() => undefined, (e: unknown) => e)) as BerthError;
  assert.ok(error instanceof BerthError);
  assert.match(error.message, /^4 x-berth problems:\n/);
  const lines = error.message.split('\n').slice(1).map((l) => l.trim());
  assert.deepEqual(lines.map((l) => l.split(' ')[0]), ['compose.yaml:12:9:', 'compose.yaml:13:9:', 'compose.yaml:17:7:', 'compose.yaml:5:5:']);
  assert.match(lines[0]!, /batch must be integer/);
  assert.match(lines[1]!, /invalid services\.app\.x-berth\.rollout\.timeout "soon"/);
  assert.match(lines[3]!, /invalid x-berth\.deploy\.lock_wait "forever"/);
  assert.deepEqual(error.warnings, [
    'compose.yaml:8:5: the "TAG" variable is not set, defaulting to a blank string',
    'compose.yaml:1:1: the top-level "version" is obsolete and ignored',
    'compose.yaml:11:9: unknown x-berth key services.app.x-berth.rollout.drian',
    'compose.yaml:4:5: unknown x-berth key x-berth.deploy.migrat',
  ]);
  // A wrong type and a bad duration at the same place: reported once.
  const once = await project({ 'compose.yaml': 'services:\n  app:\n    image: a\n    x-berth:\n      rollout: { timeout: [1], batch: x }\n' });
  const both = (await load(once).then(() => undefined, (e: unknown) => e)) as BerthError;
  assert.match(both.message, /^2 x-berth problems:/);
  assert.equal(both.message.split('\n').length, 3, both.message);
});
