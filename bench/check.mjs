// berth check vs dclint on the same corpus (test/corpus/*.yaml), side by side in one run:
//   lint throughput in files/second (in-process library, and one CLI process per file), rule counts,
//   and findings by category. Goal: throughput >= 1.0x dclint with more than 3x the rules.
// dclint is installed only into a temp dir outside the repo (npm install --prefix /tmp/dclint dclint).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { median, writeResult } from './machine.mjs';

const repo = fileURLToPath(new URL('..', import.meta.url));
const corpusDir = join(repo, 'test/corpus');
const files = readdirSync(corpusDir).filter((f) => f.endsWith('.yaml')).sort().map((f) => join(corpusDir, f));
const env = { PATH: process.env.PATH ?? '', POSTGRES_PASSWORD: 'from-env' };
const ROUNDS = Number(process.env.BENCH_RUNS ?? 15);

// ── dclint, outside the repo ──────────────────────────────────────────────────
const DCLINT_DIR = process.env.DCLINT_DIR ?? '/tmp/dclint';
let dclint = { available: false, reason: undefined, version: undefined };
const dclintPkg = join(DCLINT_DIR, 'node_modules/dclint/package.json');
if (!existsSync(dclintPkg)) {
  try {
    execFileSync('npm', ['view', 'dclint', 'version'], { encoding: 'utf8', timeout: 60_000 });
    mkdirSync(DCLINT_DIR, { recursive: true });
    if (!existsSync(join(DCLINT_DIR, 'package.json'))) writeFileSync(join(DCLINT_DIR, 'package.json'), '{"name":"dclint-bench","private":true}\n');
    execFileSync('npm', ['install', '--prefix', DCLINT_DIR, 'dclint', '--no-audit', '--no-fund'], { stdio: 'inherit', timeout: 300_000 });
  } catch (error) {
    dclint.reason = `dclint not installable: ${String(error.message).split('\n')[0]}`;
  }
}
let DCLinter;
if (existsSync(dclintPkg)) {
  ({ DCLinter } = await import(pathToFileURL(join(DCLINT_DIR, 'node_modules/dclint/dist/index.esm.js')).href));
  dclint = { available: true, version: JSON.parse(execFileSync('node', ['-p', `JSON.stringify(require(${JSON.stringify(dclintPkg)}).version)`], { encoding: 'utf8' })) };
}

// ── berth, from dist ──────────────────────────────────────────────────────────
const { loadProject } = await import(pathToFileURL(join(repo, 'dist/compose/load.js')).href);
const { lintProject, allRules } = await import(pathToFileURL(join(repo, 'dist/check/run.js')).href);

const berthLintAll = async () => {
  const findings = [];
  for (const file of files) {
    const project = await loadProject({ files: [file], env, cwd: corpusDir });
    findings.push(...lintProject(project).findings);
  }
  return findings;
};
const linter = DCLinter ? new DCLinter({ rules: {}, quiet: false, debug: false, exclude: [] }) : undefined;
const dclintLintAll = () => files.flatMap((file) => linter.lintFiles([file], false).flatMap((r) => r.messages));

const time = async (fn) => { const start = process.hrtime.bigint(); const out = await fn(); return { ms: Number(process.hrtime.bigint() - start) / 1e6, out }; };

// Warm up both (JIT, schema compilation), then alternate rounds.
for (let i = 0; i < 3; i++) { await berthLintAll(); if (linter) dclintLintAll(); }
const berthMs = [], dclintMs = [];
let berthFindings = [], dclintFindings = [];
for (let i = 0; i < ROUNDS; i++) {
  const b = await time(berthLintAll); berthMs.push(b.ms); berthFindings = b.out;
  if (linter) { const d = await time(async () => dclintLintAll()); dclintMs.push(d.ms); dclintFindings = d.out; }
}

