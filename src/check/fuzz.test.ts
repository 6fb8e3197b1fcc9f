/**
 * Fuzz: thousands of compose files mutated from the corpus and the test stacks (keys dropped, types
 * swapped, anchors broken, interpolation malformed, deep nesting, huge scalars, truncation) go
 * through the real loader and every rule. Each gives findings or one clear error line (a
 * BerthError), never another exception (a stack trace for the user) and never a hang. Seeded:
 * BERTH_FUZZ_SEED reproduces a run, BERTH_FUZZ_CASES sets the count.
 */
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { loadProject } from '../compose/load.js';
import { BerthError } from '../lib/errors.js';
import { runBerth } from '../testing/cli.js';
import { lintProject } from './run.js';

const SEED = Number(process.env.BERTH_FUZZ_SEED ?? 20261203);
const CASES = Number(process.env.BERTH_FUZZ_CASES ?? 2000);
/**
 * Time box: the run stops after this long even if not all CASES ran (a shared 2-core machine can
 * be slow), but it must have run MIN_CASES by then; a hang of any one case fails on its own.
 */
const TIME_BOX_MS = Number(process.env.BERTH_FUZZ_TIME_BOX_MS ?? 60_000);
const MIN_CASES = Math.min(CASES, 1000);

const repo = fileURLToPath(new URL('../../', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'berth-fuzz-'));
after(() => rmSync(work, { recursive: true, force: true }));
// The sources are copied with their directories, so env files, Dockerfiles and configs they name are there.
const sources = ['test/corpus', 'test/stacks'].filter((d) => existsSync(join(repo, d))).flatMap((d) => {
  cpSync(join(repo, d), join(work, d), { recursive: true });
  return readdirSync(join(work, d), { recursive: true, encoding: 'utf8' }).filter((f) => /\.ya?ml$/.test(f)).map((f) => ({ dir: dirname(join(work, d, f)), text: readFileSync(join(work, d, f), 'utf8') }));
});

/** mulberry32: small, seeded, good enough to pick mutations. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Json = unknown;
const VALUES: Json[] = [null, 0, -1, 1e21, true, false, '', 'x', '${}', '${UNSET:?required}', [], {}, [null], { '': null }, '0.0.0.0:80:80', 'NaN', '-', '🦄', 'a'.repeat(10_000), [1, 'two', { three: 3 }]];

/** Every [container, key] path of a parsed document. */
function slots(node: Json, out: Array<[Record<string, Json> | Json[], string | number]> = [], depth = 0): Array<[Record<string, Json> | Json[], string | number]> {
  if (depth > 40) return out;
  if (Array.isArray(node)) node.forEach((v, i) => { out.push([node, i]); slots(v, out, depth + 1); });
  else if (node && typeof node === 'object') for (const [k, v] of Object.entries(node)) { out.push([node as Record<string, Json>, k]); slots(v, out, depth + 1); }
  return out;
}

function mutateTree(doc: Json, random: () => number): Json {
  const all = slots(doc);
  const n = 1 + Math.floor(random() * 4);
  for (let i = 0; i < n && all.length; i++) {
    const [parent, key] = all[Math.floor(random() * all.length)]!;
    const pick = random();
    if (pick < 0.5) { if (Array.isArray(parent)) parent.splice(key as number, 1); else delete parent[key as string]; } // drop a key
    else if (pick < 0.88) (parent as Record<string, Json>)[key as string] = structuredClone(VALUES[Math.floor(random() * VALUES.length)]); // swap the type
    else (parent as Record<string, Json>)[key as string] = nest(random() < 0.8 ? 1 + Math.floor(random() * 60) : 150 + Math.floor(random() * 300), random); // deep nesting
  }
  return doc;
}

function nest(depth: number, random: () => number): Json {
  let v: Json = 'leaf';
  for (let i = 0; i < depth; i++) v = random() < 0.5 ? [v] : { [`k${i}`]: v };
  return v;
}

const TEXT_MUTATIONS: Array<(text: string, random: () => number) => string> = [
  // anchors broken: an alias to nothing, an anchor removed, a merge key of a scalar
  (t) => t.replace(/\*([A-Za-z][\w-]*)/, '*undefined_anchor'),
  (t) => t.replace(/&([A-Za-z][\w-]*)/, ''),
  (t) => t.replace(/^(\s+)(image:.*)$/m, '$1<<: *nope\n$1$2'),
  (t) => `x-a: &a\n  <<: *a\n${t}`,
  // interpolation malformed
  (t) => t.replace(/(image:\s*)(\S+)/, '$1${IMAGE'),
  (t) => t.replace(/(image:\s*)(\S+)/, '$1${IMAGE:?the image is required}'),
  (t) => t.replace(/(image:\s*)(\S+)/, '$1${A:-${B:-${C'),
  (t) => t.replace(/(: )(\S)/, '$1$${$2'),
  (t) => t.replace(/(stop_grace_period:\s*)(\S+)/, '$1${GRACE:-banana}'),
  // huge scalars, deep flow nesting, truncation, stray bytes, tabs
  (t) => t.replace(/(image:\s*)(\S+)/, `$1${'a'.repeat(200_000)}`),
  (t) => `${t}\nx-deep: ${'['.repeat(1200)}${']'.repeat(1200)}\n`,
  (t) => `${t}\nx-deep: ${'{a: '.repeat(600)}1${'}'.repeat(600)}\n`,
  (t, r) => t.slice(0, Math.floor(r() * t.length)),
  (t, r) => { const i = Math.floor(r() * t.length); return t.slice(0, i) + String.fromCharCode(Math.floor(r() * 128)) + t.slice(i + 1); },
  (t) => t.replace(/^ {2}/gm, '\t'),
  (t) => t.replace(/services:/, 'services: 42\nservices:'),
  (t) => `${t}\n---\nsecond: document\n`,
  (t) => t.replace(/ports:/, 'ports: !!binary aGVsbG8='),
];

