import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { runBerth, type CliResult } from '../testing/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'berth-bad-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const fixture = fileURLToPath(new URL('../../src/status/fixtures/compose.yaml', import.meta.url));

/** One clear line on stderr, no stack trace, a non-zero exit. */
function assertOneLineError(result: CliResult, pattern: RegExp): void {
  assert.notEqual(result.code, 0);
  const lines = result.stderr.trim().split('\n').filter((l) => !l.startsWith('hint:'));
  assert.equal(lines.length, 1, `one line expected, got:\n${result.stderr}`);
  assert.match(lines[0]!, pattern);
  assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
}

test('a missing compose file', async () => {
  const result = await runBerth(['-f', join(dir, 'nope.yaml'), 'status']);
  assertOneLineError(result, /^berth: .*nope\.yaml/);
  assert.equal(result.code, 2);
});

test('no compose file in the directory', async () => {
  const result = await runBerth(['status'], { cwd: dir });
  assertOneLineError(result, /^berth: no compose file found/);
});

test('invalid YAML points at file:line', async () => {
  const file = join(dir, 'broken.yaml');
  writeFileSync(file, 'services:\n  app:\n    image: [unclosed\n');
  const result = await runBerth(['-f', file, 'status']);
  assertOneLineError(result, /broken\.yaml:\d+:\d+/);
});

test('an unknown service', async () => {
  const result = await runBerth(['-f', fixture, 'status', 'nope']);
  assertOneLineError(result, /^berth: no such service: nope/);
  assert.equal(result.code, 2);
});

test('an unreachable engine', async () => {
  const result = await runBerth(['-f', fixture, 'status'], { env: { DOCKER_HOST: 'unix:///nonexistent/docker.sock' } });
  assertOneLineError(result, /^berth: cannot reach the Docker engine at unix:\/\/\/nonexistent\/docker\.sock: no such socket/);
  assert.equal(result.code, 3);
});

test('an unknown option is a usage error', async () => {
  const result = await runBerth(['status', '--bogus']);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /unknown option '--bogus'/);
});

test('--debug shows the stack for the same error', async () => {
  const result = await runBerth(['-f', join(dir, 'nope.yaml'), '--debug', 'status']);
  assert.notEqual(result.code, 0);
  assert.match(result.stderr, /\n\s+at /);
});

test('a reader that goes away (berth --help | head -1): a quiet exit 0, no EPIPE trace', async () => {
  const { spawn } = await import('node:child_process');
  const { BERTH_BIN } = await import('../testing/cli.js');
  const child = spawn(process.execPath, [BERTH_BIN, '--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  // Our end closed before berth writes: its write meets a closed pipe.
  child.stdout.destroy();
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  assert.equal(code, 0, stderr);
  assert.doesNotMatch(stderr, /EPIPE|\n\s+at /);
});

test('issue 17: --env-file is berth\'s flag, run through the installed bin (node must not take it)', async () => {
  const { execFile } = await import('node:child_process');
  const { BERTH_BIN } = await import('../testing/cli.js');
  // As a user runs it: the bin file itself (its shebang), not `node bin/berth.js`.
  const run = (args: string[]) => new Promise<CliResult>((resolve) => {
    execFile(BERTH_BIN, args, { cwd: dir, env: { ...process.env, NO_COLOR: '1' } }, (error, stdout, stderr) => resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }));
  });
  writeFileSync(join(dir, 'compose.yaml'), 'services:\n  app:\n    image: local/busybox:${TAG}\n');
  const missing = await run(['--env-file', 'nope.env', 'check']);
  assertOneLineError(missing, /^berth: env file .*nope\.env not found/);
  assert.equal(missing.code, 2);
  writeFileSync(join(dir, 'prod.env'), 'TAG=1\n');
  const given = await run(['--env-file', 'prod.env', 'check', '--json']);
  assert.doesNotMatch(given.stderr, /^node:|variable is not set/m, given.stderr);
  const without = await run(['check', '--json']);
  assert.match(without.stderr, /the "TAG" variable is not set/, 'control: without the env file the variable is unset');
  rmSync(join(dir, 'compose.yaml'));
});

test('issue 17: bad flag values are refused up front, one line, exit 2 (durations > 0, numbers, ports, drain strategies)', async () => {
  const cases: Array<[string[], RegExp]> = [
    [['rollout', 'app', '--timeout', '0s'], /'--timeout <duration>' argument '0s' is invalid\. expected a duration above 0/],
    [['history', '--limit', 'abc'], /'--limit <n>' argument 'abc' is invalid\. expected a whole number/],
    [['rollout', 'app', '--drain', 'readyness:3s'], /unknown drain strategy "readyness" \(did you mean "readiness"\?\); a drain is .*readiness/],
    [['agent', '--listen', '127.0.0.1:80800'], /expected a port from 1 to 65535, got "80800"/],
    [['up', '--timeout', '0s'], /above 0/],
    [['rollback', 'app', '--to', 'latest'], /'--to <id>' argument 'latest' is invalid/],
  ];
  for (const [args, pattern] of cases) {
    // A dead engine: a value checked late would end in an engine error (exit 3) instead.
    const result = await runBerth(['-f', fixture, ...args], { env: { DOCKER_HOST: 'unix:///nonexistent/docker.sock' } });
    assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
    assertOneLineError(result, pattern);
  }
});

test('issue 17: check host against a dead engine exits 3 with the reason; --format github|junit|sarif are honoured', async () => {
  const dead = await runBerth(['check', 'host'], { env: { DOCKER_HOST: 'unix:///nonexistent/docker.sock' } });
  assert.equal(dead.code, 3, dead.stderr);
  assertOneLineError(dead, /^berth: cannot reach the Docker engine at unix:\/\/\/nonexistent\/docker\.sock/);
  assert.match(dead.stdout, /could not be determined/);
  const github = await runBerth(['check', 'host', '--format', 'github'], { env: { DOCKER_HOST: 'unix:///nonexistent/docker.sock' } });
  assert.doesNotMatch(github.stdout, /passed, .* failed/);
  for (const line of github.stdout.trim().split('\n').filter(Boolean)) assert.match(line, /^::(error|warning|notice) title=berth host\//);
  const junit = await runBerth(['check', 'host', '--format', 'junit'], { env: { DOCKER_HOST: 'unix:///nonexistent/docker.sock' } });
  assert.match(junit.stdout, /^<\?xml/);
  const sarif = await runBerth(['check', 'host', '--format', 'sarif'], { env: { DOCKER_HOST: 'unix:///nonexistent/docker.sock' } });
  assert.equal((JSON.parse(sarif.stdout) as { version: string }).version, '2.1.0');
});
