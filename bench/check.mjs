// berth check vs dclint, per project, side by side in one run.
//
// Projects: the 38 realistic stacks of the precision set (test/stacks/*, test/corpus/*.yaml) and
// one project whose images are all present locally (so image inspection does real engine calls).
// Each round runs, per project and alternating, the two CLIs as a user or CI runs them:
//   berth:  node bin/berth.js check            (the engine asked: one inspect per image)
//   dclint: node bench/dclint/.../dclint.cjs FILES
// both with their default (stylish) output, as a user runs them.
// berth asks the engine for every image of the project (one inspect each, all at once).
// In-process, the libraries too: loadProject + readImageConfigs + lintProject vs DCLinter.lintFiles.
// Goal: berth at least 3x faster than dclint per project (median of the per-project ratios, CLI,
// image inspection included).
//
// dclint is installed only for this benchmark, into bench/dclint (its own pinned package.json,
// `npm ci` on first use), so installing berth never installs it.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { median, writeResult } from './machine.mjs';

const repo = fileURLToPath(new URL('..', import.meta.url));
const ROUNDS = Number(process.env.BENCH_RUNS ?? 5);
const env = { ...process.env, NO_COLOR: '1', POSTGRES_PASSWORD: 'from-env' };

// ── dclint, bench-only ────────────────────────────────────────────────────────
const DCLINT_DIR = join(repo, 'bench/dclint');
const dclintBin = join(DCLINT_DIR, 'node_modules/dclint/bin/dclint.cjs');
if (!existsSync(dclintBin)) execFileSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: DCLINT_DIR, stdio: 'inherit', timeout: 300_000 });
const dclintVersion = JSON.parse(execFileSync(process.execPath, ['-p', `JSON.stringify(require(${JSON.stringify(join(DCLINT_DIR, 'node_modules/dclint/package.json'))}).version)`], { encoding: 'utf8' }));

// ── projects ──────────────────────────────────────────────────────────────────
const composeFilesIn = (dir) => readdirSync(dir).filter((f) => /\.ya?ml$/.test(f) && !/^expected/.test(f)).sort().map((f) => join(dir, f));
const projects = [
  ...readdirSync(join(repo, 'test/stacks')).sort().map((name) => ({ name, cwd: join(repo, 'test/stacks', name), berthArgs: [], files: composeFilesIn(join(repo, 'test/stacks', name)) })),
  ...readdirSync(join(repo, 'test/corpus')).filter((f) => f.endsWith('.yaml')).sort().map((f) => ({ name: `corpus/${f}`, cwd: join(repo, 'test/corpus'), berthArgs: ['-f', join(repo, 'test/corpus', f)], files: [join(repo, 'test/corpus', f)] })),
];
// A project whose images exist here (scripts/engine builds them): inspection is real work.
const localImages = execFileSync('docker', ['images', '--format', '{{.Repository}}:{{.Tag}}'], { encoding: 'utf8' }).split('\n').filter((i) => /^local\/(postgres|nginx|node|caddy|haproxy|mariadb|busybox):latest$/.test(i));
const work = mkdtempSync(join(tmpdir(), 'berth-bench-check-'));
if (localImages.length) {
  const dir = join(work, 'local-images');
  mkdirSync(dir);
  writeFileSync(join(dir, 'compose.yaml'), `services:\n${localImages.map((image, i) => `  s${i}:\n    image: ${image}\n    restart: unless-stopped\n`).join('')}`);
  projects.push({ name: 'local-images (all images present)', cwd: dir, berthArgs: [], files: [join(dir, 'compose.yaml')] });
}

const run = (args, cwd, extraEnv = {}) => {
  const start = process.hrtime.bigint();
  const r = spawnSync(process.execPath, args, { cwd, env: { ...env, ...extraEnv }, encoding: 'utf8', maxBuffer: 64 << 20 });
  return { ms: Number(process.hrtime.bigint() - start) / 1e6, status: r.status, stdout: r.stdout, stderr: r.stderr };
};
const state = join(work, 'state');
const berth = (p) => run([join(repo, 'bin/berth.js'), ...p.berthArgs, 'check'], p.cwd, { BERTH_STATE_DIR: state });
const dclint = (p) => run([dclintBin, ...p.files], p.cwd);

