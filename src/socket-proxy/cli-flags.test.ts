// `berth socket-proxy` as a host process (issue 17 items 5 and 11): every flag value is checked
// before anything starts (one line, exit 2), the default listener is 127.0.0.1, a public listener
// without a client allow-list is warned about loudly, a missing daemon socket is refused at start,
// and a misspelt Tecnativa variable gets a suggestion. Runs the real CLI (bin/berth.js) against a
// stand-in daemon socket: no engine needed.
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { BERTH_BIN, runBerth, type CliResult } from '../testing/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'berth-sp-cli-'));
const socket = join(dir, 'docker.sock');
let daemon: Server;
before(async () => {
  daemon = createServer((s) => s.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK'));
  await new Promise<void>((resolve) => daemon.listen(socket, resolve));
});
after(async () => {
  await new Promise<void>((resolve) => daemon.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

function assertUsageError(result: CliResult, pattern: RegExp): void {
  assert.equal(result.code, 2, result.stderr);
  const lines = result.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line expected, got:\n${result.stderr}`);
  assert.match(lines[0]!, pattern);
  assert.doesNotMatch(result.stderr, /internal error|\n\s+at /);
}

test('bad flag values: one line, exit 2, before anything starts', async () => {
  const cases: [string[], RegExp, Record<string, string>?][] = [
    [['--listen', '127.0.0.1:80800'], /^berth: socket-proxy: listen address "127\.0\.0\.1:80800": port 80800 is out of range \(0-65535\)$/],
    [['--listen', 'localhost'], /listen address "localhost" is not HOST:PORT/],
    [['--listen', 'unix://relative.sock'], /absolute path/],
    [['--listen', 'bad host!:2375'], /is not an IP address or host name/],
    [['--listen', '[127.0.0.1]:2375'], /is not an IP address or host name/],
    [['--socket', join(dir, 'missing.sock')], /docker socket .*missing\.sock: no such file/],
    [['--socket', dir], /is not a socket/],
    [['--idle-timeout', 'abc'], /invalid --idle-timeout "abc"/],
    [['--idle-timeout', '-5'], /invalid --idle-timeout "-5"/],
    [['--metrics', 'unix:///tmp/m.sock'], /metrics address .* must be HOST:PORT/],
    [['--metrics', '127.0.0.1:99999'], /port 99999 is out of range/],
    [['--policy', join(dir, 'nope.yaml')], /policy file .*nope\.yaml: no such file/],
    [['--policy', dir], /is a directory/],
    [[], /LOG_LEVEL=loud: must be one of/, { LOG_LEVEL: 'loud' }],
    [[], /IDLE_TIMEOUT=soon/, { IDLE_TIMEOUT: 'soon' }],
  ];
  for (const [args, pattern, env] of cases) {
    const withSocket = args.includes('--socket') ? args : [...args, '--socket', socket];
    assertUsageError(await runBerth(['socket-proxy', ...withSocket], { env, timeoutMs: 20_000 }), pattern);
  }
  writeFileSync(join(dir, 'bad.yaml'), 'rules: [\n');
  assertUsageError(await runBerth(['socket-proxy', '--policy', join(dir, 'bad.yaml'), '--socket', socket], { timeoutMs: 20_000 }), /bad\.yaml/);
});

/** Starts the CLI, waits for its "listening" line (or its exit), then stops it. */
async function startCli(args: string[], env: Record<string, string> = {}): Promise<{ stderr: string; code: number | null }> {
  const child = spawn(process.execPath, [BERTH_BIN, 'socket-proxy', '--socket', socket, ...args], { env: { ...process.env, NO_COLOR: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
  for (let i = 0; i < 200 && !/listening on|berth: /.test(stderr) && child.exitCode === null; i++) await new Promise((resolve) => setTimeout(resolve, 50));
  child.kill('SIGTERM');
  return { stderr, code: await exited };
}

test('as a host process the default listener is 127.0.0.1:2375 (the image keeps [::]:2375)', async () => {
  const { stderr } = await startCli([]);
  // Another process may hold 2375 on this shared machine: then the refusal names the same address.
  assert.match(stderr, /listening on 127\.0\.0\.1:2375|cannot listen on 127\.0\.0\.1:2375: address already in use/, stderr);
  assert.doesNotMatch(stderr, /WARNING/);
});

test('a public listener without a client allow-list is warned about loudly; with clients: it is not', async () => {
  const open = await startCli(['--listen', '0.0.0.0:0']);
  assert.match(open.stderr, /WARNING: listening on 0\.0\.0\.0:0 without a client allow-list: anyone who can reach this address gets the Docker API/);
  assert.match(open.stderr, /listening on 0\.0\.0\.0:\d+/);
  const local = await startCli(['--listen', '127.0.0.1:0', '--listen', `unix://${join(dir, 'proxy.sock')}`]);
  assert.doesNotMatch(local.stderr, /WARNING/);
  writeFileSync(join(dir, 'clients.yaml'), 'clients: [10.0.0.0/8]\n');
  const named = await startCli(['--listen', '0.0.0.0:0', '--policy', join(dir, 'clients.yaml')]);
  assert.doesNotMatch(named.stderr, /WARNING/);
  assert.match(named.stderr, /listening on/);
});

test('misspelt or unknown Tecnativa-style variables are warned about with a suggestion', async () => {
  const { stderr } = await startCli(['--listen', '127.0.0.1:0'], { CONTAINRES: '1', NETWROKS: 'true', ALLOW_EXEC: '1', PATH_EXTRA: '/x' });
  assert.match(stderr, /warning: CONTAINRES=1 is not a variable the proxy reads: did you mean CONTAINERS\?/);
  assert.match(stderr, /warning: NETWROKS=true is not a variable the proxy reads: did you mean NETWORKS\?/);
  assert.match(stderr, /warning: ALLOW_EXEC=1 is not a variable the proxy reads/);
  assert.doesNotMatch(stderr, /PATH_EXTRA|HOME=|PATH=/, 'the rest of the environment is left alone');
  assert.match(stderr, /listening on 127\.0\.0\.1:\d+/);
});
