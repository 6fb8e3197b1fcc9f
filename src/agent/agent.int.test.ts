import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { Catalog } from '../backup/catalog.js';
import { execInContainer } from '../backup/exec.js';
import { composeLabels, makeProject, startContainer, tempDir, waitFor, SCOPE, scopeLabel, scopedName } from '../backup/testkit.js';
import { StateStore } from '../state/store.js';
import { integrationEngine, removeLabelled } from '../testing/engine.js';
import { startAgent } from './scheduler.js';

const { engine, skip } = await integrationEngine();
const label = scopeLabel;

after(async () => {
  if (engine) await removeLabelled(engine, SCOPE);
});

test('agent: a cron schedule runs backups; /health turns from 503 to 200 once a verified backup exists', { skip, timeout: 60_000 }, async () => {
  const name = scopedName('agent');
  const volume = `${name}_files`;
  await engine!.docker.createVolume({ Name: volume, Labels: label });
  const app = await startContainer(engine!, { name: `${name}_app_1`, image: 'local/busybox:latest', cmd: ['sleep', '3600'], init: true, binds: [`${volume}:/data`], labels: { ...label, ...composeLabels(name, 'app') } });
  await execInContainer(engine!, app.id, ['sh', '-c', 'echo data > /data/file']);
  // Every two seconds (croner's six-field syntax), keep the last two.
  const project = makeProject(name, { app: { backup: { type: 'volume', volumes: [volume], stopContainers: false, schedule: '*/2 * * * * *' } } }, { destinations: { local: { type: 'local', path: tempDir('agent-backups') } }, retention: { keepLast: 2 } });
  const store = StateStore.open(tempDir('agent-state'));
  const logs: Array<Record<string, unknown>> = [];
  const agent = await startAgent({ engine: engine!, store, project, listen: '127.0.0.1:0', log: (l) => logs.push(l), helperLabels: label });
  try {
    const url = `http://${agent.address}/health`;
    const first = await fetch(url);
    assert.equal(first.status, 503);
    assert.equal(((await first.json()) as { targets: Array<{ reason: string }> }).targets[0]!.reason, 'no verified backup yet');
    await waitFor('three scheduled backups', async () => logs.filter((l) => l.event === 'backup-result' && l.status === 'verified').length >= 3, 30_000);
    const health = await fetch(url);
    assert.equal(health.status, 200);
    const body = (await health.json()) as { ok: boolean; targets: Array<{ ageMs: number; maxAgeMs: number }> };
    assert.equal(body.ok, true);
    assert.ok(body.targets[0]!.ageMs < body.targets[0]!.maxAgeMs);
    assert.equal(body.targets[0]!.maxAgeMs, 2 * 2000 + 10 * 60_000);
    // Retention ran after each run: at most keepLast verified remain (one more may be in flight).
    await agent.stop();
    const verified = new Catalog(store).list({ project: name }).filter((e) => e.status === 'verified');
    assert.ok(verified.length <= 3 && verified.length >= 2, `verified: ${verified.length}`);
    assert.ok(new Catalog(store).list({ project: name, includePruned: true }).some((e) => e.status === 'pruned'));
    assert.equal((await fetch(`http://${agent.address}/nope`).catch(() => undefined))?.status ?? 'closed', 'closed');
  } finally {
    await agent.stop();
    store.close();
  }
});
