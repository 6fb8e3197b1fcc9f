/** The two-node Swarm fixture itself: both nodes Ready, overlay across the nodes, and nothing left after down(). */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { execFileAsync } from '../testing/engine.js';
import { swarmSkip, TestSwarm } from './testing.js';

const skip = await swarmSkip();

test('the two-node Swarm fixture forms a swarm of its own engines and leaves nothing behind', { skip, timeout: 300_000 }, async () => {
  const before = (await execFileAsync('docker', ['info', '--format', '{{.Swarm.LocalNodeState}}'])).stdout.trim();
  const swarm = await TestSwarm.start({ images: ['local/busybox:latest'] });
  try {
    const nodes = (await swarm.docker(['node', 'ls', '--format', '{{.Hostname}} {{.Status}} {{.ManagerStatus}}'])).split('\n').map((l) => l.trim()).filter(Boolean).sort();
    assert.deepEqual(nodes, [`${swarm.manager.hostname} Ready Leader`, `${swarm.worker.hostname} Ready`]);
    // The shared engine is untouched: still not in swarm mode.
    assert.equal((await execFileAsync('docker', ['info', '--format', '{{.Swarm.LocalNodeState}}'])).stdout.trim(), before);
    assert.match(await swarm.docker(['image', 'ls', '--format', '{{.Repository}}'], swarm.worker), /local\/busybox/);
  } finally {
    await swarm.down();
  }
  assert.equal(existsSync(swarm.runDir), false);
  assert.equal(existsSync(swarm.libDir), false);
  const netns = (await execFileAsync('ip', ['netns', 'list'])).stdout;
  assert.doesNotMatch(netns, new RegExp(swarm.id));
  const links = (await execFileAsync('ip', ['link'])).stdout;
  assert.doesNotMatch(links, new RegExp(swarm.vethA));
  assert.equal(existsSync(`/proc/${swarm.manager.pid}`), false);
  assert.equal(existsSync(`/proc/${swarm.worker.pid}`), false);
});
