// berth/graceful overhead: requests/second through a server wrapped by createGraceful() vs a bare
// node:http server with the same handler, on loopback, in one run (goal: ratio >= 0.97). Measured
// three ways: alternated runs (one server at a time), server CPU time per request, and both servers
// loaded at the same time on the same core (the headline: immune to drift on a shared machine).
// Load: wrk (keep-alive) when installed — installed with apt-get when running as root — otherwise a
// node load generator with a keep-alive agent in its own process. Each server runs in its own child
// process (`node bench/graceful.mjs --serve bare|wrapped`), one measured at a time.
//   BENCH_ROUNDS (default 5), BENCH_SECONDS per measurement (default 5), BENCH_CONNECTIONS (default 50).
import { spawn, spawnSync } from 'node:child_process';
import http from 'node:http';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { median, writeResult } from './machine.mjs';

const self = fileURLToPath(import.meta.url);

if (process.argv[2] === '--serve') {
  // Counts requests and reports its own CPU time when asked on stdin: CPU per request is far less
  // sensitive than req/s to other load on the machine.
  let requests = 0;
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', () => {
    const cpu = process.cpuUsage();
    process.stdout.write(`${JSON.stringify({ requests, cpuUs: cpu.user + cpu.system })}\n`);
  });
  const handler = (_req, res) => {
    requests++;
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
const cores = os.cpus().length;
const pin = cores >= 2 && spawnSync('taskset', ['-c', '0', 'true']).status === 0;
const serverCpu = String(cores - 1);
const loadCpus = cores > 2 ? `0-${cores - 2}` : '0';
const pinned = (cpus, cmd, args) => (pin ? ['taskset', ['-c', cpus, cmd, ...args]] : [cmd, args]);

function startServer(kind) {
  const child = spawn(...pinned(serverCpu, process.execPath, [self, '--serve', kind]), { stdio: ['pipe', 'pipe', 'inherit'] });
  child.stdout.setEncoding('utf8');
  const stats = () =>
    new Promise((resolve) => {
      child.stdout.once('data', (d) => resolve(JSON.parse(String(d).trim())));
      child.stdin.write('stats\n');
    });
  return new Promise((resolve, reject) => {
    child.stdout.once('data', (d) => resolve({ child, port: Number(String(d).trim()), stats }));
    child.once('exit', (code) => reject(new Error(`${kind} server exited ${code}`)));
  });
}

function run(cmd, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', () => resolve({ stdout, stderr }));
  });
}

async function measure(tool, port, seconds, connections) {
  if (tool === 'wrk') {
    const r = await run(...pinned(loadCpus, 'wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, `http://127.0.0.1:${port}/`]));
    const rps = Number(/Requests\/sec:\s*([\d.]+)/.exec(r.stdout)?.[1]);
    const errors = /Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)/.exec(r.stdout)?.[0];
    if (!Number.isFinite(rps)) throw new Error(`wrk gave no result: ${r.stdout}${r.stderr}`);
    return { rps, errors: errors ?? null };
  }
  const r = await run(...pinned(loadCpus, process.execPath, [self, '--load', port, seconds, connections]));
  return JSON.parse(r.stdout);
}

async function main() {
  const rounds = Number(process.env.BENCH_ROUNDS ?? 5);
  const seconds = Number(process.env.BENCH_SECONDS ?? 5);
  const connections = Number(process.env.BENCH_CONNECTIONS ?? 50);
  const tool = haveWrk() ? 'wrk' : 'node';
  const bare = await startServer('bare');
  const wrapped = await startServer('wrapped');
  try {
    // Warm both up (JIT) before measuring.
    await measure(tool, bare.port, 1, connections);
    await measure(tool, wrapped.port, 1, connections);
    const runs = { bare: [], wrapped: [] };
    const cpuPerRequest = { bare: [], wrapped: [] };
    const loadAverageAtStart = os.loadavg().map((l) => Number(l.toFixed(2)));
    for (let i = 0; i < rounds; i++) {
      // Alternate which goes first, so drift (thermal, other load) hits both alike.
      const order = i % 2 === 0 ? ['bare', 'wrapped'] : ['wrapped', 'bare'];
      for (const kind of order) {
        const server = kind === 'bare' ? bare : wrapped;
        const before = await server.stats();
        const result = await measure(tool, server.port, seconds, connections);
        const after = await server.stats();
        const cpu = (after.cpuUs - before.cpuUs) / Math.max(1, after.requests - before.requests);
        runs[kind].push(result.rps);
        cpuPerRequest[kind].push(cpu);
        console.error(`round ${i + 1} ${kind.padEnd(7)} ${Math.round(result.rps)} req/s, ${cpu.toFixed(2)} µs CPU/request${result.errors ? ` (${result.errors})` : ''}`);
      }
    }
    // Side by side at the same time: both servers share the server core and whatever else the
    // machine is doing, so drift cancels out; the ratio of their rates is the ratio of their costs.
    const together = [];
    for (let i = 0; i < rounds; i++) {
      const [b, w] = await Promise.all([measure(tool, bare.port, seconds, connections), measure(tool, wrapped.port, seconds, connections)]);
      together.push(w.rps / b.rps);
      console.error(`together ${i + 1}: bare ${Math.round(b.rps)} req/s, wrapped ${Math.round(w.rps)} req/s`);
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
      // The headline: wrapped/bare req/s measured at the same time on the same core (median over
      // rounds). On a shared machine, alternated runs swing by ±30% with other load; these do not.
      ratio: Number(median(together).toFixed(4)),
      simultaneousRatios: together.map((r) => Number(r.toFixed(4))),
      // Alternated runs, one server at a time: median of the per-round ratios, and ratio of medians.
      alternatedRatio: Number(median(roundRatios).toFixed(4)),
      alternatedRoundRatios: roundRatios.map((r) => Number(r.toFixed(4))),
      alternatedRatioOfMedians: Number((wrappedRps / bareRps).toFixed(4)),
      // Server CPU time per request (user+system): the capacity ratio bare/wrapped, robust to other load.
      cpuPerRequestUs: { bare: Number(median(cpuPerRequest.bare).toFixed(3)), wrapped: Number(median(cpuPerRequest.wrapped).toFixed(3)) },
      cpuCapacityRatio: Number((median(cpuPerRequest.bare) / median(cpuPerRequest.wrapped)).toFixed(4)),
      loadAverageAtStart,
      loadAverageAtEnd: os.loadavg().map((l) => Number(l.toFixed(2))),
      pinned: pin ? { servers: `cpu ${serverCpu}`, load: `cpu ${loadCpus}` } : false,
      goals: { ratio: '>= 0.97' },
    };
    result.pass = result.ratio >= 0.97;
    console.log(writeResult('graceful', result));
    console.error(
      `graceful/bare req/s = ${result.ratio} side by side (goal >= 0.97): ${result.pass ? 'pass' : 'FAIL'}; alternated ${result.alternatedRatio}; CPU capacity ${result.cpuCapacityRatio}`,
    );
  } finally {
    bare.child.kill('SIGKILL');
    wrapped.child.kill('SIGKILL');
  }
}

if (process.argv[2] !== '--serve' && process.argv[2] !== '--load') await main();
