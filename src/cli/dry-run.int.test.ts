/**
 * Issue 17 item 13: up --dry-run and deploy --dry-run show, per service, the image running now and
 * the one it would run, and whether Compose would recreate it in place (an outage), on the real
 * engine with Compose v1.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runBerth } from '../testing/cli.js';
import { integrationEngine, removeComposeProject, testName } from '../testing/engine.js';

const { engine, skip } = await integrationEngine();
const dir = mkdtempSync(join(tmpdir(), 'berth-dry-'));
const project = testName('dry');
writeFileSync(join(dir, 'compose.yaml'), `services:
  app:
    image: \${IMG:-local/busybox:latest}
    command: ["sleep", "600"]
    healthcheck: { test: ["CMD", "sh", "-c", "exit 0"], interval: 1s }
`);
const berth = (args: string[], env: Record<string, string> = {}) => runBerth(['-p', project, ...args], { cwd: dir, env: { BERTH_STATE_DIR: join(dir, 'state'), ...env } });

describe('dry runs show images and in-place recreation (Compose v1)', { skip }, () => {
  before(async () => {
    const up = await berth(['up']);
    assert.equal(up.code, 0, up.stderr);
  });
  after(async () => {
    await berth(['compose', '--', 'down', '-t', '0']);
    if (engine) await removeComposeProject(engine, project);
    rmSync(dir, { recursive: true, force: true });
  });

  test('up --dry-run: unchanged stays; a new image is recreated in place, said in capitals', async () => {
    const same = await berth(['up', '--dry-run']);
    assert.equal(same.code, 0, same.stderr);
    assert.match(same.stdout, /app: local\/busybox:latest \([0-9a-f]{12}\) → local\/busybox:latest \([0-9a-f]{12}\)\n\s+same image and configuration: Compose leaves it running/);
    const changed = await berth(['up', '--dry-run'], { IMG: 'local/node:latest' });
    assert.match(changed.stdout, /app: local\/busybox:latest \([0-9a-f]{12}\) → local\/node:latest \([0-9a-f]{12}\)\n\s+its image changed.*RECREATED IN PLACE: .*an outage; berth rollout app has none/);
    const json = JSON.parse((await berth(['--json', 'up', '--dry-run'], { IMG: 'local/node:latest' })).stdout) as { services: Array<{ service: string; change: string; imageChanged: boolean }> };
    assert.deepEqual(json.services.map((s) => [s.service, s.change, s.imageChanged]), [['app', 'changed', true]]);
  });

  test('deploy --dry-run: current → target per rolled service', async () => {
    const result = await berth(['deploy', '--dry-run'], { IMG: 'local/node:latest' });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /services \(running now → after\):\n\s+app: local\/busybox:latest \([0-9a-f]{12}\) → local\/node:latest \([0-9a-f]{12}\)\n\s+its image changed.*new replicas beside the old ones \(no downtime\)/);
  });
});
