// Build step: the CLI as one CommonJS file, dist/bundle/berth.cjs, that bin/berth.js runs with a
// V8 code cache (node 20 has no module compile cache: module.enableCompileCache is node 22).
// A cold `berth status` otherwise spends ~40 ms reading ~125 module files (commander, yaml's
// 70-odd modules, berth's own) and compiling them. esbuild bundles berth's compiled modules
// (dist/, from tsc) and two pure-JS packages (BUNDLED); every other package stays external and
// is loaded from node_modules as before (better-sqlite3 is native, pino starts workers from its
// own files, dockerode is required on demand). Lazily imported modules stay lazy (esbuild keeps
// them as functions evaluated on first import). `import.meta.url` of each module is rewritten
// to the URL of its compiled file in dist/, so paths relative to it (package.json, ...) resolve
// exactly as unbundled. A literal require of a sibling .cjs file (the ahead-of-time schema
// validators) is bundled too.
//
// Then one warm-up run (`berth status` on the example stack against a stand-in engine) writes
// the code cache with what it compiled. bin/berth.js uses the bundle only when it is at least
// as new as the last tsc emit (dist/.tsbuildinfo), and writes a missing cache itself (another
// node version). The bundle is replaced by a rename, so a berth starting meanwhile reads one
// whole bundle.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const BUNDLED = new Set(['commander', 'yaml']);
const root = fileURLToPath(new URL('../', import.meta.url));
const dist = `${root}dist/`;
const outdir = `${dist}bundle`;
const builtins = new Set(builtinModules);

const packageName = (spec) => (spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]);

/** @type {import('esbuild').Plugin} */
const layout = {
  name: 'berth-layout',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) => {
      if (args.path.startsWith('node:') || builtins.has(args.path)) return { path: args.path, external: true };
      return BUNDLED.has(packageName(args.path)) ? undefined : { path: args.path, external: true };
    });
    b.onLoad({ filter: /\/dist\/.*\.js$/ }, async (args) => {
      if (!args.path.startsWith(dist) || args.path.startsWith(`${outdir}/`)) return undefined;
      let source = await readFile(args.path, 'utf8');
      // A literal require of a sibling .cjs file (the AOT schema validators, 330 kB) goes into the
      // bundle too, so the code cache covers it: it becomes an import, evaluated with its module.
      const imports = [];
      source = source.replace(/\brequire\('(\.\/[\w.-]+\.cjs)'\)/g, (call, path) => {
        if (!existsSync(new URL(path, pathToFileURL(args.path)))) return call;
        imports.push(`import * as __berth_cjs_${imports.length} from ${JSON.stringify(path)};\n`);
        return `__berth_cjs_${imports.length - 1}.default`;
      });
      const url = `new URL(${JSON.stringify(relative(outdir, args.path))}, __berthBundleUrl).href`;
      return { contents: imports.join('') + source.replaceAll('import.meta.url', url), loader: 'js' };
    });
  },
};

const { outputFiles: [output] } = await build({
  // main.ts's top-level await has no place in CommonJS; this is main.ts without its --version
  // fast path (bin/berth.js answers --version before loading the bundle).
  stdin: { contents: "import { run } from './program.js';\nrun(process.argv).then((code) => { process.exitCode = code; });\n", resolveDir: `${dist}cli`, sourcefile: 'bundle-entry.js', loader: 'js' },
  outfile: `${outdir}/berth.cjs`,
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  plugins: [layout],
  // import() of an external (node:path, ssh2, ...) becomes require(): a vm.Script has no
  // dynamic import on node 20 without an experimental flag or warning.
  supported: { 'dynamic-import': false },
  // Classes and functions keep their names (error names, stack traces).
  keepNames: true,
  // ES modules are strict; so is their bundle.
  banner: { js: "'use strict';\nconst __berthBundleUrl = require('node:url').pathToFileURL(__filename).href;" },
  logLevel: 'warning',
  write: false,
});

// bin/berth.js runs the bundle as a vm.Script, which cannot import(): none may be left.
const dynamicImport = /[^.\w$]import\(/.exec(output.text);
if (dynamicImport) throw new Error(`build-bundle: the bundle still has an import() at offset ${dynamicImport.index}`);

// Replaced in one rename: a berth starting meanwhile reads the old bundle or the new one, whole.
await mkdir(outdir, { recursive: true });
const tmp = `${outdir}/berth.cjs.${process.pid}.tmp`;
await writeFile(tmp, output.contents);
await rename(tmp, `${outdir}/berth.cjs`);
// Code caches of earlier bundles (their names carry the bundle's mtime and size) are dead.
for (const name of await readdir(outdir)) if (name.endsWith('.cache')) await rm(`${outdir}/${name}`, { force: true });

// The warm-up: `berth status` on the example stack against a stand-in engine on a unix socket
// that knows no containers, so the code cache holds the whole status path (compose loading,
// engine calls, report, rendering).
const example = `${root}examples/production/compose.yaml`;
if (existsSync(example)) {
  const socket = `${tmpdir()}/berth-build-warmup-${process.pid}.sock`;
  const engine = createServer((req, res) => {
    if (req.url === '/_ping') res.writeHead(200, { 'Api-Version': '1.41', 'Content-Type': 'text/plain' }).end('OK');
    else if (req.url?.includes('/containers/json')) res.writeHead(200, { 'Content-Type': 'application/json' }).end('[]');
    else res.writeHead(404, { 'Content-Type': 'application/json' }).end('{"message":"not in the warm-up"}');
  });
  await new Promise((resolve) => engine.listen(socket, resolve));
  try {
    const warmup = spawn(process.execPath, [`${root}bin/berth.js`, '-f', example, '-p', 'berth-build-warmup', 'status'], {
      env: { ...process.env, DOCKER_HOST: `unix://${socket}`, NO_COLOR: '1', PROXY_BIND: '127.0.0.1:' },
      stdio: 'ignore',
    });
    const [code] = await once(warmup, 'exit');
    // 1: every service is below its desired count (the stand-in has no containers).
    if (code !== 1) console.warn(`build-bundle: the warm-up run exited ${code} (expected 1); the code cache is written by the first real run`);
  } finally {
    engine.close();
    await rm(socket, { force: true });
  }
}