// One CLI process per file, as a user or CI runs them.
const cli = (cmd, args) => { const start = process.hrtime.bigint(); const r = spawnSync(cmd, args, { env: { ...process.env, ...env, NO_COLOR: '1' }, encoding: 'utf8', cwd: corpusDir }); return { ms: Number(process.hrtime.bigint() - start) / 1e6, status: r.status, stderr: r.stderr }; };
const cliRuns = Number(process.env.BENCH_CLI_RUNS ?? 3);
const berthCli = [], dclintCli = [];
let berthCliError;
for (let i = 0; i < cliRuns && !berthCliError; i++) {
  let total = 0, dtotal = 0;
  for (const file of files) {
    const b = cli(process.execPath, [join(repo, 'bin/berth.js'), '-f', file, 'check', '--format', 'json']);
    if (b.status !== 0 && b.status !== 1) { berthCliError = `berth check exited ${b.status}: ${b.stderr.trim().split('\n').slice(0, 3).join(' | ')}`; break; }
    total += b.ms;
    if (dclint.available) dtotal += cli(process.execPath, [join(DCLINT_DIR, 'node_modules/dclint/bin/dclint.cjs'), file, '-f', 'json']).ms;
  }
  if (!berthCliError) { berthCli.push(total); if (dclint.available) dclintCli.push(dtotal); }
}

const countBy = (list, key) => list.reduce((acc, x) => ((acc[key(x)] = (acc[key(x)] ?? 0) + 1), acc), {});
const dclintRules = dclint.available ? readdirSync(join(DCLINT_DIR, 'node_modules/dclint/dist/types/src/rules')).filter((f) => f.endsWith('-rule.d.ts')).length : undefined;
const perSecond = (ms) => (ms ? files.length / (ms / 1000) : undefined);
const result = {
  corpus: { files: files.length, dir: 'test/corpus' },
  rounds: ROUNDS,
  berth: {
    rules: allRules.length,
    composeRules: allRules.filter((r) => r.scope === 'compose').length,
    dockerfileRules: allRules.filter((r) => r.scope === 'dockerfile').length,
    library: { medianRoundMs: median(berthMs), filesPerSecond: perSecond(median(berthMs)), includes: 'loadProject (read, interpolate, merge, schema validation) + all rules' },
    cli: berthCliError ? { error: berthCliError } : { runs: cliRuns, medianTotalMs: median(berthCli), filesPerSecond: perSecond(median(berthCli)) },
    findings: { total: berthFindings.length, bySeverity: countBy(berthFindings, (f) => f.severity), byFamily: countBy(berthFindings, (f) => f.family), byRule: countBy(berthFindings, (f) => f.rule) },
  },
  dclint: dclint.available ? {
    version: dclint.version,
    rules: dclintRules,
    library: { medianRoundMs: median(dclintMs), filesPerSecond: perSecond(median(dclintMs)), includes: 'DCLinter.lintFiles (read, parse, schema validation) + default rules' },
    cli: dclintCli.length ? { runs: cliRuns, medianTotalMs: median(dclintCli), filesPerSecond: perSecond(median(dclintCli)) } : { error: 'not run (berth CLI failed first)' },
    findings: { total: dclintFindings.length, byCategory: countBy(dclintFindings, (m) => m.category), byRule: countBy(dclintFindings, (m) => m.rule) },
  } : { available: false, reason: dclint.reason },
  // Where the two overlap in intent (same concern, different rules).
  overlap: {
    'unbound/all-interface ports': { berth: ['port-all-interfaces', 'datastore-published-port'], dclint: ['no-unbound-port-interfaces'] },
    'image tags': { berth: ['image-tag'], dclint: ['service-image-require-explicit-tag'] },
    'container names': { berth: ['container-name'], dclint: ['no-duplicate-container-names', 'service-container-name-regex'] },
  },
  goals: { throughputVsDclint: '>= 1.0 (library, files/s)', rulesVsDclint: '> 3.0' },
};
if (dclint.available) {
  result.throughputVsDclint = { library: result.berth.library.filesPerSecond / result.dclint.library.filesPerSecond, cli: result.berth.cli.filesPerSecond && result.dclint.cli.filesPerSecond ? result.berth.cli.filesPerSecond / result.dclint.cli.filesPerSecond : undefined };
  result.rulesVsDclint = allRules.length / dclintRules;
  result.pass = result.throughputVsDclint.library >= 1 && result.rulesVsDclint > 3;
}
console.log(writeResult('check', result));
