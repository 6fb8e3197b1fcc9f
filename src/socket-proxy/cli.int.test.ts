// The CLI command end to end in a child process: flags, env, warnings, audit on stdout, SIGTERM.
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { integrationEngine } from '../testing/engine.js';
import { dockerCli } from './testkit.js';

const { skip } = await integrationEngine();
const freePort = () => new Promise<number>((resolve) => { const s = createServer().listen(0, '127.0.0.1', () => { const p = (s.address() as { port: number }).port; s.close(() => resolve(p)); }); });

test('berth socket-proxy --compat --listen: Tecnativa env with its truthiness warning, audit lines, clean SIGTERM', { skip }, async () => {
  const port = await freePort();
  const program = new URL('../cli/commands/socket-proxy.js', import.meta.url).href;
  const script = `
    import { Command } from 'commander';
    import { registerSocketProxy } from ${JSON.stringify(program)};
    const cli = new Command('berth').option('--json');
    registerSocketProxy(cli);
    await cli.parseAsync(process.argv.slice(1), { from: 'user' });`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script, '--', 'socket-proxy', '--compat', '--listen', `127.0.0.1:${port}`], {
    env: { ...process.env, CONTAINERS: '1', IMAGES: 'true' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d));
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  try {
    for (let i = 0; i < 100 && !stderr.includes('listening'); i++) await sleep(50);
    assert.match(stderr, /IMAGES=true means OFF/);
    assert.match(stderr, /\(compat\) listening on 127\.0\.0\.1:\d+/);
    const host = `tcp://127.0.0.1:${port}`;
    assert.equal((await dockerCli(host, ['ps'])).code, 0);
    assert.notEqual((await dockerCli(host, ['images'])).code, 0, 'IMAGES=true is off in compat mode');
    await sleep(200);
    const lines = stdout.trim().split('\n').map((l) => JSON.parse(l) as { verdict: string; path: string; rule: string });
    assert.ok(lines.some((l) => l.verdict === 'allow' && l.path.endsWith('/containers/json') && l.rule === 'CONTAINERS'));
    assert.ok(lines.some((l) => l.verdict === 'deny' && l.path.endsWith('/images/json')));
  } finally {
    child.kill('SIGTERM');
  }
  assert.equal(await exited, 0);
});
