import { spawn, execFile } from 'node:child_process';
import { accessSync, constants, realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { BerthError, ExitCode } from '../lib/errors.js';
import type { ComposeOptions } from './types.js';

const execFileAsync = promisify(execFile);

/** Which Compose CLI runs the project: the v2 plugin (`docker compose`) or v1 (`docker-compose`). */
export interface ComposeCli {
  kind: 'v1' | 'v2';
  /** argv prefix, e.g. ['docker', 'compose'] or ['docker-compose']. */
  command: string[];
  version: string;
}

/** The selection flags Compose takes, from the options berth was given (pure). */
export interface ComposeSelection {
  files: string[];
  projectName: string;
  projectDirectory?: string;
  envFiles?: string[];
  profiles?: string[];
}

/**
 * Global args for a Compose invocation (pure), so Compose sees the same project berth loaded.
 * v1 takes --profile since 1.28 and --env-file since 1.25; both are placed before the subcommand.
 */
export function composeGlobalArgs(selection: ComposeSelection): string[] {
  const args: string[] = [];
  for (const file of selection.files) args.push('-f', file);
  args.push('-p', selection.projectName);
  if (selection.projectDirectory) args.push('--project-directory', selection.projectDirectory);
  for (const envFile of selection.envFiles ?? []) args.push('--env-file', envFile);
  for (const profile of selection.profiles ?? []) args.push('--profile', profile);
  return args;
}

/** Scale-up of a service beside its running replicas, without touching dependencies (pure). */
export function scaleUpArgs(cli: ComposeCli, service: string, replicas: number): string[] {
  // v2 warns that --scale with `up` is fine; v1 has both --scale and --no-recreate too.
  const args = ['up', '-d', '--no-deps', '--no-recreate', '--scale', `${service}=${replicas}`];
  if (cli.kind === 'v1') args.push('--no-color');
  args.push(service);
  return args;
}

let detected: Promise<ComposeCli> | undefined;

/** Where detection remembers what a standalone Compose binary said its version was: the state store. */
export interface FactMemory {
  fact(key: string): string | undefined;
  remember(key: string, value: string): void;
}

/**
 * Finds `docker compose` (preferred) or `docker-compose`; BERTH_COMPOSE can force one ("docker compose").
 * With `memory`, a standalone binary's version is remembered per file (see `binaryFactKey`): v1 is
 * Python and takes ~0.3 s to say it, on the critical path of every rollout. The plugin's Go answer
 * (~20 ms) is asked each time, so installing the plugin later still makes berth prefer it.
 */
export function detectComposeCli(env: Record<string, string | undefined> = process.env, memory?: FactMemory): Promise<ComposeCli> {
  detected ??= (async () => {
    const forced = env.BERTH_COMPOSE?.trim();
    const candidates = forced ? [forced.split(/\s+/)] : [['docker', 'compose'], ['docker-compose']];
    for (const command of candidates) {
      const version = await composeVersion(command, env, memory);
      if (version) return { kind: version.startsWith('1.') ? 'v1' : 'v2', command, version } satisfies ComposeCli;
    }
    throw new BerthError('no Docker Compose found: install the compose plugin (docker compose) or docker-compose', { exitCode: ExitCode.engine });
  })();
  return detected;
}

/** What a Compose command says its version is (memory: see `detectComposeCli`); undefined when it does not run. */
export async function composeVersion(command: string[], env: Record<string, string | undefined>, memory?: FactMemory): Promise<string | undefined> {
  const [bin, ...rest] = command;
  const file = memory && rest.length === 0 ? findOnPath(bin!, env.PATH) : undefined;
  const key = file ? binaryFactKey(file) : undefined;
  const known = key ? safely(() => memory!.fact(key)) : undefined;
  if (known) return known;
  try {
    // The file found is the one asked, so the answer remembered is that file's.
    const { stdout } = await execFileAsync(file ?? bin!, [...rest, 'version', '--short'], { timeout: 10_000 });
    const version = stdout.trim().replace(/^v/, '');
    if (version && key) safely(() => memory!.remember(key, version));
    return version || undefined;
  } catch {
    return undefined; // not this one
  }
}

/** A remembered fact is a shortcut only: a store that cannot answer costs the slow way, never the command. */
function safely<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch {
    return undefined;
  }
}

