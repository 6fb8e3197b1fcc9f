import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ComposeProject, ServiceModel } from '../compose/types.js';
import { planDeploy, renderDeployPlan } from './deploy.js';

function service(name: string, over: Partial<ServiceModel> = {}): ServiceModel {
  return { name, image: `${name}:1`, hasBuild: false, containerName: undefined, networkMode: undefined, ports: [], networks: {}, dependsOn: {}, berth: { rollout: {} }, ...over } as ServiceModel;
}

function project(services: ServiceModel[], deploy: Partial<ComposeProject['berth']['deploy']> = {}): ComposeProject {
  return { name: 'shop', services: Object.fromEntries(services.map((s) => [s.name, s])), berth: { deploy: { preHooks: [], postHooks: [], ...deploy } } } as unknown as ComposeProject;
}

test('the checklist in order: pre-hooks, pull, build, migrate, rollout, verify, scan logs, post-hooks', () => {
  const p = project(
    [service('proxy'), service('app', { hasBuild: true }), service('migrate', { hasBuild: true }), service('db', { image: 'postgres:16' }), service('edge', { ports: [{ hostIp: '', published: '443', target: 443, protocol: 'tcp', mode: 'ingress' }] })],
    { migrate: { service: 'migrate', timeoutMs: 120_000 }, preHooks: [{ command: 'echo pre', timeoutMs: 5000 }], postHooks: [{ command: ['curl', '-f', 'http://x'], timeoutMs: 5000 }] },
  );
  const plan = planDeploy(p, []);
  assert.deepEqual(plan.steps.map((s) => s.kind), ['hook', 'pull', 'build', 'migrate', 'rollout', 'verify', 'scan-logs', 'hook']);
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
  assert.deepEqual(plan.steps.map((s) => s.kind), ['pull', 'rollout', 'verify', 'scan-logs']);
  assert.throws(() => planDeploy(p, ['nope']), /no service "nope"/);
});
