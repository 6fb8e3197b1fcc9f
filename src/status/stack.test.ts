/** buildStackStatus (pure): a stack's services and tasks as berth status --swarm reports them. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ComposeProject } from '../compose/types.js';
import type { StackState } from '../engine/swarm.js';
import { buildStackStatus } from './stack.js';

const project = { name: 'shop', services: { app: { replicas: 2, image: 'app:2' }, db: { replicas: 1, image: 'postgres:16' } } } as unknown as ComposeProject;
const at = (s: number) => new Date(Date.now() - s * 1000).toISOString();

function state(): StackState {
  return {
    nodes: [{ ID: 'n1', Description: { Hostname: 'node1' } }, { ID: 'n2', Description: { Hostname: 'node2' } }],
    services: [{
      ID: 's1', Version: { Index: 3 },
      Spec: { Name: 'shop_app', TaskTemplate: { ContainerSpec: { Image: 'app:2', Healthcheck: { Test: ['CMD', '/hc'] } } }, Mode: { Replicated: { Replicas: 2 } } },
      UpdateStatus: { State: 'rollback_completed', Message: 'rollback completed' },
    }],
    tasks: [
      { ID: 'ok1', ServiceID: 's1', NodeID: 'n1', Slot: 1, CreatedAt: at(100), DesiredState: 'running', Spec: { ContainerSpec: { Image: 'app:2', Healthcheck: { Test: ['CMD', '/hc'] } } }, Status: { State: 'running', Timestamp: at(90), ContainerStatus: { ContainerID: 'c1' } } },
      { ID: 'ok2', ServiceID: 's1', NodeID: 'n2', Slot: 2, CreatedAt: at(100), DesiredState: 'running', Spec: { ContainerSpec: { Healthcheck: { Test: ['CMD', '/hc'] }, Image: 'app:2' } }, Status: { State: 'running', Timestamp: at(90), ContainerStatus: { ContainerID: 'c2' } } },
      { ID: 'bad', ServiceID: 's1', NodeID: 'n2', Slot: 2, CreatedAt: at(50), DesiredState: 'shutdown', Spec: { ContainerSpec: { Image: 'app:3' } }, Status: { State: 'failed', Timestamp: at(40), Err: 'task: non-zero exit (1): a full error that docker service ps would cut short', ContainerStatus: { ExitCode: 1 } } },
    ],
  };
}

test('per task: node, state, health (the container\'s where known, else Swarm\'s gate), digest, full error; not ok after a rollback', () => {
  const report = buildStackStatus(project, ['app', 'db'], state(), new Map([['c1', { health: 'healthy', imageId: 'sha256:abc' }]]));
  const app = report.services[0]!;
  assert.deepEqual(app.tasks.map((t) => [t.id, t.node, t.state, t.health, t.healthFrom, t.digest]), [
    ['ok1', 'node1', 'running', 'healthy', 'container', 'sha256:abc'],
    ['ok2', 'node2', 'running', 'healthy', 'swarm', undefined],
    ['bad', 'node2', 'failed', 'none', 'swarm', undefined],
  ]);
  assert.equal(app.tasks[2]!.error, 'task: non-zero exit (1): a full error that docker service ps would cut short (exit code 1)');
  assert.equal(app.running, 2);
  assert.deepEqual(app.problems, ['the last update was rolled back: rollback completed']);
  assert.deepEqual(report.services[1]!.problems, ['not deployed in stack shop']);
  assert.equal(report.ok, false);
});

test('an unhealthy container counts against the service', () => {
  const report = buildStackStatus(project, ['app'], { ...state(), services: [{ ...state().services[0]!, UpdateStatus: undefined }] }, new Map([['c1', { health: 'unhealthy', imageId: 'sha256:abc' }]]));
  assert.deepEqual(report.services[0]!.problems, ['1 unhealthy']);
});
