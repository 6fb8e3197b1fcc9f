/**
 * The compose and Dockerfile snippets of REFERENCE.md, written verbatim into fixtures: the rules
 * pass or fail exactly where the reference marks ✅ / ❌ (and where its prose says NEVER).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { lintDockerfile } from './run.js';
import { at, lintYaml } from './testing/lint.js';

const fixture = (name: string) => readFileSync(new URL(`../../src/check/fixtures/reference/${name}`, import.meta.url), 'utf8');
const rulesOf = (findings: ReturnType<typeof lintYaml>, service: string) => findings.filter((f) => f.service === service).map((f) => f.rule);

/** The reference's Dockerfile snippets have no FROM; lint them under one (line numbers + 1). */
function lintSnippet(name: string, files: Record<string, string> = {}) {
  const vfs: Record<string, string> = { '/ctx/Dockerfile': `FROM node:22-slim\n${fixture(name)}`, ...Object.fromEntries(Object.entries(files).map(([k, v]) => [`/ctx/${k}`, v])) };
  return lintDockerfile('/ctx/Dockerfile', { read: (p) => vfs[p] }).findings.map((f) => `${f.rule}@${f.location!.line - 1}`);
}

test('reference ❌ "CMD npm start" (shell form) fails df-exec-form on its line', () => {
  assert.ok(lintSnippet('Dockerfile.shell-form').includes('df-exec-form@2'));
  assert.ok(lintSnippet('Dockerfile.shell-form').includes('df-npm-start@2'));
});

test('reference ❌ CMD ["npm", "start"] fails df-npm-start but is exec form', () => {
  const found = lintSnippet('Dockerfile.npm-exec');
  assert.ok(found.includes('df-npm-start@2'));
  assert.ok(!found.some((f) => f.startsWith('df-exec-form')));
});

test('reference ✅ CMD ["node", "dist/server.js"] passes the lifecycle rules', () => {
  const found = lintSnippet('Dockerfile.exec-form');
  assert.deepEqual(found.filter((f) => /df-(exec-form|npm-start|entrypoint-exec)/.test(f)), []);
});

test('reference ✅ entrypoint script with exec "$@" passes; without exec it fails on the ENTRYPOINT line', () => {
  const script = fixture('docker-entrypoint.sh');
  assert.deepEqual(lintSnippet('Dockerfile.entrypoint', { 'docker-entrypoint.sh': script }).filter((f) => f.startsWith('df-entrypoint-exec')), []);
  const noExec = script.replace('exec "$@"', '"$@"');
  assert.deepEqual(lintSnippet('Dockerfile.entrypoint', { 'docker-entrypoint.sh': noExec }).filter((f) => f.startsWith('df-entrypoint-exec')), ['df-entrypoint-exec@3']);
});

test('reference signal config (init: true, stop_grace_period: 30s) passes the lifecycle rules', () => {
  const found = lintYaml(fixture('signal-config.yaml'));
  assert.deepEqual(found.filter((f) => ['init', 'stop-grace-period', 'stop-grace-period-default', 'npm-command', 'shell-exec'].includes(f.rule)), []);
});

test('reference socket proxy (POST=0, internal network, Traefik via tcp://) passes every socket rule', () => {
  const found = lintYaml(fixture('socket-proxy.yaml'));
  assert.deepEqual(found.filter((f) => f.family === 'socket'), []);
  // What it does not claim to be: the proxy image is :latest — said, as a warning.
  assert.deepEqual(at(found, 'image-tag'), ['image-tag@4']);
});

test('reference blue-green Traefik mounts the socket directly: traefik-socket fails on the mount line; the app passes rollout readiness', () => {
  const found = lintYaml(fixture('blue-green-traefik.yaml'));
  assert.deepEqual(at(found, 'traefik-socket'), ['traefik-socket@10']);
  const app = rulesOf(found, 'app');
  for (const rule of ['healthcheck', 'healthcheck-start-period', 'healthcheck-start-interval', 'container-name', 'fixed-host-port', 'traefik-exposed-by-default']) assert.ok(!app.includes(rule), rule);
  assert.ok(!rulesOf(found, 'traefik').includes('traefik-exposed-by-default'));
  // ${TAG:-latest} interpolates to latest without TAG: reported on the image line.
  assert.deepEqual(at(found, 'image-tag'), ['image-tag@14']);
});

test('reference monitoring stack passes hardening except what it adds on purpose', () => {
  const found = lintYaml(fixture('monitoring.yaml'));
  for (const s of ['prometheus', 'grafana']) {
    const rules = rulesOf(found, s);
    for (const rule of ['read-only', 'read-only-tmpfs', 'cap-drop-all', 'no-new-privileges', 'user', 'memory-limit', 'cpu-limit', 'restart-policy', 'plaintext-secret', 'secret-file-reference', 'healthcheck']) assert.ok(!rules.includes(rule), `${s}: ${rule}`);
  }
  assert.deepEqual(at(found, 'cap-add-dangerous'), ['cap-add-dangerous@55']);
  // cadvisor's /var/run:ro mount contains docker.sock.
  assert.deepEqual(at(found, 'docker-socket'), ['docker-socket@58']);
});

test('reference logging driver options pass log-rotation', () => {
  assert.deepEqual(at(lintYaml(fixture('logging.yaml')), 'log-rotation'), []);
});

test('reference pg_dump backup job (profile, restart "no") is not held to long-running rules', () => {
  const found = lintYaml(fixture('backup-pg-dump.yaml'));
  assert.deepEqual(rulesOf(found, 'backup').filter((r) => ['restart-policy', 'healthcheck', 'init', 'shell-exec', 'memory-limit', 'log-rotation'].includes(r)), []);
  assert.deepEqual(at(found, 'depends-on-no-healthcheck'), []);
});

test('reference cron backup loop: sh -c while-loop as PID 1 is reported (swallows SIGTERM)', () => {
  assert.deepEqual(at(lintYaml(fixture('backup-cron.yaml')), 'shell-exec'), ['shell-exec@6']);
});
