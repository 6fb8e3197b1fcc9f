/**
 * The precision set: the realistic stacks of test/stacks (one directory each, loaded as Compose
 * discovers it: compose.yaml plus compose.override.yaml, the .env) and the single-file corpus of
 * test/corpus, each linted as `berth check` does with no local images. Beside each sits the
 * reviewed list of its findings (expected.txt / expected/NAME.txt).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadProject } from '../../compose/load.js';
import { lintProject } from '../run.js';
import type { Finding } from '../types.js';

export const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const STACKS = join(REPO, 'test/stacks');
const CORPUS = join(REPO, 'test/corpus');
export const ENV = { PATH: process.env.PATH ?? '', POSTGRES_PASSWORD: 'from-env' };

export interface Stack {
  name: string;
  /** Directory findings are shown relative to. */
  dir: string;
  /** -f files (corpus) or none (discovery in dir). */
  files: string[];
  /** The reviewed findings file. */
  expectedFile: string;
}

export function listStacks(): Stack[] {
  const stacks = readdirSync(STACKS, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => ({ name: d.name, dir: join(STACKS, d.name), files: [], expectedFile: join(STACKS, d.name, 'expected.txt') }));
  const corpus = readdirSync(CORPUS).filter((f) => f.endsWith('.yaml')).map((f) => ({ name: `corpus/${f.replace(/\.yaml$/, '')}`, dir: CORPUS, files: [join(CORPUS, f)], expectedFile: join(CORPUS, 'expected', f.replace(/\.yaml$/, '.txt')) }));
  return [...stacks.sort((a, b) => a.name.localeCompare(b.name)), ...corpus.sort((a, b) => a.name.localeCompare(b.name))];
}

export async function lintStackDir(stack: Stack): Promise<Finding[]> {
  const project = await loadProject({ files: stack.files, cwd: stack.dir, env: ENV, lenient: true });
  return lintProject(project, { images: new Map() }).findings;
}

/** One line per finding: `rule file:line service`, the key the review is recorded against. */
export function findingKey(stack: Stack, f: Finding): string {
  return `${f.rule} ${f.location ? `${relative(stack.dir, f.location.file)}:${f.location.line}` : '?'} ${f.service ?? '-'}`;
}

export interface Review { key: string; verdict: 'ok' | 'wrong'; note: string }

/** expected.txt: `KEY | ok` or `KEY | wrong: why`, `#` comments. */
export function readReviews(stack: Stack): Review[] {
  if (!existsSync(stack.expectedFile)) return [];
  return readFileSync(stack.expectedFile, 'utf8').split('\n').filter((l) => l.trim() && !l.startsWith('#')).map((l) => {
    const [key, rest = ''] = l.split(' | ');
    const verdict = rest.startsWith('wrong') ? 'wrong' : 'ok';
    return { key: key!.trim(), verdict, note: rest.replace(/^(ok|wrong):?\s*/, '') };
  });
}
