#!/usr/bin/env -S node --
// Starts berth. A CommonJS file (bin/package.json): node starts a CommonJS entry ~5 ms sooner
// than an ES module one. `--version` reads package.json and loads nothing else (scripts call it
// in loops). Everything else runs the one-file bundle (npm run build: scripts/build-bundle.mjs)
// with a V8 code cache, which saves a cold start reading and compiling ~125 modules; the bundle
// is used only when it is at least as new as the last tsc emit, so a plain `tsc` never leaves
// berth running stale code; without it, the compiled modules in dist/ run as they are.
// The `--` in the shebang: Node 20 takes `--env-file FILE` for itself wherever it appears (exit 9
// "node: FILE: not found", or the file loaded into berth's own environment); after `--` every
// argument is berth's, so `berth --env-file prod.env status` is Compose's flag, as documented.
'use strict';
const { readFileSync, renameSync, statSync, writeFileSync } = require('node:fs');
const Module = require('node:module');
const { join } = require('node:path');
const vm = require('node:vm');

const args = process.argv.slice(2);
const root = join(__dirname, '..');
const bundle = join(root, 'dist', 'bundle', 'berth.cjs');
const stat = (path) => statSync(path, { throwIfNoEntry: false });

if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
  process.stdout.write(`${JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version}\n`);
} else {
  const built = stat(bundle);
  const compiled = stat(join(root, 'dist', '.tsbuildinfo'));
  if (!built || (compiled && compiled.mtimeMs > built.mtimeMs)) import('../dist/cli/main.js');
  else runBundle(built);
}

function runBundle(built) {
  // The cache belongs to this bundle file and this node; V8 also checks the source itself.
  // `berth check` keeps its own (written by its first run): the build's warm-up runs `status`,
  // whose cache lacks the rules, and check is run per project in CI loops.
  const kind = args.includes('check') ? '.check' : '';
  const cacheFile = `${bundle}.${Math.trunc(built.mtimeMs)}-${built.size}.${process.version}-${process.arch}${kind}.cache`;
  let cachedData;
  try {
    cachedData = readFileSync(cacheFile);
  } catch {
    cachedData = undefined;
  }
  const script = new vm.Script(Module.wrap(readFileSync(bundle, 'utf8')), {
    filename: bundle,
    cachedData,
  });
  const module = new Module(bundle, null);
  module.filename = bundle;
  module.paths = Module._nodeModulePaths(join(root, 'dist', 'bundle'));
  // Written once, at exit, so it holds the functions this run compiled; never over another one.
  if (!cachedData) {
    process.once('exit', () => {
      try {
        const tmp = `${cacheFile}.${process.pid}.tmp`;
        writeFileSync(tmp, script.createCachedData());
        renameSync(tmp, cacheFile);
      } catch {
        // A read-only install runs without a cache.
      }
    });
  }
  script.runInThisContext()(module.exports, Module.createRequire(bundle), module, bundle, join(root, 'dist', 'bundle'));
}
