import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { registerCheckShutdown } from '../cli/commands/check-shutdown.js';
import { buildProgram } from '../cli/program.js';

/** The program as the CLI builds it, with `check shutdown` registered (if the CLI does not already). */
function program(): Command {
  const p = buildProgram();
  const check = p.commands.find((c) => c.name() === 'check')!;
  if (!check.commands.some((c) => c.name() === 'shutdown')) registerCheckShutdown(check);
  return p;
}

async function capture(args: string[]): Promise<{ out: string; code: number | undefined }> {
  const write = process.stdout.write.bind(process.stdout);
  let out = '';
  // The CLI writes strings; the test runner reports through the same stdout with buffers: let those pass.
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    if (typeof chunk !== 'string') return (write as (...a: unknown[]) => boolean)(chunk, ...rest);
    out += chunk;
    return true;
  }) as typeof process.stdout.write;
  const before = process.exitCode;
  try {
    process.exitCode = undefined;
    await program().parseAsync(['node', 'berth', ...args]);
    return { out, code: process.exitCode === undefined ? undefined : Number(process.exitCode) };
  } finally {
    process.stdout.write = write;
    process.exitCode = before;
  }
}

test('registers `shutdown <service>` with its options and an example', () => {
  const check = new Command('check');
  registerCheckShutdown(check);
  const shutdown = check.commands.find((c) => c.name() === 'shutdown')!;
  assert.ok(shutdown);
  assert.deepEqual(shutdown.options.map((o) => o.long), ['--in-place', '--requests', '--json', '--dry-run']);
  let help = '';
  shutdown.configureOutput({ writeOut: (s) => (help += s) });
  shutdown.outputHelp();
  assert.match(help, /berth check shutdown app --requests 50 --json/);
});

test('--dry-run prints the plan from the compose file without an engine; bad --requests is a usage error', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-cs-cli-'));
  try {
    writeFileSync(join(dir, 'compose.yaml'), 'services:\n  app:\n    image: local/node:latest\n    stop_grace_period: 5s\n    ports: ["127.0.0.1::3000"]\n');
    const { out, code } = await capture(['-f', join(dir, 'compose.yaml'), '--json', 'check', 'shutdown', 'app', '--dry-run', '--requests', '10']);
    assert.equal(code ?? 0, 0);
    const plan = JSON.parse(out) as { service: string; plan: Array<{ kind: string; description: string }> };
    assert.equal(plan.service, 'app');
    assert.match(plan.plan.find((s) => s.kind === 'stop')!.description, /t=5$/);
    assert.match(plan.plan.find((s) => s.kind === 'start-requests')!.description, /10 requests\/s/);
    await assert.rejects(capture(['-f', join(dir, 'compose.yaml'), 'check', 'shutdown', 'app', '--requests', 'lots']), /argument 'lots' is invalid\. expected a whole number ≥ 0/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('issue 17: --requests N on a service without a port is refused (it used to send nothing, silently)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-cs-cli-'));
  try {
    writeFileSync(join(dir, 'compose.yaml'), 'services:\n  worker:\n    image: local/busybox:latest\n    command: ["sleep", "600"]\n');
    await assert.rejects(capture(['-f', join(dir, 'compose.yaml'), 'check', 'shutdown', 'worker', '--requests', '50', '--dry-run']), /--requests 50: service worker has no TCP port to send requests to/);
    const { code } = await capture(['-f', join(dir, 'compose.yaml'), '--json', 'check', 'shutdown', 'worker', '--requests', '0', '--dry-run']);
    assert.equal(code ?? 0, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
