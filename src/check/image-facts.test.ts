/**
 * Image facts: rules judge what the image already does (its local config, the Dockerfile stage
 * compose builds, berth's table of popular images), and say "not checked" where nothing knows.
 * Each case both ways: the false alarm stays silent, the real problem is still found.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { factsOfImage, type ImageConfig, type ImageConfigs } from './image-facts.js';
import { toImageConfig } from './image-inspect.js';
import { lintProject } from './run.js';
import { projectFromYaml } from './testing/project.js';
import { at } from './testing/lint.js';

const config = (c: Partial<ImageConfig>): ImageConfig => ({ id: 'sha256:0123456789abcdef', exposedPorts: [], env: [], volumes: [], ...c });
const lint = (yaml: string, images: ImageConfigs = new Map(), files: Record<string, string> = {}) =>
  lintProject(projectFromYaml(yaml, '/p/compose.yaml'), { images, read: (p) => (p === '/p/compose.yaml' ? yaml : files[p.replace('/p/', '')]) });

test('stop-signal: the official nginx image already stops on SIGQUIT (table); an explicit SIGTERM and a custom nginx image without STOPSIGNAL are found', () => {
  const stack = 'services:\n  web:\n    image: nginx:1.27-alpine\n';
  assert.deepEqual(at(lint(stack).findings, 'stop-signal'), []);
  assert.deepEqual(at(lint(`${stack}    stop_signal: SIGTERM\n`).findings, 'stop-signal'), ['stop-signal@4']);
  const custom = 'services:\n  web:\n    image: acme/edge:3\n';
  const quit = new Map([['acme/edge:3', config({ stopSignal: 'SIGQUIT', cmd: ['nginx', '-g', 'daemon off;'] })]]);
  const term = new Map([['acme/edge:3', config({ cmd: ['nginx', '-g', 'daemon off;'] })]]);
  assert.deepEqual(at(lint(custom, quit).findings, 'stop-signal'), []);
  const found = lint(custom, term).findings.filter((f) => f.rule === 'stop-signal');
  assert.deepEqual(at(found), ['stop-signal@2']);
  assert.match(found[0]!.message, /image sets no STOPSIGNAL: local image acme\/edge:3/);
});

test('init: tini, dumb-init and s6 in the image count; an image whose entrypoint is the app does not; unknown images say "not checked"', () => {
  const stack = 'services:\n  app:\n    image: acme/app:1\n    restart: unless-stopped\n';
  for (const entrypoint of [['/sbin/tini', '--'], ['dumb-init', '--'], ['/init']]) assert.deepEqual(at(lint(stack, new Map([['acme/app:1', config({ entrypoint })]])).findings, 'init'), [], entrypoint[0]);
  assert.deepEqual(at(lint(stack, new Map([['acme/app:1', config({ env: ['S6_CMD_WAIT_FOR_SERVICES_MAXTIME=0'] })]])).findings, 'init'), []);
  const app = lint(stack, new Map([['acme/app:1', config({ entrypoint: ['/app/server'] })]])).findings.filter((f) => f.rule === 'init');
  assert.deepEqual(at(app), ['init@2']);
  assert.doesNotMatch(app[0]!.message, /not checked/);
  const unknown = lint(stack).findings.filter((f) => f.rule === 'init');
  assert.match(unknown[0]!.message, /not checked \(image acme\/app:1 not checked: not present locally and not in berth's table\)/);
  // compose's own entrypoint replaces the image's: tini in the image no longer runs.
  assert.deepEqual(at(lint(`${stack}    entrypoint: ["/app/server"]\n`, new Map([['acme/app:1', config({ entrypoint: ['tini', '--'] })]])).findings, 'init'), ['init@2']);
  // linuxserver.io images are s6-overlay images (table), even when not pulled.
  assert.deepEqual(at(lint('services:\n  sonarr:\n    image: lscr.io/linuxserver/sonarr:4.0.9\n').findings, 'init'), []);
});

test('user: USER 1000 or 5050 in the image is not root; USER root and no USER are', () => {
  const stack = 'services:\n  admin:\n    image: dpage/pgadmin4:8.12\n';
  assert.deepEqual(at(lint(stack, new Map([['dpage/pgadmin4:8.12', config({ user: '5050' })]])).findings, 'user'), []);
  assert.deepEqual(at(lint(stack, new Map([['dpage/pgadmin4:8.12', config({ user: '1000:1000' })]])).findings, 'user'), []);
  const root = lint(stack, new Map([['dpage/pgadmin4:8.12', config({ user: 'root' })]])).findings.filter((f) => f.rule === 'user');
  assert.deepEqual(at(root), ['user@2']);
  assert.match(root[0]!.message, /root, per local image dpage\/pgadmin4:8.12/);
  assert.deepEqual(at(lint(stack, new Map([['dpage/pgadmin4:8.12', config({})]])).findings, 'user'), ['user@2']);
});

test('healthcheck: an image HEALTHCHECK counts (and then depends_on should wait for it); HEALTHCHECK NONE and none are found', () => {
  const stack = 'services:\n  app:\n    image: acme/app:1\n    depends_on: [auth]\n  auth:\n    image: acme/auth:2\n';
  const withHc = new Map([['acme/auth:2', config({ healthcheck: ['CMD', '/healthcheck'] })]]);
  assert.deepEqual(at(lint(stack, withHc).findings, 'healthcheck').filter((f) => f.endsWith('@5')), []);
  assert.deepEqual(at(lint(stack, withHc).findings, 'depends-on-healthy'), ['depends-on-healthy@4']);
  for (const images of [new Map([['acme/auth:2', config({ healthcheck: ['NONE'] })]]), new Map([['acme/auth:2', config({})]])]) {
    const findings = lint(stack, images).findings;
    assert.deepEqual(at(findings, 'healthcheck').filter((f) => f.endsWith('@5')), ['healthcheck@5']);
    assert.deepEqual(at(findings, 'depends-on-healthy'), [], 'nothing to wait for: the advice is on auth');
  }
});

test('healthcheck-probe-binary: nginx alpine images have curl (table); a slim Python image has neither', () => {
  const probe = (image: string) => `services:\n  web:\n    image: ${image}\n    healthcheck:\n      test: ["CMD", "curl", "-f", "http://localhost/"]\n`;
  assert.deepEqual(at(lint(probe('nginx:1.27-alpine')).findings, 'healthcheck-probe-binary'), []);
  assert.deepEqual(at(lint(probe('nginx:1.27-alpine'), new Map([['nginx:1.27-alpine', config({ stopSignal: 'SIGQUIT' })]])).findings, 'healthcheck-probe-binary'), []);
  assert.deepEqual(at(lint(probe('python:3.12-slim')).findings, 'healthcheck-probe-binary'), ['healthcheck-probe-binary@5']);
});

test('a Dockerfile inherits from its base image: FROM a local image with USER, HEALTHCHECK and tini', () => {
  const stack = 'services:\n  app:\n    build: .\n    restart: unless-stopped\n';
  const dockerfile = 'FROM acme/node-base:22\nCOPY . /app\nCMD ["node", "/app/server.js"]\n';
  const base = new Map([['acme/node-base:22', config({ user: '1000', healthcheck: ['CMD', 'node', '/hc.js'], entrypoint: ['/usr/bin/tini', '--'] })]]);
  const quiet = lint(stack, base, { Dockerfile: dockerfile }).findings;
  assert.deepEqual(at(quiet).filter((f) => /^(init|user|healthcheck|df-user|df-healthcheck)@/.test(f)), []);
  const bare = lint(stack, new Map([['acme/node-base:22', config({})]]), { Dockerfile: dockerfile }).findings;
  assert.deepEqual(at(bare).filter((f) => /^(init|user|healthcheck|df-user|df-healthcheck)@/.test(f)).sort(), ['df-healthcheck@1', 'df-user@1', 'healthcheck@2', 'init@2', 'user@2']);
});

test('build.target selects the Dockerfile stage that is judged (not the last one)', () => {
  const dockerfile = [
    'FROM node:22.11-slim AS base', 'WORKDIR /app', 'COPY . .',
    'FROM base AS production', 'USER node', 'CMD ["node", "server.js"]',
    'FROM base AS development', 'CMD ["npm", "run", "dev"]', '',
  ].join('\n');
  const stack = (target: string) => `services:\n  app:\n    build:\n      context: .\n      target: ${target}\n`;
  const prod = lint(stack('production'), new Map(), { Dockerfile: dockerfile }).findings;
  assert.deepEqual(at(prod).filter((f) => /^df-(user|npm-start)@/.test(f)), []);
  const dev = lint(stack('development'), new Map(), { Dockerfile: dockerfile }).findings;
  assert.deepEqual(at(dev).filter((f) => /^df-(user|npm-start)@/.test(f)), ['df-user@7', 'df-npm-start@8']);
});

test('the config berth keeps from an inspect, and the facts it gives', () => {
  const c = toImageConfig('sha256:1', { StopSignal: 'SIGQUIT', User: '101', Healthcheck: { Test: ['CMD-SHELL', 'curl -f localhost'] }, Entrypoint: ['/docker-entrypoint.sh'], Cmd: ['nginx'], ExposedPorts: { '80/tcp': {} }, Env: ['NGINX_VERSION=1.27.2'], Volumes: null });
  assert.deepEqual(c, { id: 'sha256:1', stopSignal: 'SIGQUIT', healthcheck: ['CMD-SHELL', 'curl -f localhost'], user: '101', entrypoint: ['/docker-entrypoint.sh'], cmd: ['nginx'], exposedPorts: ['80/tcp'], env: ['NGINX_VERSION=1.27.2'], volumes: [] });
  const facts = factsOfImage('acme/x:1', new Map([['acme/x:1', c]]));
  assert.equal(facts.checked, true);
  assert.deepEqual([facts.stopSignal, facts.nonRootUser, facts.healthcheck, facts.init, facts.exposedPorts], ['SIGQUIT', true, true, false, [80]]);
  assert.equal(factsOfImage('acme/x:1', new Map()).checked, false);
});

test('the notes say which images were not checked', () => {
  const result = lint('services:\n  a:\n    image: acme/app:1\n  b:\n    image: nginx:1.27\n  c:\n    image: acme/local:2\n', new Map([['acme/local:2', config({})]]));
  assert.deepEqual(result.notes, ['image facts: 1 read from the local engine, 1 from berth\'s table of popular images, not checked: acme/app:1 (not present locally; pull or build it for a precise check)']);
});
