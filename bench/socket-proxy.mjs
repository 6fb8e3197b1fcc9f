// berth socket-proxy side by side with the direct socket and HAProxy running an equivalent of
// Tecnativa docker-socket-proxy's configuration, in one run, loopback only, bounded:
//   rps (16 keep-alive connections) and p50/p99 latency (1 connection) for /_ping, /version,
//   /containers/json; `logs` throughput; ratios. Goals: rps >= 0.9x direct and >= 1.0x HAProxy,
//   added p99 < 1 ms. Writes bench/results/socket-proxy-<date>.json.
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { percentile, writeResult } from './machine.mjs';

const SOCKET = '/var/run/docker.sock';
const SECONDS = Number(process.env.BENCH_SECONDS ?? 2);
const LATENCY_REQUESTS = Number(process.env.BENCH_LATENCY_REQUESTS ?? 1500);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const CONCURRENCY = 16;
const PATHS = ['/_ping', '/v1.41/version', '/v1.41/containers/json'];
const env = { CONTAINERS: '1' };
// Tecnativa's image sets its defaults as ENV; HAProxy reads only what is in its environment.
const tecnativaDefaults = { EVENTS: '1', PING: '1', VERSION: '1', POST: '0' };
const haproxyEnv = { ...process.env, ...tecnativaDefaults, ...env };
const children = [];
const tmp = mkdtempSync(path.join(os.tmpdir(), 'berth-bench-sp-'));

function freePort() {
  return new Promise((resolve) => { const s = net.createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); }); });
}
async function waitForPort(port) {
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise((resolve) => { const c = net.connect(port, '127.0.0.1', () => { c.destroy(); resolve(true); }); c.on('error', () => resolve(false)); });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`nothing listens on ${port}`);
}

/** Our own HAProxy configuration with the same rules as Tecnativa's (for the comparison only). */
function haproxyConfig(port) {
  const sections = ['auth', 'build', 'commit', 'configs', 'containers', 'distribution', 'events', 'exec', 'grpc', 'images', 'info', 'networks', 'nodes', '_ping', 'plugins', 'secrets', 'services', 'session', 'swarm', 'system', 'tasks', 'version', 'volumes'];
  const varOf = (s) => (s === '_ping' ? 'PING' : s.toUpperCase());
  const rule = (re, v) => `    http-request allow if { path,url_dec -m reg -i ^(/v[\\d\\.]+)?(/\\w+)?/${re} } { env(${v}) -m bool }`;
  return [
    'global', '    maxconn 4000', '',
    'defaults', '    mode http', '    option http-server-close', '    timeout http-request 10s', '    timeout connect 10s',
    '    timeout client 10m', '    timeout server 10m', '    timeout http-keep-alive 10s', '    maxconn 3000', '',
    'backend dockerbackend', `    server dockersocket ${SOCKET}`, '',
    'backend docker-events', `    server dockersocket ${SOCKET}`, '    timeout server 0', '',
    'frontend dockerfrontend', `    bind 127.0.0.1:${port}`,
    '    http-request deny unless METH_GET || { env(POST) -m bool }',
    rule('containers/[a-zA-Z0-9_.-]+/((stop)|(restart)|(kill))', 'ALLOW_RESTARTS'),
    rule('containers/[a-zA-Z0-9_.-]+/start', 'ALLOW_START'),
    rule('containers/[a-zA-Z0-9_.-]+/stop', 'ALLOW_STOP'),
    ...sections.map((s) => rule(s, varOf(s))),
    '    http-request deny', '    default_backend dockerbackend',
    '    use_backend docker-events if { path,url_dec -m reg -i ^(/v[\\d\\.]+)?(/\\w+)?/events }', '',
  ].join('\n');
}

function ensureHaproxy() {
  if (spawnSync('haproxy', ['-v'], { stdio: 'ignore' }).status === 0) return true;
  console.log('installing haproxy (apt-get)...');
  const r = spawnSync('bash', ['-c', 'apt-get install -y haproxy >/dev/null 2>&1 || (apt-get update >/dev/null 2>&1 && apt-get install -y haproxy >/dev/null 2>&1)'], { stdio: 'inherit', timeout: 300_000 });
  return r.status === 0 && spawnSync('haproxy', ['-v'], { stdio: 'ignore' }).status === 0;
}

async function startBerth() {
  const port = await freePort();
  const script = `
    import { loadProxyConfig, startSocketProxy } from ${JSON.stringify(new URL('../dist/socket-proxy/index.js', import.meta.url).href)};
    const loaded = loadProxyConfig({ env: { ...process.env }, listen: ['127.0.0.1:${port}'] });
    await startSocketProxy(loaded.config);`;
  // Audit logging stays on (as in production); its output goes to /dev/null.
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit'] });
  children.push(child);
  await waitForPort(port);
  return port;
}

async function startHaproxy() {
  const port = await freePort();
  const cfg = path.join(tmp, 'haproxy.cfg');
  writeFileSync(cfg, haproxyConfig(port));
  const check = spawnSync('haproxy', ['-c', '-q', '-f', cfg], { env: haproxyEnv, encoding: 'utf8' });
  if (check.status !== 0) throw new Error(`haproxy config: ${check.stderr}`);
  const child = spawn('haproxy', ['-db', '-f', cfg], { env: haproxyEnv, stdio: ['ignore', 'ignore', 'ignore'] });
  children.push(child);
  await waitForPort(port);
  return port;
}

