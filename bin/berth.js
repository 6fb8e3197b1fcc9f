#!/usr/bin/env node
// Starts berth. `--version` loads nothing else (scripts call it in loops). Everything else runs
// the one-file bundle (npm run build: scripts/build-bundle.mjs) with a V8 code cache, which
// saves a cold start the reading and compiling of ~125 modules; the bundle is used only when it
// is at least as new as the last tsc emit, so a plain `tsc` never leaves berth running stale
// code; without it, the compiled modules in dist/ run as they are.
import { readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import Module, { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';

const args = process.argv.slice(2);
const versionOnly = args.length === 1 && (args[0] === '--version' || args[0] === '-V');
const bundle = fileURLToPath(new URL('../dist/bundle/berth.cjs', import.meta.url));
const stat = (path) => statSync(path, { throwIfNoEntry: false });
const built = versionOnly ? undefined : stat(bundle);
const compiled = stat(fileURLToPath(new URL('../dist/.tsbuildinfo', import.meta.url)));

if (!built || (compiled && compiled.mtimeMs > built.mtimeMs)) {
  await import('../dist/cli/main.js');
} else {
  // The cache belongs to this bundle file and this node; V8 also checks the source itself.
  const cacheFile = `${bundle}.${Math.trunc(built.mtimeMs)}-${built.size}.${process.version}-${process.arch}.cache`;
  let cachedData;
  try {
    cachedData = readFileSync(cacheFile);
  } catch {
    cachedData = undefined;
  }
  const script = new vm.Script(Module.wrap(readFileSync(bundle, 'utf8')), {
    filename: bundle,
    cachedData,
    importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  });
  const module = new Module(bundle);
  module.filename = bundle;
  module.paths = Module._nodeModulePaths(fileURLToPath(new URL('../dist/bundle/', import.meta.url)));
  const require = createRequire(bundle);
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
  script.runInThisContext()(module.exports, require, module, bundle, fileURLToPath(new URL('../dist/bundle', import.meta.url)));
}
