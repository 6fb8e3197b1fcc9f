/**
 * CLI conformance (issue 17): walks every command and subcommand the program registers, so new
 * commands are covered as soon as they are registered.
 * - `--help` works and has examples; every example line parses with the real option parsers
 *   (pasted as is: descriptions after `#`), and names a registered command.
 * - A bad flag value (every option with a value parser), an unknown service (every command whose
 *   argument is a service) and a dead engine give the documented exit code and one line on stderr
 *   (plus an optional `hint:` line), never a stack trace or an internal error.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { Command, CommanderError, type Option } from 'commander';
import { buildProgram } from './program.js';
import { VALIDATES } from './values.js';
import { runBerth, type CliResult } from '../testing/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'berth-conformance-'));
after(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(join(dir, 'compose.yaml'), 'services:\n  app:\n    image: local/busybox:latest\n    command: ["sleep", "600"]\n');
const DEAD = 'unix:///nonexistent/berth-conformance.sock';
const DOCUMENTED = new Set([0, 1, 2, 3, 4, 130]);

/** Every command under the program, with its path (`check shutdown`). */
function walk(command: Command, path: string[] = []): Array<{ command: Command; path: string[] }> {
  return command.commands.flatMap((c) => [{ command: c, path: [...path, c.name()] }, ...walk(c, [...path, c.name()])]);
}

const commands = walk(buildProgram());
const leaves = commands.filter(({ command }) => command.commands.length === 0);

function helpOf(command: Command): string {
  let text = '';
  command.configureOutput({ writeOut: (s) => (text += s), writeErr: (s) => (text += s) });
  command.outputHelp();
  return text;
}

/** The example lines of a help text: `berth …` lines under "Examples:". */
function examplesOf(help: string): string[] {
  const section = help.split(/^Examples:$/m)[1];
  if (!section) return [];
  return section.split('\n').map((l) => l.trim()).filter((l) => l.startsWith('berth ') || l === 'berth');
}