function requestOnce(agent, target, urlPath) {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const req = http.request({ agent, ...target, path: urlPath, method: 'GET', headers: { Host: 'docker' } }, (res) => {
      let bytes = 0;
      res.on('data', (d) => (bytes += d.length));
      res.on('end', () => {
        if (res.statusCode !== 200) reject(new Error(`${urlPath}: ${res.statusCode}`));
        else resolve({ ms: Number(process.hrtime.bigint() - start) / 1e6, bytes });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

async function latency(target, urlPath) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  for (let i = 0; i < 100; i++) await requestOnce(agent, target, urlPath);
  const samples = [];
  for (let i = 0; i < LATENCY_REQUESTS; i++) samples.push((await requestOnce(agent, target, urlPath)).ms);
  agent.destroy();
  return { p50: percentile(samples, 50), p99: percentile(samples, 99) };
}

async function throughput(target, urlPath) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const end = Date.now() + SECONDS * 1000;
  let count = 0;
  const start = process.hrtime.bigint();
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (Date.now() < end) { await requestOnce(agent, target, urlPath); count++; }
  }));
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  agent.destroy();
  return count / seconds;
}

async function logsThroughput(target, id) {
  const agent = new http.Agent({ keepAlive: false });
  const runs = [];
  for (let i = 0; i < 3; i++) {
    const { ms, bytes } = await requestOnce(agent, target, `/v1.41/containers/${id}/logs?stdout=1`);
    runs.push((bytes / 2 ** 20) / (ms / 1000));
  }
  return Math.max(...runs);
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };

let logsContainer;
const loadBefore = os.loadavg();
try {
  const haveHaproxy = ensureHaproxy();
  const targets = { direct: { socketPath: SOCKET }, berth: { host: '127.0.0.1', port: await startBerth() } };
  if (haveHaproxy) targets.haproxy = { host: '127.0.0.1', port: await startHaproxy() };
  const results = {};
  for (const name of Object.keys(targets)) results[name] = {};
  for (const p of PATHS) {
    const rounds = Object.fromEntries(Object.keys(targets).map((n) => [n, { rps: [], p50: [], p99: [] }]));
    for (let r = 0; r < ROUNDS; r++) {
      for (const [name, target] of Object.entries(targets)) {
        const l = await latency(target, p);
        const rps = await throughput(target, p);
        rounds[name].rps.push(rps); rounds[name].p50.push(l.p50); rounds[name].p99.push(l.p99);
      }
    }
    for (const [name, v] of Object.entries(rounds)) results[name][p] = { rps: Math.round(median(v.rps)), p50Ms: +median(v.p50).toFixed(3), p99Ms: +median(v.p99).toFixed(3) };
    console.log(p, JSON.stringify(Object.fromEntries(Object.entries(results).map(([n, r]) => [n, r[p]]))));
  }
  // Logs throughput: a stopped container with ~32 MiB of logs.
  logsContainer = execFileSync('docker', ['run', '-d', '--label', 'berth.bench=socket-proxy', 'local/busybox:latest', 'sh', '-c', 'head -c 25165824 /dev/zero | base64'], { encoding: 'utf8' }).trim();
  execFileSync('docker', ['wait', logsContainer]);
  const logsMiBps = {};
  for (const [name, target] of Object.entries(targets)) logsMiBps[name] = +(await logsThroughput(target, logsContainer)).toFixed(1);
  console.log('logs MiB/s', JSON.stringify(logsMiBps));

  const ratios = {};
  for (const p of PATHS) {
    const b = results.berth[p], d = results.direct[p], h = results.haproxy?.[p];
    ratios[p] = {
      rpsVsDirect: +(b.rps / d.rps).toFixed(3),
      rpsVsHaproxy: h ? +(b.rps / h.rps).toFixed(3) : null,
      addedP99Ms: +(b.p99Ms - d.p99Ms).toFixed(3),
      haproxyAddedP99Ms: h ? +(h.p99Ms - d.p99Ms).toFixed(3) : null,
    };
  }
  const pass = PATHS.every((p) => ratios[p].rpsVsDirect >= 0.9 && (ratios[p].rpsVsHaproxy ?? 1) >= 1 && ratios[p].addedP99Ms < 1);
  console.log(writeResult('socket-proxy', {
    // Other work on the machine skews every number: the load averages before and after the run.
    loadAverage: { before: loadBefore.map((x) => +x.toFixed(2)), after: os.loadavg().map((x) => +x.toFixed(2)) },
    settings: { seconds: SECONDS, rounds: ROUNDS, concurrency: CONCURRENCY, latencyRequests: LATENCY_REQUESTS, env, client: 'node http keep-alive agent', haproxy: haveHaproxy ? spawnSync('haproxy', ['-v'], { encoding: 'utf8' }).stdout.split('\n')[0] : 'not available' },
    results, logsMiBps, ratios,
    goals: { rpsVsDirect: '>= 0.9', rpsVsHaproxy: '>= 1.0', addedP99Ms: '< 1' },
    pass,
  }));
} finally {
  for (const c of children) c.kill();
  if (logsContainer) spawnSync('docker', ['rm', '-f', logsContainer], { stdio: 'ignore' });
  rmSync(tmp, { recursive: true, force: true });
}