function mutate(text: string, random: () => number): string {
  if (random() < 0.65) {
    let doc: Json;
    try {
      doc = parse(text, { maxAliasCount: 1000 });
      return stringify(mutateTree(doc, random), { aliasDuplicateObjects: false });
    } catch {
      return text; // the test's own YAML round trip gave up (too deep): keep the text
    }
  }
  return TEXT_MUTATIONS[Math.floor(random() * TEXT_MUTATIONS.length)]!(text, random);
}

interface Outcome { kind: 'findings' | 'error'; ms: number; error?: string }

async function lintOne(text: string, dir: string): Promise<Outcome> {
  const file = join(dir, 'fuzzed.compose.yaml');
  writeFileSync(file, text);
  const started = performance.now();
  try {
    const project = await loadProject({ files: [file], cwd: dir, env: { PATH: '', POSTGRES_PASSWORD: 'from-env' }, lenient: true });
    lintProject(project);
    return { kind: 'findings', ms: performance.now() - started };
  } catch (error) {
    if (!(error instanceof BerthError)) throw Object.assign(new Error(`not a clear error: ${(error as Error)?.stack ?? String(error)}`), { text });
    // One line; or, for several x-berth problems (reported at once, issue 17), a header and one line each with file:line:col.
    const [head, ...rest] = error.message.split('\n');
    assert.ok(rest.length === 0 || (/^\d+ x-berth problems:$/.test(head!) && rest.every((l) => /^ {2}\S+:\d+:\d+: \S/.test(l))), `one line: ${error.message}`);
    assert.ok(error.message.length < 2000, `short: ${error.message.slice(0, 200)}...`);
    return { kind: 'error', ms: performance.now() - started, error: error.message.replace(/^[^:]*:\d+:\d+: /, '').replace(/"[^"]*"|\S*\d\S*/g, '…').slice(0, 50) };
  }
}

test(`fuzz: up to ${CASES} mutated compose files (at least ${MIN_CASES}) give findings or one clear error line (seed ${SEED})`, { timeout: TIME_BOX_MS * 4 }, async () => {
  assert.ok(sources.length >= 20, `${sources.length} source files`);
  const random = rng(SEED);
  const counts = { findings: 0, error: 0 };
  let slowest = 0;
  const errors = new Map<string, number>();
  const started = performance.now();
  let ran = 0;
  for (let i = 0; i < CASES && performance.now() - started < TIME_BOX_MS; i++, ran++) {
    const source = sources[Math.floor(random() * sources.length)]!;
    let text = source.text;
    const rounds = 1 + Math.floor(random() * 2);
    for (let r = 0; r < rounds; r++) text = mutate(text, random);
    let outcome: Outcome;
    try {
      outcome = await lintOne(text, source.dir);
    } catch (error) {
      const failed = join(work, '..', `berth-fuzz-failure-${SEED}-${i}.yaml`);
      writeFileSync(failed, (error as { text?: string }).text ?? text);
      throw new Error(`case ${i} (seed ${SEED}, input kept in ${failed}): ${(error as Error).message}`);
    }
    counts[outcome.kind]++;
    if (outcome.error) errors.set(outcome.error, (errors.get(outcome.error) ?? 0) + 1);
    slowest = Math.max(slowest, outcome.ms);
    assert.ok(outcome.ms < 5000, `case ${i} took ${Math.round(outcome.ms)} ms`);
  }
  const total = performance.now() - started;
  process.stderr.write(`fuzz: ${ran} cases in ${Math.round(total)} ms (slowest ${Math.round(slowest)} ms): ${counts.findings} linted, ${counts.error} one-line errors; most common: ${[...errors].sort((a, b) => b[1] - a[1]).slice(0, 6).map(([m, n]) => `${n}× ${m}`).join(' | ')}\n`);
  assert.ok(ran >= MIN_CASES, `only ${ran} cases in ${Math.round(total)} ms`);
  // Both outcomes occur: the mutations reach the rules as well as the loader's checks.
  assert.ok(counts.findings > ran / 10 && counts.error > ran / 10, JSON.stringify(counts));
});

test('fuzz through the CLI: bad input is one line on stderr and exit 2, never a stack trace', async () => {
  const random = rng(SEED + 1);
  const samples = [
    'services:\n  app:\n    image: ${IMAGE:?set IMAGE}\n',
    'services:\n  app: *nowhere\n',
    `services:\n  app:\n    image: x\n    ports: ${'['.repeat(3000)}${']'.repeat(3000)}\n`,
    'services: [1, 2]\n',
    mutate(sources[0]!.text, random),
    mutate(sources[1]!.text, random),
  ];
  for (const [i, text] of samples.entries()) {
    const file = join(work, `cli-${i}.yaml`);
    writeFileSync(file, text);
    const r = await runBerth(['-f', file, 'check', '--no-images', '--format', 'json'], { cwd: work });
    assert.ok([0, 1, 2].includes(r.code), `exit ${r.code}: ${r.stderr}`);
    assert.doesNotMatch(r.stderr, /\n\s+at /, `no stack trace: ${r.stderr}`);
    // One error line (x-berth's problems listed under it, each at file:line:col), hints and warnings aside.
    if (r.code === 2) assert.equal(r.stderr.trim().split('\n').filter((l) => !/^\s*(hint|→)/i.test(l) && !/^berth: warning: /.test(l) && !/^ {2}\S+:\d+:\d+: /.test(l)).length <= 2, true, r.stderr);
    else JSON.parse(r.stdout);
  }
});