/** The file a command name runs: itself when it holds a slash, else the first executable match on PATH. */
export function findOnPath(bin: string, path: string | undefined): string | undefined {
  const dirs = bin.includes('/') ? [''] : (path ?? '').split(':').filter(Boolean);
  for (const dir of dirs) {
    const candidate = dir ? join(dir, bin) : bin;
    try {
      accessSync(candidate, constants.X_OK);
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** The key a binary's answer is remembered under: another file at the path, or the same one changed (an upgrade), gives another key. */
export function binaryFactKey(file: string): string | undefined {
  try {
    const real = realpathSync(file);
    const stat = statSync(real);
    return `compose-version:${real}:${stat.size}:${Math.round(stat.mtimeMs)}:${stat.ino}`;
  } catch {
    return undefined;
  }
}

export interface ComposeRunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs Compose with the project's selection flags. Output is captured; `onOutput` sees it live.
 * A non-zero exit becomes a BerthError unless `allowFailure`.
 */
export async function runCompose(
  cli: ComposeCli,
  selection: ComposeSelection,
  args: string[],
  options: { env?: Record<string, string | undefined>; timeoutMs?: number; allowFailure?: boolean; onOutput?: (chunk: string) => void; onStderr?: (chunk: string) => void; signal?: AbortSignal } = {},
): Promise<ComposeRunResult> {
  const [bin, ...prefix] = cli.command;
  const argv = [...prefix, ...composeGlobalArgs(selection), ...args];
  return new Promise((resolve, reject) => {
    const child = spawn(bin!, argv, {
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      signal: options.signal,
      timeout: options.timeoutMs,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d; options.onOutput?.(String(d)); });
    child.stderr.on('data', (d: Buffer) => { stderr += d; (options.onStderr ?? options.onOutput)?.(String(d)); });
    child.on('error', (error) => reject(new BerthError(`cannot run ${cli.command.join(' ')}: ${error.message}`, { exitCode: ExitCode.engine, cause: error })));
    child.on('close', (code) => {
      const result = { code: code ?? 1, stdout, stderr };
      if (result.code !== 0 && !options.allowFailure) {
        const last = stderr.trim().split('\n').filter(Boolean).pop() ?? `exit ${result.code}`;
        reject(new BerthError(`${cli.command.join(' ')} ${args[0]} failed: ${last}`, { exitCode: ExitCode.engine }));
      } else resolve(result);
    });
  });
}

/** The selection flags for a loaded project. */
export function selectionOf(project: { name: string; files: string[]; workingDir: string; envFiles: string[]; profiles: string[] }): ComposeSelection {
  return { files: project.files, projectName: project.name, projectDirectory: project.workingDir, envFiles: project.envFiles, profiles: project.profiles };
}

export type { ComposeOptions };

/** Compose bound to one project: the right CLI, the right files, the same selection flags. */
export interface ComposeRunner {
  cli: ComposeCli;
  selection: ComposeSelection;
  /** Fields dropped for Compose v1 (empty on v2). */
  dropped: string[];
  run(args: string[], options?: Parameters<typeof runCompose>[3]): Promise<ComposeRunResult>;
}

export async function composeRunner(project: import('./types.js').ComposeProject, memory?: FactMemory): Promise<ComposeRunner> {
  const cli = await detectComposeCli(process.env, memory);
  const { composeFilesFor, writeRendering } = await import('./render.js');
  const { files, dropped, rendering } = composeFilesFor(cli, project);
  const selection = { ...selectionOf(project), files };
  if (rendering === undefined) return { cli, selection, dropped, run: (args, options) => runCompose(cli, selection, args, options) };
  // Compose v1 reads a rendering (interpolated, secrets included): one per run, removed when Compose is done.
  return {
    cli, selection, dropped,
    run: async (args, options) => {
      const written = writeRendering(project.name, rendering);
      try {
        return await runCompose(cli, { ...selection, files: [written.file] }, args, options);
      } finally {
        written.remove();
      }
    },
  };
}
