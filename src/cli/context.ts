import type { Command } from 'commander';
import type { ComposeOptions, ComposeProject } from '../compose/types.js';
import type { ComposeRunner } from '../compose/cli.js';
import type { Engine } from '../engine/client.js';
import type { StateStore } from '../state/store.js';
import { createOutput, type Output } from './output.js';

/** Compose's global flags plus berth's own, as every command sees them. */
export interface GlobalOptions {
  file?: string[];
  projectName?: string;
  projectDirectory?: string;
  envFile?: string[];
  profile?: string[];
  json?: boolean;
  debug?: boolean;
  color?: boolean;
}

export function globalOptions(command: Command): GlobalOptions {
  return command.optsWithGlobals<GlobalOptions>();
}

export function composeOptions(options: GlobalOptions): ComposeOptions {
  return {
    files: options.file,
    projectName: options.projectName,
    projectDirectory: options.projectDirectory,
    envFiles: options.envFile,
    profiles: options.profile,
  };
}

/**
 * Every warning of the compose loader reaches the user, with file:line (unknown x-berth keys, unset
 * variables, the obsolete version key...): on stderr, so --json output stays clean.
 */
export function warnAbout(output: Output, project: ComposeProject): ComposeProject {
  printWarnings(output, project.warnings);
  return project;
}

/** Loads a project and prints its warnings, also those of a load that then fails. */
export async function loadWarned(output: Output, load: () => Promise<ComposeProject>): Promise<ComposeProject> {
  try {
    return warnAbout(output, await load());
  } catch (error) {
    printWarnings(output, (error as { warnings?: string[] }).warnings);
    throw error;
  }
}

function printWarnings(output: Output, warnings: string[] = []): void {
  for (const warning of warnings) output.note(output.paint.yellow(`berth: warning: ${warning}`));
}

/** What a command needs, loaded lazily so each command pays only for what it uses. */
export interface CommandContext {
  options: GlobalOptions;
  output: Output;
  project(): Promise<ComposeProject>;
  engine(): Promise<Engine>;
  store(): Promise<StateStore>;
  /** Compose bound to the project; the state store remembers the CLI's version (when it opens). */
  compose(): Promise<ComposeRunner>;
}

export function createContext(command: Command): CommandContext {
  const options = globalOptions(command);
  const output = createOutput({ json: options.json, color: options.color === false ? false : undefined });
  let project: Promise<ComposeProject> | undefined;
  let engine: Promise<Engine> | undefined;
  let store: Promise<StateStore> | undefined;
  let compose: Promise<ComposeRunner> | undefined;
  const context: CommandContext = {
    options,
    output,
    project: () => (project ??= loadWarned(output, async () => (await import('../compose/load.js')).loadProject(composeOptions(options)))),
    engine: () => (engine ??= import('../engine/client.js').then((m) => m.Engine.connect())),
    store: () => (store ??= import('../state/store.js').then((m) => m.StateStore.open())),
    compose: () =>
      (compose ??= Promise.all([import('../compose/cli.js'), context.project(), context.store().catch(() => undefined)]).then(([m, project, memory]) => m.composeRunner(project, memory))),
  };
  return context;
}

/** Wraps a command action: builds the context and returns the exit code the action chose. */
export function action<A extends unknown[]>(fn: (ctx: CommandContext, ...args: A) => Promise<number | void>) {
  return async (...args: unknown[]) => {
    const command = args[args.length - 1] as Command;
    const ctx = createContext(command);
    const code = await fn(ctx, ...(args.slice(0, -1) as A));
    if (typeof code === 'number' && code !== 0) process.exitCode = code;
  };
}
