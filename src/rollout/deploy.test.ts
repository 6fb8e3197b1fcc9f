import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ComposeProject, ServiceModel } from '../compose/types.js';
import { logScanConfig, planDeploy, renderDeployPlan } from './deploy.js';
import { matchLogLines } from './log-scan.js';
import { planRollout } from './plan.js';

function service(name: string, over: Partial<ServiceModel> = {}): ServiceModel {
  return { name, image: `${name}:1`, hasBuild: false, containerName: undefined, networkMode: undefined, ports: [], networks: {}, dependsOn: {}, berth: { rollout: {} }, ...over } as ServiceModel;
}

function project(services: ServiceModel[], deploy: Partial<ComposeProject['berth']['deploy']> = {}): ComposeProject {
  return { name: 'shop', services: Object.fromEntries(services.map((s) => [s.name, s])), berth: { deploy: { preHooks: [], postHooks: [], ...deploy } } } as unknown as ComposeProject;
}

test('the checklist in order: pre-hooks, pull, build, migrate, rollout (with the blocking log scan), verify, post-hooks', () => {
  const p = project(
    [service('proxy'), service('app', { hasBuild: true }), service('migrate', { hasBuild: true }), service('db', { image: 'postgres:16' }), service('edge', { ports: [{ hostIp: '', published: '443', target: 443, protocol: 'tcp', mode: 'ingress' }] })],
    { migrate: { service: 'migrate', timeoutMs: 120_000 }, preHooks: [{ command: 'echo pre', timeoutMs: 5000 }], postHooks: [{ command: ['curl', '-f', 'http://x'], timeoutMs: 5000 }] },
  );
  const plan = planDeploy(p, []);
  assert.deepEqual(plan.steps.map((s) => s.kind), ['hook', 'pull', 'build', 'migrate', 'rollout', 'verify', 'hook']);
  assert.equal((plan.steps[4] as { logScan?: { mode: string } }).logScan?.mode, 'blocking');
  assert.deepEqual((plan.steps[1] as { services: string[] }).services, ['proxy']);
  assert.deepEqual((plan.steps[2] as { services: string[] }).services, ['app', 'migrate']);
  assert.deepEqual((plan.steps[4] as { services: string[] }).services, ['proxy', 'app']);
  assert.deepEqual(plan.skipped.map((s) => s.service), ['db', 'edge']);
  assert.match(plan.skipped[1]!.reason, /fixed host port 443:443.*--stop-first/);
  assert.ok(plan.steps.every((s) => s.reason.length > 0));
  assert.match(renderDeployPlan(plan), /4\. migrate \(run migrate\)/);
});

test('named services are deployed as asked; --no-migrate leaves the migration out', () => {
  const p = project([service('app'), service('db', { image: 'postgres:16' })], { migrate: { service: 'app', timeoutMs: 1000 } });
  const plan = planDeploy(p, ['db'], { skipMigrate: true });
  assert.deepEqual(plan.steps.map((s) => s.kind), ['pull', 'rollout', 'verify']);
  assert.throws(() => planDeploy(p, ["nope"]), /no such service: nope in project shop/);
});

test('issue 17: the log scan is configurable: blocking is a gate inside the rollout, advisory a step after it, off none', () => {
  const p = (logScan?: object) => project([service('app')], logScan ? { logScan } : {});
  const kinds = (plan: ReturnType<typeof planDeploy>) => plan.steps.map((s) => s.kind);
  assert.deepEqual(kinds(planDeploy(p({ mode: 'advisory' }), [])), ['pull', 'rollout', 'verify', 'scan-logs']);
  assert.deepEqual(kinds(planDeploy(p({ mode: 'off' }), [])), ['pull', 'rollout', 'verify']);
  assert.deepEqual(kinds(planDeploy(p({ mode: 'off' }), [], { logScan: 'advisory' })), ['pull', 'rollout', 'verify', 'scan-logs'], '--log-scan wins');
  const scan = logScanConfig(p({ ignore: ['error reporting enabled'] }));
  assert.deepEqual(scan, { mode: 'blocking', patterns: ['\\b(error|exception|fatal|panic)\\b'], ignore: ['error reporting enabled'], lines: 50 });
  assert.deepEqual(matchLogLines(['Sentry error reporting enabled', 'FATAL: no config', 'listening on :3000'], scan), ['FATAL: no config']);
  // The rollout plans the scan after the health gate and before the join (before any traffic).
  const state = { service: 'app', replicas: [{ id: 'a1', name: 'shop_app_1', number: 1, state: 'running', imageId: 'sha256:old', inDns: true }], target: { ref: 'app:1', imageId: 'sha256:new' }, healthcheck: { intervalMs: 1000, timeoutMs: 1000, retries: 1, startPeriodMs: 0 }, naming: 'v1' as const };
  const rollout = planRollout(project([service('app', { replicas: 1, stopGracePeriodMs: 10_000 })]), [state], { rolloutId: 'r', logScan: scan });
  assert.deepEqual(rollout.services[0]!.steps.map((s) => s.kind), ['create', 'wait-healthy', 'scan-logs', 'join', 'drain', 'stop', 'remove']);
});
