import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ComposeProject } from '../../compose/types.js';
import { planPrune, repositoryOf, type PruneInput } from './prune.js';
import { scheduleMaintain } from './schedule.js';

const input = (over: Partial<PruneInput> = {}): PruneInput => ({
  project: 'shop',
  services: [{ name: 'app', imageRef: 'local/app:1', imageId: 'sha256:new' }],
  images: [
    { id: 'sha256:new', tags: ['local/app:1'], created: 50, size: 10 },
    { id: 'sha256:prev', tags: ['berth-keep/shop-app:7-before'], created: 40, size: 10 },
    { id: 'sha256:old1', tags: ['local/app:old1'], created: 30, size: 10 },
    { id: 'sha256:old2', tags: ['local/app:old2', 'someone/else:x'], created: 20, size: 10 },
    { id: 'sha256:dangling', tags: ['<none>:<none>'], created: 10, size: 10 },
    { id: 'sha256:other', tags: ['other/project:1'], created: 60, size: 10 },
    { id: 'sha256:oneoff', tags: ['local/app:migrate'], created: 5, size: 10 },
  ],
  containers: [
    { id: 'c1', name: 'shop_app_1', imageId: 'sha256:new', mine: true, oneoff: false, state: 'running' },
    { id: 'c2', name: 'shop_app_run_1', imageId: 'sha256:oneoff', mine: true, oneoff: true, state: 'exited' },
  ],
  history: [{ id: 7, service: 'app', result: 'succeeded', imageIdBefore: 'sha256:prev', imageIdAfter: 'sha256:new' }],
  keepPrefix: 'berth-keep/shop-',
  keep: 2,
  dangling: false,
  ...over,
});

test('repositories of references', () => {
  assert.equal(repositoryOf('local/app:1'), 'local/app');
  assert.equal(repositoryOf('registry:5000/a/b:t'), 'registry:5000/a/b');
  assert.equal(repositoryOf('registry:5000/a/b'), 'registry:5000/a/b');
  assert.equal(repositoryOf('a/b@sha256:abc'), 'a/b');
});

test('the prune keeps rollback targets, used images and the last N; removes older builds of the project only', () => {
  const plan = planPrune(input());
  const kept = Object.fromEntries(plan.keep.map((k) => [k.id, k.reasons]));
  assert.deepEqual(Object.keys(kept).sort(), ['sha256:new', 'sha256:prev']);
  assert.ok(kept['sha256:prev']!.some((r) => r === 'rollback target: berth-keep/shop-app:7-before (the image before deploy #7)'));
  assert.ok(kept['sha256:prev']!.some((r) => r.startsWith('app: version 2 of the last 2')), 'history order: the previous deploy is version 2');
  assert.deepEqual(plan.remove.map((r) => [r.id, r.tags, r.untagOnly]), [
    ['sha256:old1', ['local/app:old1'], false],
    ['sha256:old2', ['local/app:old2'], true],
    ['sha256:oneoff', ['local/app:migrate'], false],
  ], 'other projects and untagged images are not touched; a shared image only loses our tag; a stopped one-off no longer holds its image');
  assert.deepEqual(plan.containers.map((c) => c.name), ['shop_app_run_1']);
  assert.ok(planPrune(input({ dangling: true })).remove.some((r) => r.id === 'sha256:dangling'), '--dangling adds untagged images');
});

test('--keep 1 still keeps every rollback target; a keep tag of an old deploy is never removed', () => {
  const plan = planPrune(input({ keep: 1, images: [...input().images, { id: 'sha256:ancient', tags: ['berth-keep/shop-app:2'], created: 1, size: 1 }] }));
  assert.ok(plan.keep.some((k) => k.id === 'sha256:ancient'));
  assert.ok(plan.keep.some((k) => k.id === 'sha256:prev'));
  assert.ok(!plan.remove.some((r) => r.tags.some((t) => t.startsWith('berth-keep/'))));
});

test('agent: maintain is scheduled only with x-berth.maintain.schedule; a bad schedule is one clear error', async () => {
  const project = (maintain?: { schedule?: string }) => ({ name: 'shop', berth: { maintain } }) as unknown as ComposeProject;
  const logs: Array<Record<string, unknown>> = [];
  const deps = { engine: undefined as never, store: undefined as never, log: (l: Record<string, unknown>) => logs.push(l) };
  assert.equal(scheduleMaintain({ ...deps, project: project() }), undefined);
  assert.throws(() => scheduleMaintain({ ...deps, project: project({ schedule: 'every sunday' }) }), /invalid x-berth\.maintain\.schedule "every sunday"/);
  const job = scheduleMaintain({ ...deps, project: project({ schedule: '0 4 * * 0' }) })!;
  assert.equal(job.next()!.getUTCDay(), 0);
  assert.deepEqual(logs.map((l) => [l.event, l.target]), [['scheduled', 'maintain']]);
  await job.stop();
});

test('x-berth.maintain is read from the compose file (schedule, keep); a wrong type is an error at file:line', async () => {
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const { loadProject } = await import('../../compose/load.js');
  const dir = mkdtempSync(join(tmpdir(), 'berth-maintain-x-'));
  try {
    writeFileSync(join(dir, 'compose.yaml'), 'x-berth:\n  maintain: { schedule: "0 4 * * 0", keep: 5 }\nservices:\n  app: { image: local/busybox:latest }\n');
    assert.deepEqual((await loadProject({ files: [join(dir, 'compose.yaml')] })).berth.maintain, { schedule: '0 4 * * 0', keep: 5 });
    writeFileSync(join(dir, 'compose.yaml'), 'x-berth:\n  maintain: { keep: many }\nservices:\n  app: { image: local/busybox:latest }\n');
    await assert.rejects(loadProject({ files: [join(dir, 'compose.yaml')] }), /compose\.yaml:2/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
