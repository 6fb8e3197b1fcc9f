/** Convergence of a stack's service (pure), from the manager's view of services, tasks and nodes. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isCurrentTask, serviceConvergence, taskError, type SwarmNodeInfo, type SwarmService, type SwarmTask } from './swarm.js';

const nodes: SwarmNodeInfo[] = [
  { ID: 'n1', Description: { Hostname: 'node1' }, Spec: { Availability: 'active' }, Status: { State: 'ready' } },
  { ID: 'n2', Description: { Hostname: 'node2' }, Spec: { Availability: 'active' }, Status: { State: 'ready' } },
];
const service = (image: string, update?: SwarmService['UpdateStatus']): SwarmService => ({
  ID: 's1', Version: { Index: 1 }, UpdateStatus: update,
  Spec: { Name: 'shop_app', TaskTemplate: { ContainerSpec: { Image: image } }, Mode: { Replicated: { Replicas: 2 } } },
});
const now = Date.parse('2026-12-03T12:00:00Z');
const task = (id: string, image: string, state: string, desired = 'running', extra: Partial<SwarmTask['Status']> = {}, node = 'n1'): SwarmTask => ({
  ID: id, ServiceID: 's1', NodeID: node, CreatedAt: new Date(now + 1000).toISOString(), DesiredState: desired,
  Spec: { ContainerSpec: { Image: image } }, Status: { State: state, Timestamp: new Date(now + 2000).toISOString(), ...extra },
});

test('converged: every desired task of the current image runs and no update is under way', () => {
  const s = serviceConvergence('app', service('app:2', { State: 'completed' }), [task('a', 'app:2', 'running'), task('b', 'app:2', 'running', 'running', {}, 'n2'), task('c', 'app:1', 'shutdown', 'shutdown')], nodes, now);
  assert.equal(s.converged, true);
  assert.equal(s.running, 2);
});

test('not converged while updating, or while a task of the old image still counts', () => {
  assert.equal(serviceConvergence('app', service('app:2', { State: 'updating' }), [task('a', 'app:2', 'running'), task('b', 'app:2', 'running')], nodes, now).converged, false);
  const mixed = serviceConvergence('app', service('app:2'), [task('a', 'app:2', 'running'), task('b', 'app:1', 'running')], nodes, now);
  assert.deepEqual([mixed.converged, mixed.running], [false, 1]);
});

test('a rolled-back update is a failure, with the full task errors and their nodes', () => {
  const long = 'No such image: berthtest-swarm-app:this-tag-is-long-enough-that-docker-service-ps-cuts-it';
  const s = serviceConvergence('app', service('app:1', { State: 'rollback_completed', Message: 'rollback completed' }), [task('a', 'app:1', 'running'), task('bad0000000001', 'app:2', 'rejected', 'shutdown', { Err: long }, 'n2')], nodes, now);
  assert.equal(s.failed, true);
  assert.deepEqual(s.errors, [`task bad000000000 on node2 (app:2): ${long}`]);
});

test('failures before the deploy began are history, not errors of this deploy', () => {
  const old = { ...task('old', 'app:0', 'failed', 'shutdown', { Err: 'old crash' }), CreatedAt: new Date(now - 60_000).toISOString() };
  old.Status.Timestamp = new Date(now - 50_000).toISOString();
  assert.deepEqual(serviceConvergence('app', service('app:2'), [old], nodes, now).errors, []);
});

test('taskError: the error, else the message, with the exit code', () => {
  assert.equal(taskError(task('x', 'a', 'failed', 'shutdown', { Err: 'task: non-zero exit (1)', ContainerStatus: { ExitCode: 1 } })), 'task: non-zero exit (1) (exit code 1)');
  assert.equal(taskError(task('x', 'a', 'running')), undefined);
});

test('a task with the same image but an older secret is not current (a secret change rolls out)', () => {
  const svc = service('app:2', { State: 'completed' });
  svc.Spec.TaskTemplate.ContainerSpec.Secrets = [{ SecretName: 'shop_token_bbbbbbbbbbbb', SecretID: 'new' }];
  const old = task('a', 'app:2', 'running');
  old.Spec.ContainerSpec!.Secrets = [{ SecretName: 'shop_token_aaaaaaaaaaaa', SecretID: 'old' }];
  const current = task('b', 'app:2', 'running', 'running', {}, 'n2');
  current.Spec.ContainerSpec = { Secrets: [{ SecretID: 'new', SecretName: 'shop_token_bbbbbbbbbbbb' }], Image: 'app:2' };
  assert.equal(isCurrentTask(old, svc), false);
  assert.equal(isCurrentTask(current, svc), true, 'key order does not matter');
  // Right after the deploy the update status still says completed: not converged while an old task runs.
  const s = serviceConvergence('app', svc, [old, current], nodes, now);
  assert.deepEqual([s.converged, s.running], [false, 1]);
});

test('the update status of the previous update is not this one\'s: a stale rollback_completed is ignored', () => {
  const svc = service('app:2', { State: 'rollback_completed', StartedAt: '2026-12-03T11:00:00Z', Message: 'rollback completed' });
  const tasks = [task('a', 'app:2', 'running'), task('b', 'app:2', 'running', 'running', {}, 'n2')];
  assert.equal(serviceConvergence('app', svc, tasks, nodes, now).failed, true);
  const s = serviceConvergence('app', svc, tasks, nodes, now, '2026-12-03T11:00:00Z');
  assert.deepEqual([s.failed, s.converged, s.updateState], [false, true, undefined]);
});
