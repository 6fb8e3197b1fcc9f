/**
 * The runbook commands on the example production stack (hardened: read-only roots, no
 * capabilities, internal networks): doctor finds nothing wrong and exits 0, with each depends_on
 * reached from inside the service's network namespace; logs, the secret rotation's and maintain's
 * plans read it as it is. (The rotation and maintain themselves run on copies in their own tests:
 * they edit the compose file and rebuild.)
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { integrationEngine } from '../testing/engine.js';
import { exampleStack } from '../testing/example-stack.js';
import type { DoctorReport } from './doctor/types.js';

const { engine, skip } = await integrationEngine();
const stateDir = mkdtempSync(join(tmpdir(), 'berth-runbook-example-'));
const stack = exampleStack('runbook_example', { BERTH_STATE_DIR: stateDir, BERTH_HELPER_IMAGE: 'local/busybox:latest' });
const berth = stack.berth;

describe('runbook commands on the example production stack (Compose v1)', { skip }, () => {
  before(() => stack.up());
  after(async () => {
    await stack.down(engine);
    rmSync(stateDir, { recursive: true, force: true });
  });

  test('berth doctor: nothing wrong, exit 0; proxy reaches app:3000 and app reaches db:5432 from their own namespaces', async () => {
    const result = await berth('doctor', '--json');
    const report = JSON.parse(result.stdout) as DoctorReport;
    assert.deepEqual(report.findings.filter((f) => f.severity !== 'info'), []);
    assert.equal(result.code, 0, result.stderr);
    const reach = (service: string) => report.facts.services.find((s) => s.name === service)!.containers.flatMap((c) => (c.reach ?? []).map((r) => `${r.name}:${r.port} ${r.dns}/${r.tcp}`));
    assert.deepEqual(reach('proxy'), ['app:3000 ok/ok']);
    assert.deepEqual(reach('app'), ['db:5432 ok/ok', 'db:5432 ok/ok'], 'both replicas');
  });

  test('berth logs, and the plans of secrets rotate and maintain', async () => {
    const logs = await berth('logs', 'app', '--json');
    assert.equal(logs.code, 0, logs.stderr);
    const lines = logs.stdout.trim().split('\n').map((l) => JSON.parse(l) as { container: string; text: string });
    assert.deepEqual([...new Set(lines.filter((l) => /listening on :3000/.test(l.text)).map((l) => l.container))].length, 2, 'both replicas in one stream');
    const rotate = await berth('secrets', 'rotate', 'db_password', '--dry-run');
    assert.equal(rotate.code, 0, rotate.stderr);
    assert.match(rotate.stdout, /change the postgres password of app in \S+_db_1[\s\S]*roll out app\n/);
    assert.match(rotate.stdout, /• migrate, backup \(profiles not enabled\): the new version when they next run/);
    const maintain = await berth('maintain', '--dry-run', '--no-build-cache');
    assert.equal(maintain.code, 0, maintain.stderr);
    assert.match(maintain.stdout, /pull local\/node:latest \(base of app\)/);
    // Other tests on this engine may have tagged the same image (their berth-keep tags): it is listed with all its tags.
    assert.match(maintain.stdout, /keep [^\n]*local\/berth-example-app:1\n {3}used by container/);
  });
});
