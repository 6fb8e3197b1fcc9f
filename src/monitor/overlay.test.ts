import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parse } from 'yaml';
import { makeProject } from '../backup/testkit.js';
import { runBerth } from '../testing/cli.js';
import { planOverlay } from './overlay.js';
import { renderRules } from './rules.js';

const dir = mkdtempSync(join(tmpdir(), 'berth-overlay-'));
after(() => rmSync(dir, { recursive: true, force: true }));

type Service = Record<string, unknown> & { networks: string[]; deploy: { resources: { limits: Record<string, unknown> } } };

test('the overlay plan: every service hardened and limited, the proxy read-only on an internal network, the agent reading the project', () => {
  const project = makeProject('shop', { app: {} });
  project.workingDir = '/srv/shop';
  project.files = ['/srv/shop/compose.yaml'];
  const plan = planOverlay(project, { alertWebhook: 'https://hooks.example.com/secret-token', grafanaPassword: 'pw' });
  const overlay = parse(plan.files[0]!.content) as { services: Record<string, Service>; networks: Record<string, { internal?: boolean }> };
  assert.deepEqual(Object.keys(overlay.services), ['berth-socket-proxy', 'berth-agent', 'prometheus', 'alertmanager', 'node-exporter', 'grafana']);
  for (const [name, s] of Object.entries(overlay.services)) {
    assert.equal(s.read_only, true, name);
    assert.deepEqual(s.cap_drop, ['ALL'], name);
    assert.deepEqual(s.security_opt, ['no-new-privileges:true'], name);
    assert.equal((s.logging as { options: Record<string, string> }).options['max-size'], '10m', name);
    assert.ok(s.deploy.resources.limits.memory, name);
    assert.ok(s.healthcheck, name);
  }
  const proxy = overlay.services['berth-socket-proxy']!;
  assert.deepEqual(proxy.environment, { CONTAINERS: 1, EVENTS: 1, POST: 0 });
  assert.deepEqual(proxy.networks, ['monitoring-docker']);
  assert.equal(overlay.networks['monitoring-docker']!.internal, true);
  assert.equal(overlay.networks.monitoring!.internal, true);
  const agent = overlay.services['berth-agent']!;
  assert.deepEqual(agent.command, ['-f', '/project/compose.yaml', '-f', '/project/compose.monitoring.yaml', '-p', 'shop', 'agent', '--no-schedules', '--no-host-metrics', '--listen', '0.0.0.0:9465']);
  assert.equal((agent.environment as Record<string, string>).DOCKER_HOST, 'tcp://berth-socket-proxy:2375');
  assert.ok(!(agent.volumes as string[]).some((v) => v.includes('docker.sock')), 'the agent never gets the socket');
  const rules = plan.files.find((f) => f.path.endsWith('berth.rules.yml'))!;
  assert.equal(rules.content, renderRules());
  const am = parse(plan.files.find((f) => f.path.endsWith('alertmanager.yml'))!.content) as { receivers: Array<{ webhook_configs: Array<{ url: string; send_resolved: boolean }> }> };
  assert.deepEqual(am.receivers[0]!.webhook_configs, [{ url: 'https://hooks.example.com/secret-token', send_resolved: true }]);
  assert.ok(!plan.files.some((f) => f.reason.includes('secret-token')), 'reasons (printed) do not show the webhook path');
  assert.equal(plan.upCommand, 'berth -f compose.yaml -f compose.monitoring.yaml up');
});

test('a project that already has a service of the overlay\'s names is refused with a clear error', () => {
  assert.throws(() => planOverlay(makeProject('shop', { prometheus: {} })), /already has service\(s\) named prometheus/);
});

test('berth monitor init: --dry-run prints what the real run writes; existing files are kept without --force; bad input is one line, exit 2', async () => {
  writeFileSync(join(dir, 'compose.yaml'), 'name: shop\nservices:\n  app:\n    image: local/busybox:latest\n');
  const dry = await runBerth(['monitor', 'init', '--dry-run', '--no-grafana'], { cwd: dir });
  assert.equal(dry.code, 0, dry.stderr);
  assert.ok(!existsSync(join(dir, 'compose.monitoring.yaml')), 'a dry run writes nothing');
  const real = await runBerth(['monitor', 'init', '--no-grafana'], { cwd: dir });
  assert.equal(real.code, 0, real.stderr);
  const written = readFileSync(join(dir, 'compose.monitoring.yaml'), 'utf8');
  assert.ok(dry.stdout.includes(written.trimEnd()), 'the dry run printed the same overlay');
  assert.equal(readFileSync(join(dir, 'monitoring/prometheus/rules/berth.rules.yml'), 'utf8'), renderRules());
  const again = await runBerth(['monitor', 'init', '--no-grafana'], { cwd: dir });
  assert.equal(again.code, 2);
  assert.match(again.stderr, /already exist.*\n.*--force/);
  const bad = await runBerth(['monitor', 'init', '--scrape-interval', 'often'], { cwd: dir });
  assert.equal(bad.code, 2);
  assert.equal(bad.stderr.trim().split('\n').filter((l) => !/^\s*hint/.test(l)).length, 1, bad.stderr);
  const withGrafana = await runBerth(['monitor', 'init', '--force'], { cwd: dir });
  assert.equal(withGrafana.code, 0, withGrafana.stderr);
  assert.equal(statSync(join(dir, 'monitoring/secrets')).mode & 0o777, 0o700);
  const rules = await runBerth(['monitor', 'rules']);
  assert.equal(rules.stdout, renderRules());
});

test('desired replicas: long-running services only (jobs exit by design)', async () => {
  const { desiredReplicas } = await import('./monitor.js');
  const project = makeProject('shop', { app: {}, migrate: {}, seed: {}, tool: {} });
  project.services.app!.replicas = 3;
  project.berth.deploy.migrate = { service: 'migrate', timeoutMs: 1000 };
  project.services.seed!.restart = 'no';
  project.services.tool!.profiles = ['tools'];
  assert.deepEqual(desiredReplicas(project), { app: 3 });
});
