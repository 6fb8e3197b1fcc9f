/**
 * berth doctor against a real engine and Compose v1: a healthy stack exits 0 (host checks
 * included); then an unhealthy container, a service cut from its database's network, an
 * OOM-killed container and one SIGKILLed on stop are each named for what they are.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listServiceContainers } from '../../compose/containers.js';
import { runBerth } from '../../testing/cli.js';
import { execFileAsync, integrationEngine, removeLabelled, testName, testScope } from '../../testing/engine.js';
import type { DoctorReport, Finding } from './types.js';

const FIXTURE = fileURLToPath(new URL('../../../src/runbook/fixtures/doctor.yaml', import.meta.url));
const { engine, skip } = await integrationEngine();
const project = testName('doctor');
const scope = testScope('doctor');
const stateDir = mkdtempSync(join(tmpdir(), 'berth-doctor-'));
const env = { BERTH_TEST_LABEL: scope, BERTH_STATE_DIR: stateDir, BERTH_HELPER_IMAGE: 'local/busybox:latest' };
const berth = (...args: string[]) => runBerth(['-f', FIXTURE, '-p', project, ...args], { env, timeoutMs: 180_000 });

async function containerOf(service: string) {
  const [c] = await listServiceContainers(engine!, project, { services: [service] });
  assert.ok(c, `a container of ${service}`);
  return c;
}

async function until(what: string, fn: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
}

function kinds(report: DoctorReport, subject: string): string[] {
  return report.findings.filter((f) => f.subject === subject).map((f) => f.kind);
}

describe('berth doctor (real engine, Compose v1)', { skip }, () => {
  before(async () => {
    const up = await berth('up');
    assert.equal(up.code, 0, up.stderr);
  });
  after(async () => {
    await berth('--profile', 'broken', 'compose', '--', 'down', '-v', '-t', '1').catch(() => undefined);
    if (engine) await removeLabelled(engine, scope);
    rmSync(stateDir, { recursive: true, force: true });
  });

  test('a healthy stack: exit 0, the database reached from inside api, host checked', async () => {
    const result = await berth('doctor', '--json');
    const report = JSON.parse(result.stdout) as DoctorReport;
    const problems = report.findings.filter((f) => f.severity !== 'info');
    assert.deepEqual(problems, [], 'no finding on a healthy stack');
    assert.equal(result.code, 0, result.stderr);
    const api = report.facts.services.find((s) => s.name === 'api')!;
    assert.deepEqual(api.containers[0]!.reach?.map((r) => [r.name, r.port, r.dns, r.tcp]), [['db', 5432, 'ok', 'ok']]);
    assert.ok(report.facts.host, 'host facts collected');
    assert.ok(report.facts.host!.disks.some((d) => d.what === 'the Docker root') || report.facts.host!.unknown.some((u) => u.includes('Docker root')));
    const text = await berth('doctor');
    assert.equal(text.code, 0);
    assert.match(text.stdout, /nothing wrong found/);
    const dry = await berth('doctor', '--dry-run');
    assert.equal(dry.code, 0);
    assert.match(dry.stdout, /^1\. db: replicas \(1 desired\)[\s\S]*\. api: DNS of db and a TCP connect to their ports, from inside api's network namespace\n {3}depends_on:/m);
    const bad = await berth('doctor', 'nope');
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^berth: no such service: nope in project \S+\nhint: services: db, api\n$/);
  });

  test('unhealthy, cut from its database, OOM-killed, SIGKILLed on stop: each named; exit 1', async () => {
    const up = await berth('--profile', 'broken', 'compose', '--', 'up', '-d');
    assert.equal(up.code, 0, up.stderr);
    const hog = await containerOf('hog');
    await until('hog to be OOM-killed', async () => (await engine!.inspectContainer(hog.id)).State.OOMKilled);
    const sick = await containerOf('sick');
    await until('sick to be unhealthy', async () => (await engine!.inspectContainer(sick.id)).State.Health?.Status === 'unhealthy');
    const stubborn = await containerOf('stubborn');
    await execFileAsync('docker', ['stop', stubborn.id]);
    const api = await containerOf('api');
    await execFileAsync('docker', ['network', 'disconnect', `${project}_back`, api.id]);

    const result = await berth('--profile', 'broken', 'doctor', '--json', '--no-host');
    assert.equal(result.code, 1, result.stderr);
    const report = JSON.parse(result.stdout) as DoctorReport;
    const show = (f: Finding[]) => f.map((x) => `${x.subject} ${x.kind}: ${x.message}`).join('\n');
    assert.ok(kinds(report, sick.name).includes('unhealthy'), show(report.findings));
    const unhealthy = report.findings.find((f) => f.subject === sick.name && f.kind === 'unhealthy')!;
    assert.ok(unhealthy.details?.some((d) => d.includes('config /data/app.toml missing')), 'the last health-check output is shown');
    assert.deepEqual(kinds(report, hog.name), ['oom-killed'], show(report.findings));
    assert.deepEqual(kinds(report, stubborn.name), ['sigkill-on-stop'], show(report.findings));
    assert.match(report.findings.find((f) => f.subject === stubborn.name)!.message, /grace period \(1s\) after SIGTERM/);
    assert.ok(kinds(report, api.name).includes('unreachable'), show(report.findings));
    assert.ok(kinds(report, api.name).includes('network-missing'), show(report.findings));
    assert.match(report.findings.find((f) => f.subject === api.name && f.kind === 'unreachable')!.message, /cannot resolve db/);
    assert.deepEqual(kinds(report, 'db').concat(kinds(report, (await containerOf('db')).name)), [], 'the database itself is fine');
    for (const service of ['hog', 'stubborn']) assert.ok(kinds(report, service).includes('below-desired'));

    const text = await berth('--profile', 'broken', 'doctor', '--no-host');
    assert.equal(text.code, 1);
    assert.match(text.stdout, new RegExp(`✗ ${hog.name}: killed by the kernel's OOM killer`));
    assert.match(text.stdout, /→ /, 'every finding says what to do');
  });
});
