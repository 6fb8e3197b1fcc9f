/**
 * berth logs against a real engine and Compose v1: `--follow` across a `berth rollout` gets the
 * lines of both versions, in time order, none lost (each replica numbers its lines); afterwards
 * the removed replica's last lines are still shown (kept in the state store); pino, bunyan and
 * logfmt lines are rendered, plain lines untouched; --level and --grep filter.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { listServiceContainers } from '../../compose/containers.js';
import { BERTH_BIN, runBerth } from '../../testing/cli.js';
import { execFileAsync, integrationEngine, removeLabelled, TEST_LABEL, testName, testScope } from '../../testing/engine.js';

const FIXTURE = fileURLToPath(new URL('../../../src/runbook/fixtures/logs.yaml', import.meta.url));
const TICKER = fileURLToPath(new URL('../../../src/runbook/fixtures/ticker', import.meta.url));
const { engine, skip } = await integrationEngine();
const project = testName('logs');
const scope = testScope('logs');
const stateDir = mkdtempSync(join(tmpdir(), 'berth-logs-'));
const images = { v1: `berthtest-ticker:${scope}-v1`, v2: `berthtest-ticker:${scope}-v2` };
const env = (image: string) => ({ BERTH_TEST_LABEL: scope, BERTH_STATE_DIR: stateDir, TICKER_IMAGE: image });
const berth = (image: string, ...args: string[]) => runBerth(['-f', FIXTURE, '-p', project, ...args], { env: env(image), timeoutMs: 180_000 });

interface JsonLine { time: string; container: string; service: string; removed: boolean; format: string; level: string | null; message: string; fields: Record<string, string>; text: string }

function numbers(lines: JsonLine[], container: string): number[] {
  // Every format carries n: "n":3 (JSON), n=3 (logfmt and plain).
  return lines.filter((l) => l.container === container).map((l) => /"n":(\d+)|\bn=(\d+)/.exec(l.text)).filter((m) => m !== null).map((m) => Number(m[1] ?? m[2]));
}

function assertContiguous(ns: number[], what: string): void {
  assert.ok(ns.length > 10, `${what}: some lines (${ns.length})`);
  ns.forEach((n, i) => { if (i > 0) assert.equal(n, ns[i - 1]! + 1, `${what}: line ${ns[i - 1]! + 1} lost or out of order (got ${n})`); });
}

describe('berth logs (real engine, Compose v1)', { skip }, () => {
  before(async () => {
    for (const [v, tag] of Object.entries(images)) {
      await execFileAsync('docker', ['build', '-q', '-t', tag, '--label', `${TEST_LABEL}=${scope}`, '--build-arg', `VERSION=${v.slice(1)}`, TICKER], { env: { ...process.env, DOCKER_BUILDKIT: '0' } });
    }
    const up = await berth(images.v1, 'compose', '--', 'up', '-d');
    assert.equal(up.code, 0, up.stderr);
  });
  after(async () => {
    await berth(images.v1, 'compose', '--', 'down', '-v', '-t', '1').catch(() => undefined);
    if (engine) {
      await removeLabelled(engine, scope);
      for (const tag of Object.values(images)) await engine.docker.getImage(tag).remove({ force: true }).catch(() => undefined);
      for (const i of await engine.docker.listImages({ filters: { reference: [`berth-keep/${project}-*`] } })) for (const t of i.RepoTags ?? []) await engine.docker.getImage(t).remove({ noprune: true }).catch(() => undefined);
    }
    rmSync(stateDir, { recursive: true, force: true });
  });

  test('--follow across a berth rollout: both versions, time-ordered, no line lost; the removed replica\'s last lines kept', async () => {
    const [old] = await listServiceContainers(engine!, project, { services: ['ticker'] });
    const follower = spawn(process.execPath, [BERTH_BIN, '-f', FIXTURE, '-p', project, 'logs', '--follow', '--json', 'ticker'], { env: { ...process.env, ...env(images.v1) }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    follower.stdout.on('data', (d) => (out += d));
    follower.stderr.on('data', (d) => (err += d));
    const exited = new Promise<number | null>((resolve) => follower.on('close', resolve));
    try {
      await sleep(1500);
      const rollout = await berth(images.v2, 'rollout', 'ticker');
      assert.equal(rollout.code, 0, rollout.stderr);
      await sleep(1500);
    } finally {
      follower.kill('SIGINT');
    }
    assert.equal(await exited, 0, err);
    const lines = out.trim().split('\n').map((l) => JSON.parse(l) as JsonLine);
    const [current] = await listServiceContainers(engine!, project, { services: ['ticker'] });
    assert.notEqual(current!.id, old!.id, 'the rollout replaced the replica');
    const containers = [...new Set(lines.map((l) => l.container))];
    assert.deepEqual(containers.sort(), [old!.name, current!.name].sort(), 'lines of the old and the new replica');
    for (let i = 1; i < lines.length; i++) assert.ok(lines[i - 1]!.time <= lines[i]!.time, `time order at line ${i}: ${lines[i - 1]!.time} > ${lines[i]!.time}`);
    const oldNs = numbers(lines, old!.name);
    const newNs = numbers(lines, current!.name);
    assertContiguous(oldNs, 'old replica');
    assertContiguous(newNs, 'new replica');
    assert.equal(newNs[0], 0, 'the new replica from its first line');
    const stopping = lines.find((l) => l.container === old!.name && l.message === 'stopping');
    assert.ok(stopping, 'the old replica\'s last line (written on SIGTERM) arrived');
    assert.equal(Number(stopping.fields.last), oldNs[oldNs.length - 1], 'and no tick after the last one followed was lost');
    assert.ok(lines.filter((l) => l.container === old!.name).every((l) => /version[=":]+1\b/.test(l.text)));
    assert.ok(lines.filter((l) => l.container === current!.name).every((l) => /version[=":]+2\b/.test(l.text)));
    // Versions overlap in time (start-first rollout), and the old one's lines end before the stream ends.
    const lastOld = lines.map((l) => l.container).lastIndexOf(old!.name);
    assert.ok(lines.findIndex((l) => l.container === current!.name) < lastOld, 'the two versions overlap');

    // The old replica is gone from the engine; its last lines are still there.
    const again = await berth(images.v2, 'logs', '--json', 'ticker');
    assert.equal(again.code, 0, again.stderr);
    const kept = again.stdout.trim().split('\n').map((l) => JSON.parse(l) as JsonLine).filter((l) => l.container === old!.name);
    assert.ok(kept.length >= 100 && kept.every((l) => l.removed), `the removed replica's last lines, marked removed (${kept.length})`);
    assert.equal(kept[kept.length - 1]!.message, 'stopping');
    assertContiguous(numbers(kept as JsonLine[], old!.name), 'kept lines');
  });

  test('rendering: pino, bunyan, logfmt readable, plain untouched; --level, --grep, --tail', async () => {
    const result = await berth(images.v2, 'logs', 'ticker', '--no-removed', '--tail', '8');
    assert.equal(result.code, 0, result.stderr);
    const lines = result.stdout.trim().split('\n');
    assert.equal(lines.length, 8);
    const body = lines.map((l) => l.slice(l.indexOf('| ') + 2));
    assert.ok(body.some((l) => /^INFO  tick n=\d+ version=2$/.test(l)), body.join('\n'));
    assert.ok(body.some((l) => /^INFO  tick name=ticker n=\d+ version=2$/.test(l)), 'bunyan: ' + body.join('\n'));
    assert.ok(body.some((l) => /^INFO  tick tock n=\d+ version=2$/.test(l)), 'logfmt: ' + body.join('\n'));
    assert.ok(body.some((l) => /^plain tick n=\d+ version=2$/.test(l)), 'plain untouched: ' + body.join('\n'));
    assert.match(lines[0]!, /^ticker_\d+ +\| /, 'Compose v1 naming without the project prefix');

    const warn = await berth(images.v2, 'logs', 'ticker', '--json', '--level', 'warn');
    const warnLines = warn.stdout.trim().split('\n').map((l) => JSON.parse(l) as JsonLine);
    assert.ok(warnLines.length >= 1 && warnLines.every((l) => l.level === 'warn' && l.message === 'stopping' && l.removed), warn.stdout);
    const grep = await berth(images.v2, 'logs', 'ticker', '--json', '--no-removed', '--grep', 'n=7 ');
    assert.deepEqual(grep.stdout.trim().split('\n').map((l) => (JSON.parse(l) as JsonLine).text), ['plain tick n=7 version=2']);
    const bad = await berth(images.v2, 'logs', 'ticker', '--level', 'loud');
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^berth: option '--level <level>' argument 'loud' is invalid\. expected one of trace, debug, info, warn, error, fatal\n/);
  });
});