/** Shell words of an example as a user pastes it: a `#` comment and redirections/pipes end it. */
function words(line: string): string[] {
  const out: string[] = [];
  const re = /"([^"]*)"|'([^']*)'|(\S+)/g;
  for (const m of line.matchAll(re)) {
    const word = m[1] ?? m[2] ?? m[3]!;
    if (m[3] !== undefined && (/^#/.test(word) || ['>', '>>', '|', '&&', ';', '2>', '2>&1'].includes(word))) break;
    out.push(word);
  }
  return out.slice(1); // without "berth"
}

/** Parses argv with the real program, every action replaced by one that only checks leftovers. */
async function parses(argv: string[]): Promise<{ ok: boolean; error?: string; path?: string }> {
  const program = buildProgram();
  let reached: string | undefined;
  const silence = (c: Command) => {
    c.configureOutput({ writeOut: () => undefined, writeErr: () => undefined, outputError: () => undefined });
    for (const sub of c.commands) silence(sub);
  };
  silence(program);
  for (const { command, path } of walk(program)) {
    if (command.commands.length) continue;
    command.action((...args: unknown[]) => {
      const cmd = args[args.length - 1] as Command;
      // Commands that accept extra words on purpose (check's default) would report them at run time.
      if (cmd.registeredArguments.length === 0 && cmd.args.length) throw new Error(`unexpected argument(s) ${cmd.args.join(' ')}`);
      reached = path.join(' ');
    });
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
    return { ok: reached !== undefined, path: reached, error: reached ? undefined : 'no command ran' };
  } catch (error) {
    if (error instanceof CommanderError && error.exitCode === 0) return { ok: true, path: 'help' };
    return { ok: false, error: error instanceof Error ? error.message : String(error) };
  }
}

/** Fills a command's required arguments with placeholders (a service for service arguments). */
function requiredArgs(command: Command, service = 'app'): string[] {
  return command.registeredArguments.filter((a) => a.required).map((a) => (/service/.test(a.name()) ? service : a.name() === 'args' ? 'ps' : `${a.name()}-x`));
}

function assertOneLine(result: CliResult, where: string): void {
  assert.ok(DOCUMENTED.has(result.code), `${where}: exit ${result.code} is not a documented code\n${result.stderr}`);
  assert.doesNotMatch(result.stderr, /\n\s+at |internal error/, `${where}: no stack trace, no internal error\n${result.stderr}`);
  if (result.code === 0) return;
  const lines = result.stderr.trim().split('\n').filter((l) => !/^berth: warning: /.test(l));
  const errors = lines.filter((l) => !l.startsWith('hint:'));
  assert.equal(errors.length, 1, `${where}: one line on stderr (plus an optional hint:), got:\n${result.stderr}`);
  assert.ok(lines.length <= 2, `${where}: at most one hint line:\n${result.stderr}`);
  assert.match(errors[0]!, /^berth( [a-z-]+)?: /, `${where}: the line starts with "berth: "`);
}

const run = (args: string[], env: Record<string, string> = {}) =>
  runBerth(['-f', join(dir, 'compose.yaml'), '-p', 'berthconformance', ...args], { cwd: dir, env: { BERTH_STATE_DIR: join(dir, 'state'), NO_COLOR: '1', ...env }, timeoutMs: 60_000 });

/** Commands that serve until stopped: run with the flag that makes them answer once, or not here. */
const ONCE: Record<string, string[]> = { agent: ['--once'] };
const SERVERS = new Set(['socket-proxy']);

describe('CLI conformance: every registered command', () => {
  test('the walk finds the commands (a guard for the walk itself)', () => {
    const names = commands.map((c) => c.path.join(' '));
    for (const expected of ['status', 'rollout', 'deploy', 'check', 'check host', 'check shutdown', 'backup run']) assert.ok(names.includes(expected), `${expected} in ${names.join(', ')}`);
  });

  test('every command has --help with examples, and every example parses as pasted', async () => {
    const problems: string[] = [];
    for (const { command, path } of [{ command: buildProgram(), path: [] as string[] }, ...commands]) {
      const help = helpOf(command);
      const examples = examplesOf(help);
      if (!examples.length) problems.push(`berth ${path.join(' ')}: no examples in --help`);
      for (const example of examples) {
        // An aligned description without `#` is read as arguments when pasted (a service list takes any word).
        if (/\S\s{2,}[^#\s]/.test(example)) problems.push(`berth ${path.join(' ')} --help: "${example}": put "#" before the description`);
        const argv = words(example);
        const parsed = await parses(argv);
        if (!parsed.ok) problems.push(`berth ${path.join(' ')} --help: "${example}" does not parse: ${parsed.error}`);
      }
    }
    assert.deepEqual(problems, []);
  });

  test('negative control: a description without # is caught, as are unknown options and bad values', async () => {
    assert.equal((await parses(words('berth check   lint ./compose.yaml and the Dockerfiles'))).ok, false);
    assert.equal((await parses(words('berth status --bogus'))).ok, false);
    assert.equal((await parses(words('berth rollout app --timeout 0s'))).ok, false);
    assert.equal((await parses(words('berth check   # lint ./compose.yaml and the Dockerfiles'))).ok, true);
  });

  test('a bad value for any option with a value parser: exit 2, one line, before any work', async () => {
    const cases = leaves.flatMap(({ command, path }) => (command.options as Option[])
      .filter((o) => o.required && o.long && Boolean((o as Option & { parseArg?: Record<symbol, unknown> }).parseArg?.[VALIDATES]))
      .map((o) => ({ where: `berth ${path.join(' ')} ${o.long}`, argv: [...path, ...requiredArgs(command), `${o.long}=bogus!`] })));
    assert.ok(cases.length >= 10, `options with value parsers found: ${cases.length}`);
    for (const c of cases) {
      const result = await run(c.argv, { DOCKER_HOST: DEAD });
      assert.equal(result.code, 2, `${c.where}: ${result.stderr}`);
      assertOneLine(result, c.where);
      assert.match(result.stderr, /argument 'bogus!' is invalid/, c.where);
    }
  });

  test('an unknown service: exit 2, one line, for every command whose argument is a service', async () => {
    const cases = leaves.filter(({ command }) => command.registeredArguments.some((a) => /service/.test(a.name())));
    assert.ok(cases.length >= 5, `commands with service arguments: ${cases.map((c) => c.path.join(' ')).join(', ')}`);
    for (const { command, path } of cases) {
      const argv = [...path, ...requiredArgs(command, 'nosuch'), ...(command.registeredArguments.some((a) => !a.required && /service/.test(a.name())) && !command.registeredArguments.some((a) => a.required) ? ['nosuch'] : [])];
      const result = await run(argv);
      const where = `berth ${argv.join(' ')}`;
      assert.equal(result.code, 2, `${where}: ${result.stderr}`);
      assertOneLine(result, where);
      assert.match(result.stderr, /no such service: nosuch/, where);
    }
  });

  test('a dead engine: the documented code (3 when the engine is needed), one line', async () => {
    for (const { command, path } of leaves) {
      const name = path.join(' ');
      if (SERVERS.has(name)) continue;
      const argv = [...path, ...requiredArgs(command), ...(ONCE[name] ?? [])];
      const result = await run(argv, { DOCKER_HOST: DEAD });
      const where = `berth ${argv.join(' ')} (dead engine)`;
      assertOneLine(result, where);
      // An engine failure as the error (not a note of a command that works without it, as check's image facts): exit 3.
      if (/^berth: .*cannot reach the Docker engine/m.test(result.stderr)) assert.equal(result.code, 3, where);
    }
    // The commands that cannot work without the engine say so, exit 3.
    for (const argv of [['status'], ['up'], ['rollout', 'app'], ['check', 'host'], ['compose', '--', 'ps'], ['check', 'shutdown', 'app']]) {
      const result = await run(argv, { DOCKER_HOST: DEAD });
      assert.equal(result.code, 3, `berth ${argv.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, /cannot reach the Docker engine at unix:\/\/\/nonexistent/);
    }
  });
});
