/** Test helper: a small stack written to a temporary directory and linted through the real (lenient) loader. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { loadProject } from '../../compose/load.js';
import type { ImageConfigs } from '../image-facts.js';
import { lintProject, type LintResult } from '../run.js';
import type { Finding } from '../types.js';

export interface StackOptions {
  /** Compose files to pass with -f (default: compose.yaml). */
  composeFiles?: string[];
  env?: Record<string, string>;
  /** Local image configs, as the engine would give them (default: none present locally). */
  images?: ImageConfigs;
}

/** Writes `files` (path → text) under a fresh directory, lints, removes the directory. */
export async function lintStack(files: Record<string, string>, options: StackOptions = {}): Promise<LintResult & { dir: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'berth-stack-'));
  try {
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), text);
    }
    const project = await loadProject({ files: (options.composeFiles ?? ['compose.yaml']).map((f) => join(dir, f)), cwd: dir, env: { PATH: process.env.PATH ?? '', ...options.env }, lenient: true });
    return { ...lintProject(project, { images: options.images ?? new Map() }), dir };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** "rule@file:line" (file relative to the stack) of the findings, optionally of some rules only. */
export function where(result: { findings: Finding[]; dir: string }, ...rules: string[]): string[] {
  return result.findings.filter((f) => rules.length === 0 || rules.includes(f.rule)).map((f) => `${f.rule}@${f.location ? `${relative(result.dir, f.location.file)}:${f.location.line}` : '?'}`);
}
