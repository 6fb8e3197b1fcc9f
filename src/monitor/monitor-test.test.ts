/**
 * `berth monitor test` through the real CLI against real HTTP receivers (no engine needed), and
 * x-berth monitor's validation with file:line.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { runBerth } from '../testing/cli.js';
import type { Notification } from './notify.js';
import { startHttpReceiver } from './receivers.testkit.js';

test('berth monitor test: each channel reported; a receiver answering 500 is retried, then the exit code says so', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-monitor-test-'));
  const ok = await startHttpReceiver();
  const ntfy = await startHttpReceiver({ ntfy: true });
  const broken = await startHttpReceiver({ status: 500 });
  try {
    writeFileSync(join(dir, 'compose.yaml'), `
x-berth:
  monitor:
    notify:
      - { type: webhook, name: ops, url: "${ok.url('/hook')}" }
      - { type: ntfy, url: "${ntfy.url('/alerts')}" }
      - { type: webhook, name: broken, url: "${broken.url('/x')}" }
services:
  web: { image: local/busybox:latest }
`);
    const run = await runBerth(['-f', join(dir, 'compose.yaml'), '--json', 'monitor', 'test'], { timeoutMs: 60_000 });
    assert.equal(run.code, 1, run.stderr);
    const report = JSON.parse(run.stdout) as { results: Array<{ channel: string; ok: boolean; attempts: number; error: string | null }> };
    assert.deepEqual(report.results.map((r) => [r.channel, r.ok, r.attempts]), [['ops', true, 1], ['ntfy', true, 1], ['broken', false, 3]]);
    assert.match(report.results[2]!.error!, /HTTP 500/);
    const body = JSON.parse(ok.requests[0]!.body) as Notification;
    assert.equal(body.kind, 'test');
    assert.equal(ntfy.requests[0]!.headers.title, `[TEST] ${body.group}: berth monitor test`);
    assert.equal(broken.requests.length, 3, 'two retries');
    // One channel only, no retry: exit 0.
    const one = await runBerth(['-f', join(dir, 'compose.yaml'), 'monitor', 'test', '--channel', 'ops', '--no-retry'], { timeoutMs: 30_000 });
    assert.equal(one.code, 0, one.stderr);
    assert.match(one.stdout, /✓ ops \(webhook\) http:\/\/127\.0\.0\.1:\d+\/hook: delivered/);
    const unknown = await runBerth(['-f', join(dir, 'compose.yaml'), 'monitor', 'test', '--channel', 'nope'], { timeoutMs: 30_000 });
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /no channel named nope/);
  } finally {
    await Promise.all([ok.close(), ntfy.close(), broken.close()]);
    rmSync(dir, { recursive: true, force: true });
  }
});

test('x-berth monitor: a bad URL is an error at file:line; no channel is exit 2', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-monitor-cfg-'));
  try {
    writeFileSync(join(dir, 'compose.yaml'), `x-berth:
  monitor:
    notify:
      - { type: email, smtp: "mail.example.com:587", from: a@example.com, to: b@example.com }
services:
  web: { image: local/busybox:latest }
`);
    const bad = await runBerth(['-f', join(dir, 'compose.yaml'), 'monitor', 'test'], { timeoutMs: 30_000 });
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(bad.stderr, /compose\.yaml:4:\d+: x-berth\.monitor\.notify\[0\]\.smtp must be an smtp:\/\/ or smtps:\/\/ URL/);
    assert.equal(bad.stderr.trim().split('\n').length <= 2, true, 'one line (and a hint)');
    writeFileSync(join(dir, 'compose.yaml'), 'services:\n  web: { image: local/busybox:latest }\n');
    const none = await runBerth(['-f', join(dir, 'compose.yaml'), 'monitor', 'test'], { timeoutMs: 30_000 });
    assert.equal(none.code, 2);
    assert.match(none.stderr, /no notification channel configured/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
