// berth/graceful overhead: requests/second through a server wrapped by createGraceful() vs a bare
// node:http server with the same handler, on loopback, alternated in one run (goal: ratio >= 0.97).
// Load: wrk (keep-alive) when installed — installed with apt-get when running as root — otherwise a
// node load generator with a keep-alive agent in its own process. Each server runs in its own child
// process (`node bench/graceful.mjs --serve bare|wrapped`), one measured at a time.
//   BENCH_ROUNDS (default 3), BENCH_SECONDS per measurement (default 5), BENCH_CONNECTIONS (default 50).
import { spawn, spawnSync } from 'node:child_process';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { median, writeResult } from './machine.mjs';

const self = fileURLToPath(import.meta.url);

if (process.argv[2] === '--serve') {
  const handler = (_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end('hello world\n');
  };
  const server = http.createServer(handler);
  if (process.argv[3] === 'wrapped') {
    const { createGraceful } = await import('../dist/graceful/index.js');
    createGraceful(server, { logger: false });
  }
  server.listen(0, '127.0.0.1', () => process.stdout.write(`${server.address().port}\n`));
} else if (process.argv[2] === '--load') {
  // Node load generator: BENCH_CONNECTIONS concurrent keep-alive request loops for N seconds.
  const [port, seconds, connections] = process.argv.slice(3).map(Number);
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  let done = 0;
  let errors = 0;
  const end = Date.now() + seconds * 1000;
  const loop = async () => {
    while (Date.now() < end) {
      await new Promise((resolve) => {
        http.get({ host: '127.0.0.1', port, path: '/', agent }, (res) => { res.resume(); res.on('end', () => { done++; resolve(); }); })
          .on('error', () => { errors++; resolve(); });
      });
    }
  };
  const started = Date.now();
  await Promise.all(Array.from({ length: connections }, loop));
  process.stdout.write(JSON.stringify({ rps: done / ((Date.now() - started) / 1000), errors }) + '\n');
  agent.destroy();
}

function haveWrk() {
  if (spawnSync('wrk', ['--version']).error === undefined) return true;
  if (process.getuid?.() === 0 && process.env.BENCH_NO_INSTALL !== '1') {
    spawnSync('apt-get', ['install', '-y', '-qq', 'wrk'], { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    return spawnSync('wrk', ['--version']).error === undefined;
  }
  return false;
}

// With two or more cores and taskset, servers run on the last core and the load generator on the
// others, so they do not fight over one core (the largest source of noise on small machines).
const cores = (await import('node:os')).cpus().length;
const pin = cores >= 2 && spawnSync('taskset', ['-c', '0', 'true']).status === 0;
const serverCpu = String(cores - 1);
const loadCpus = cores > 2 ? `0-${cores - 2}` : '0';
const pinned = (cpus, cmd, args) => (pin ? ['taskset', ['-c', cpus, cmd, ...args]] : [cmd, args]);

function startServer(kind) {
  const child = spawn(...pinned(serverCpu, process.execPath, [self, '--serve', kind]), { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.stdout.once('data', (d) => resolve({ child, port: Number(String(d).trim()) }));
    child.once('exit', (code) => reject(new Error(`${kind} server exited ${code}`)));
  });
}

function measure(tool, port, seconds, connections) {
  if (tool === 'wrk') {
    const r = spawnSync(...pinned(loadCpus, 'wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, `http://127.0.0.1:${port}/`]), { encoding: 'utf8' });
    const rps = Number(/Requests\/sec:\s*([\d.]+)/.exec(r.stdout)?.[1]);
    const errors = /Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)/.exec(r.stdout)?.[0];
    if (!Number.isFinite(rps)) throw new Error(`wrk gave no result: ${r.stdout}${r.stderr}`);
    return { rps, errors: errors ?? null };
  }
  const r = spawnSync(...pinned(loadCpus, process.execPath, [self, '--load', port, seconds, connections]), { encoding: 'utf8' });
  return JSON.parse(r.stdout);
}

async function main() {
  const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
  const seconds = Number(process.env.BENCH_SECONDS ?? 5);
  const connections = Number(process.env.BENCH_CONNECTIONS ?? 50);
  const tool = haveWrk() ? 'wrk' : 'node';
  const bare = await startServer('bare');
  const wrapped = await startServer('wrapped');
  try {
    // Warm both up (JIT) before measuring.
    measure(tool, bare.port, 1, connections);
    measure(tool, wrapped.port, 1, connections);
    const runs = { bare: [], wrapped: [] };
    for (let i = 0; i < rounds; i++) {
      // Alternate which goes first, so drift (thermal, other load) hits both alike.
      const order = i % 2 === 0 ? ['bare', 'wrapped'] : ['wrapped', 'bare'];
      for (const kind of order) {
        const result = measure(tool, (kind === 'bare' ? bare : wrapped).port, seconds, connections);
        runs[kind].push(result.rps);
        console.error(`round ${i + 1} ${kind.padEnd(7)} ${Math.round(result.rps)} req/s${result.errors ? ` (${result.errors})` : ''}`);
      }
    }
    const bareRps = median(runs.bare);
    const wrappedRps = median(runs.wrapped);
    // Paired per round (the two runs of a round are back to back): robust to drift across rounds.
    const roundRatios = runs.wrapped.map((w, i) => w / runs.bare[i]);
    const result = {
      tool: tool === 'wrk' ? `wrk -t1 -c${connections} (keep-alive)` : `node keep-alive agent, ${connections} connections`,
      rounds,
      secondsPerRun: seconds,
      handler: '200 text/plain "hello world" (worst case for relative overhead: the handler does nothing)',
      bareRps: runs.bare,
      wrappedRps: runs.wrapped,
      bareMedianRps: Math.round(bareRps),
      wrappedMedianRps: Math.round(wrappedRps),
      ratio: Number((wrappedRps / bareRps).toFixed(4)),
      roundRatios: roundRatios.map((r) => Number(r.toFixed(4))),
      medianRoundRatio: Number(median(roundRatios).toFixed(4)),
      pinned: pin ? { servers: `cpu ${serverCpu}`, load: `cpu ${loadCpus}` } : false,
      goals: { ratio: '>= 0.97' },
    };
    result.pass = result.ratio >= 0.97;
    console.log(writeResult('graceful', result));
  } finally {
    bare.child.kill('SIGKILL');
    wrapped.child.kill('SIGKILL');
  }
}

if (process.argv[2] !== '--serve' && process.argv[2] !== '--load') await main();