// Check once that both run and what berth read from the engine.
const notes = {};
for (const p of projects) {
  const b = berth(p);
  if (b.status !== 0 && b.status !== 1) throw new Error(`berth check on ${p.name} exited ${b.status}: ${b.stderr}`);
  notes[p.name] = b.stderr.split('\n').find((l) => l.startsWith('image facts')) ?? '';
  const d = dclint(p);
  if (d.status === null) throw new Error(`dclint on ${p.name} did not run: ${d.stderr}`);
}

const times = new Map(projects.map((p) => [p.name, { berth: [], dclint: [] }]));
for (let round = 0; round < ROUNDS; round++) {
  for (const p of projects) {
    const t = times.get(p.name);
    // Alternate which goes first, so neither always runs on a warmer page cache.
    const pair = round % 2 ? [['dclint', dclint], ['berth', berth]] : [['berth', berth], ['dclint', dclint]];
    for (const [name, fn] of pair) t[name].push(fn(p).ms);
  }
}

const perProject = projects.map((p) => {
  const t = times.get(p.name);
  const b = median(t.berth), d = median(t.dclint);
  return { project: p.name, files: p.files.length, berthMs: Math.round(b), dclintMs: Math.round(d), ratio: +(d / b).toFixed(2), imageFacts: notes[p.name] };
});

// ── in-process, the libraries ─────────────────────────────────────────────────
const { loadProject } = await import(pathToFileURL(join(repo, 'dist/compose/load.js')).href);
const { lintProject, collectDockerfiles } = await import(pathToFileURL(join(repo, 'dist/check/run.js')).href);
const { imageRefsOf, readImageConfigs } = await import(pathToFileURL(join(repo, 'dist/check/image-inspect.js')).href);
const { Engine } = await import(pathToFileURL(join(repo, 'dist/engine/client.js')).href);
const { DCLinter } = await import(pathToFileURL(join(DCLINT_DIR, 'node_modules/dclint/dist/index.esm.js')).href);
const engine = await Engine.connect({ details: false });
const linter = new DCLinter({ rules: {}, quiet: true, debug: false, exclude: [] });
const berthLib = async () => {
  for (const p of projects) {
    const project = await loadProject({ files: p.berthArgs[1] ? [p.berthArgs[1]] : [], cwd: p.cwd, env, lenient: true });
    const { configs } = await readImageConfigs(imageRefsOf(project, collectDockerfiles(project)), engine);
    lintProject(project, { images: configs });
  }
};
const dclintLib = () => { for (const p of projects) linter.lintFiles(p.files, false); };
const time = async (fn) => { const s = process.hrtime.bigint(); await fn(); return Number(process.hrtime.bigint() - s) / 1e6; };
for (let i = 0; i < 2; i++) { await berthLib(); dclintLib(); }
const libBerth = [], libDclint = [];
for (let i = 0; i < ROUNDS; i++) { libBerth.push(await time(berthLib)); libDclint.push(await time(dclintLib)); }
rmSync(work, { recursive: true, force: true });

const ratios = perProject.map((r) => r.ratio);
const sum = (k) => perProject.reduce((a, r) => a + r[k], 0);
const result = {
  rounds: ROUNDS,
  projects: projects.length,
  dclint: { version: dclintVersion, installedIn: 'bench/dclint (bench-only, pinned)' },
  cli: {
    what: 'one process per project, as a user or CI runs it; berth includes the engine (image list, inspect or cache)',
    medianRatio: median(ratios),
    minRatio: Math.min(...ratios),
    maxRatio: Math.max(...ratios),
    totalMs: { berth: sum('berthMs'), dclint: sum('dclintMs') },
    totalRatio: sum('dclintMs') / sum('berthMs'),
    perProject,
  },
  library: {
    what: 'in-process, all projects per round: loadProject + readImageConfigs (engine) + lintProject vs DCLinter.lintFiles',
    medianRoundMs: { berth: median(libBerth), dclint: median(libDclint) },
    ratio: median(libDclint) / median(libBerth),
  },
  goal: 'berth check >= 3x faster than dclint per project (median per-project ratio, CLI, image inspection included)',
};
result.loadAverage = os.loadavg();
result.pass = result.cli.medianRatio >= 3;
console.log(writeResult('check', result));
