// berth socket-proxy side by side with the direct socket and HAProxy running an equivalent of
// Tecnativa docker-socket-proxy's configuration, in one run, loopback only, bounded:
//   rps (16 keep-alive connections) and p50/p99 latency (1 connection) for /_ping, /version,
//   /containers/json; `logs` and events throughput; ratios. The three targets are measured back
//   to back for every measurement, in a rotated order each round, and ratios are paired per
//   round (the machine is shared: drift hits all three alike). Goals: rps >= 0.9x direct and
//   >= 1.0x HAProxy (parity, >= 0.97x, on every measurement), added p99 < 1 ms. Writes bench/results/socket-proxy-<date>.json.
// Optional targets in the same rounds: BENCH_BEFORE=<worktree> adds that build's proxy ('before',
// its dist/ built) for an A/B of two berth builds; BENCH_FLOOR=1 adds 'floor', a Node TCP relay
// that pipes each connection to the daemon's socket with no parsing and no policy: the least a
// Node proxy can cost here, so how far berth is from it, and it from HAProxy, shows side by side.
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { percentile, writeResult } from './machine.mjs';

const SOCKET = '/var/run/docker.sock';
const SECONDS = Number(process.env.BENCH_SECONDS ?? 1.5);
const LATENCY_REQUESTS = Number(process.env.BENCH_LATENCY_REQUESTS ?? 1500);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
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

async function startBerth(name = 'berth', dist = new URL('../dist/', import.meta.url)) {
  const port = await freePort();
  const script = `
    import { loadProxyConfig, startSocketProxy } from ${JSON.stringify(new URL('socket-proxy/index.js', dist).href)};
    const loaded = loadProxyConfig({ env: { ...process.env }, listen: ['127.0.0.1:${port}'] });
    await startSocketProxy(loaded.config);`;
  // Audit logging stays on (as in production); its output goes to /dev/null.
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit'] });
  children.push(child);
  await waitForPort(port);
  pids[name] = child.pid;
  return port;
}

/** The floor: every client connection piped to its own daemon connection, nothing parsed. */
async function startFloor() {
  const port = await freePort();
  const script = `
    import net from 'node:net';
    net.createServer({ noDelay: true }, (c) => {
      const u = net.connect(${JSON.stringify(SOCKET)});
      c.pipe(u).pipe(c);
      c.on('error', () => u.destroy()); u.on('error', () => c.destroy());
      c.on('close', () => u.destroy()); u.on('close', () => c.destroy());
    }).listen(${port}, '127.0.0.1');`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'ignore', 'inherit'] });
  children.push(child);
  await waitForPort(port);
  pids.floor = child.pid;
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
  pids.haproxy = child.pid;
  return port;
}

/**
 * CPU time (user + system, all threads) a proxy process used: on a shared machine this is the
 * steadier number (rps moves with whatever else runs; the work per request does not).
 */
const pids = {};
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim() || 100);
function cpuSeconds(pid) {
  if (!pid) return undefined;
  try { const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' '); return (Number(f[11]) + Number(f[12])) / CLK_TCK; } catch { return undefined; }
}

function requestOnce(agent, target, urlPath, onData) {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const req = http.request({ agent, ...target, path: urlPath, method: 'GET', headers: { Host: 'docker' } }, (res) => {
      let bytes = 0;
      res.on('data', (d) => { bytes += d.length; onData?.(d); });
      res.on('end', () => {
        if (res.statusCode !== 200) reject(new Error(`${urlPath}: ${res.statusCode}`));
        else resolve({ ms: Number(process.hrtime.bigint() - start) / 1e6, bytes });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

function dockerApi(method, urlPath, body) {
  return new Promise((resolve, reject) => {
    const data = body ? JSON.stringify(body) : undefined;
    const req = http.request({ socketPath: SOCKET, path: urlPath, method, headers: { Host: 'docker', ...(data ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) } : {}) } }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => (res.statusCode < 300 ? resolve(text) : reject(new Error(`${method} ${urlPath}: ${res.statusCode} ${text}`))));
    });
    req.on('error', reject);
    req.end(data);
  });
}

/**
 * p50/p99 over one keep-alive connection per target, the targets' requests interleaved (one each
 * in turn, order rotated every turn) so every target is sampled under the same conditions: the
 * daemon's own latency swings (`/version` forks runc), and back-to-back windows drifted apart.
 * LATENCY_REQUESTS per target or 2 s per target, whichever ends first.
 */
async function latency(targetsByName, urlPath) {
  const names = Object.keys(targetsByName);
  const agents = Object.fromEntries(names.map((n) => [n, new http.Agent({ keepAlive: true, maxSockets: 1 })]));
  for (const n of names) for (let i = 0; i < 50; i++) await requestOnce(agents[n], targetsByName[n], urlPath);
  const samples = Object.fromEntries(names.map((n) => [n, []]));
  const end = Date.now() + 2000 * names.length;
  for (let turn = 0; turn < LATENCY_REQUESTS && Date.now() < end; turn++) {
    for (const n of rotate(names, turn)) samples[n].push((await requestOnce(agents[n], targetsByName[n], urlPath)).ms);
  }
  for (const agent of Object.values(agents)) agent.destroy();
  return Object.fromEntries(names.map((n) => [n, { p50: percentile(samples[n], 50), p99: percentile(samples[n], 99), n: samples[n].length }]));
}

/** Requests per second with CONCURRENCY keep-alive connections for SECONDS. */
async function throughput(target, urlPath, concurrency = CONCURRENCY, onData, pid) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const end = Date.now() + SECONDS * 1000;
  let count = 0;
  const cpuBefore = cpuSeconds(pid);
  const start = process.hrtime.bigint();
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (Date.now() < end) { await requestOnce(agent, target, urlPath, onData); count++; }
  }));
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const cpuAfter = cpuSeconds(pid);
  agent.destroy();
  return { rps: count / seconds, seconds, cpuUsPerRequest: cpuBefore !== undefined && cpuAfter !== undefined ? ((cpuAfter - cpuBefore) * 1e6) / count : undefined };
}

/** One full read of a container's logs (a new connection, as `docker logs` makes one). */
async function logsMiBps(target, id) {
  const agent = new http.Agent({ keepAlive: false });
  const { ms, bytes } = await requestOnce(agent, target, `/v1.41/containers/${id}/logs?stdout=1`);
  return (bytes / 2 ** 20) / (ms / 1000);
}

/** Events per second: the daemon's buffered events replayed (since=0, until=now) over 4 connections for SECONDS. */
async function eventsPerSecond(target) {
  let events = 0;
  const until = Math.floor(Date.now() / 1000);
  const { seconds } = await throughput(target, `/v1.41/events?since=0&until=${until}`, 4, (d) => { for (let i = d.indexOf(10); i >= 0; i = d.indexOf(10, i + 1)) events++; });
  return events / seconds;
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
/** The targets in a different order every round, so drift on the shared machine hits all alike. */
const rotate = (names, r) => names.map((_, i) => names[(i + r) % names.length]);
const round3 = (x) => +x.toFixed(3);

let logsContainer;
const loadBefore = os.loadavg();
try {
  const haveHaproxy = ensureHaproxy();
  const targets = { direct: { socketPath: SOCKET }, berth: { host: '127.0.0.1', port: await startBerth() } };
  if (haveHaproxy) targets.haproxy = { host: '127.0.0.1', port: await startHaproxy() };
  const before = process.env.BENCH_BEFORE ? path.resolve(process.env.BENCH_BEFORE) : undefined;
  if (before) targets.before = { host: '127.0.0.1', port: await startBerth('before', new URL(`file://${before}/dist/`)) };
  if (process.env.BENCH_FLOOR === '1') targets.floor = { host: '127.0.0.1', port: await startFloor() };
  const names = Object.keys(targets);
  // Logs: a stopped container with ~32 MiB of logs. Events: 100 volume create/destroy events,
  // so the daemon's event buffer (the last 256) is full on a quiet machine too.
  logsContainer = execFileSync('docker', ['run', '-d', '--label', 'berth.bench=socket-proxy', 'local/busybox:latest', 'sh', '-c', 'head -c 25165824 /dev/zero | base64'], { encoding: 'utf8' }).trim();
  execFileSync('docker', ['wait', logsContainer]);
  for (let i = 0; i < 50; i++) await dockerApi('DELETE', `/v1.41/volumes/${JSON.parse(await dockerApi('POST', '/v1.41/volumes/create', { Labels: { 'berth.bench': 'socket-proxy' } })).Name}`);

  // Every measurement is taken per round for all targets back to back; ratios are per round
  // (paired), then the median and the worst round are reported.
  const rounds = [];
  for (let r = 0; r < ROUNDS; r++) {
    const order = rotate(names, r);
    const round = { order, paths: {}, logsMiBps: {}, eventsPerSecond: {} };
    for (const p of PATHS) {
      round.paths[p] = {};
      const latencies = await latency(targets, p);
      for (const name of order) {
        const l = latencies[name];
        const { rps, cpuUsPerRequest } = await throughput(targets[name], p, CONCURRENCY, undefined, pids[name]);
        round.paths[p][name] = { rps: Math.round(rps), p50Ms: round3(l.p50), p99Ms: round3(l.p99), latencySamples: l.n, proxyCpuUsPerRequest: cpuUsPerRequest === undefined ? undefined : +cpuUsPerRequest.toFixed(1) };
      }
    }
    for (const name of order) round.logsMiBps[name] = +(await logsMiBps(targets[name], logsContainer)).toFixed(1);
    for (const name of order) round.eventsPerSecond[name] = Math.round(await eventsPerSecond(targets[name]));
    rounds.push(round);
    console.log(`round ${r + 1}/${ROUNDS}`, JSON.stringify(Object.fromEntries(PATHS.map((p) => [p, Object.fromEntries(names.map((n) => [n, round.paths[p][n].rps]))]))), 'logs', JSON.stringify(round.logsMiBps), 'events', JSON.stringify(round.eventsPerSecond));
  }

  const results = Object.fromEntries(names.map((n) => [n, {}]));
  const ratios = {};
  const pairs = (get, other, self = 'berth') => rounds.map((rd) => get(rd, self) / get(rd, other));
  const summary = (xs) => ({ median: round3(median(xs)), worst: round3(Math.min(...xs)) });
  for (const p of PATHS) {
    for (const n of names) {
      const v = rounds.map((rd) => rd.paths[p][n]);
      results[n][p] = { rps: Math.round(median(v.map((x) => x.rps))), p50Ms: round3(median(v.map((x) => x.p50Ms))), p99Ms: round3(median(v.map((x) => x.p99Ms))) };
      if (pids[n]) results[n][p].proxyCpuUsPerRequest = +median(v.map((x) => x.proxyCpuUsPerRequest)).toFixed(1);
    }
    const rps = (rd, n) => rd.paths[p][n].rps;
    ratios[p] = {
      rpsVsDirect: summary(pairs(rps, 'direct')),
      rpsVsHaproxy: haveHaproxy ? summary(pairs(rps, 'haproxy')) : null,
      addedP99Ms: round3(median(rounds.map((rd) => rd.paths[p].berth.p99Ms - rd.paths[p].direct.p99Ms))),
      haproxyAddedP99Ms: haveHaproxy ? round3(median(rounds.map((rd) => rd.paths[p].haproxy.p99Ms - rd.paths[p].direct.p99Ms))) : null,
      // below 1: berth needs less CPU per request than HAProxy
      proxyCpuVsHaproxy: haveHaproxy ? round3(median(rounds.map((rd) => rd.paths[p].berth.proxyCpuUsPerRequest / rd.paths[p].haproxy.proxyCpuUsPerRequest))) : null,
    };
    // The optional targets, paired the same way: this build against the one before, and each of
    // them (and the floor) against HAProxy.
    const cpu = (rd, n) => rd.paths[p][n].proxyCpuUsPerRequest;
    for (const extra of ['before', 'floor'].filter((n) => targets[n])) {
      ratios[p][`rpsVs_${extra}`] = summary(pairs(rps, extra));
      ratios[p][`proxyCpuVs_${extra}`] = round3(median(pairs(cpu, extra)));
      if (haveHaproxy) {
        ratios[p][`${extra}RpsVsHaproxy`] = summary(pairs(rps, 'haproxy', extra));
        ratios[p][`${extra}ProxyCpuVsHaproxy`] = round3(median(pairs(cpu, 'haproxy', extra)));
      }
      ratios[p][`${extra}AddedP99Ms`] = round3(median(rounds.map((rd) => rd.paths[p][extra].p99Ms - rd.paths[p].direct.p99Ms)));
    }
  }
  const logs = Object.fromEntries(names.map((n) => [n, +median(rounds.map((rd) => rd.logsMiBps[n])).toFixed(1)]));
  const events = Object.fromEntries(names.map((n) => [n, Math.round(median(rounds.map((rd) => rd.eventsPerSecond[n])))]));
  ratios.logs = { vsDirect: summary(pairs((rd, n) => rd.logsMiBps[n], 'direct')), vsHaproxy: haveHaproxy ? summary(pairs((rd, n) => rd.logsMiBps[n], 'haproxy')) : null };
  ratios.events = { vsDirect: summary(pairs((rd, n) => rd.eventsPerSecond[n], 'direct')), vsHaproxy: haveHaproxy ? summary(pairs((rd, n) => rd.eventsPerSecond[n], 'haproxy')) : null };
  for (const extra of ['before', 'floor'].filter((n) => targets[n])) {
    ratios.logs[`vs_${extra}`] = summary(pairs((rd, n) => rd.logsMiBps[n], extra));
    ratios.events[`vs_${extra}`] = summary(pairs((rd, n) => rd.eventsPerSecond[n], extra));
    if (haveHaproxy) {
      ratios.logs[`${extra}VsHaproxy`] = summary(pairs((rd, n) => rd.logsMiBps[n], 'haproxy', extra));
      ratios.events[`${extra}VsHaproxy`] = summary(pairs((rd, n) => rd.eventsPerSecond[n], 'haproxy', extra));
    }
  }
  for (const p of PATHS) console.log(p, JSON.stringify(Object.fromEntries(names.map((n) => [n, results[n][p]]))), JSON.stringify(ratios[p]));
  console.log('logs MiB/s', JSON.stringify(logs), JSON.stringify(ratios.logs));
  console.log('events/s', JSON.stringify(events), JSON.stringify(ratios.events));

  const throughputKeys = [...PATHS, 'logs', 'events'];
  const goals = {
    rpsVsDirect: throughputKeys.every((k) => (ratios[k].rpsVsDirect ?? ratios[k].vsDirect).median >= 0.9),
    rpsVsHaproxy: throughputKeys.every((k) => ((ratios[k].rpsVsHaproxy ?? ratios[k].vsHaproxy)?.median ?? 1) >= 1),
    // Issue 16's bar for the round-2 proxy: parity with HAProxy on every measurement.
    parityWithHaproxy: throughputKeys.every((k) => ((ratios[k].rpsVsHaproxy ?? ratios[k].vsHaproxy)?.median ?? 1) >= 0.97),
    addedP99: PATHS.every((p) => ratios[p].addedP99Ms < 1),
  };
  console.log(writeResult('socket-proxy', {
    // Other work on the machine skews every number: the load averages before and after the run.
    loadAverage: { before: loadBefore.map((x) => +x.toFixed(2)), after: os.loadavg().map((x) => +x.toFixed(2)) },
    settings: { seconds: SECONDS, rounds: ROUNDS, concurrency: CONCURRENCY, latencyRequests: `${LATENCY_REQUESTS} per target or 2 s per target, one request per target in turn (order rotated every turn)`, interleaved: 'throughput: targets back to back per measurement, order rotated every round; ratios paired per round (median and worst round)', env, client: 'node http keep-alive agent', before: before ? `${before} at ${spawnSync('git', ['-C', before, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).stdout.trim()}` : undefined, floor: targets.floor ? 'node:net relay, each connection piped to its own daemon connection, no parsing, no policy' : undefined, haproxy: haveHaproxy ? spawnSync('haproxy', ['-v'], { encoding: 'utf8' }).stdout.split('\n')[0] : 'not available' },
    results, logsMiBps: logs, eventsPerSecond: events, ratios,
    goals: { rpsVsDirect: '>= 0.9 (median)', rpsVsHaproxy: '>= 1.0 (median)', parityWithHaproxy: '>= 0.97 (median) on every measurement', addedP99Ms: '< 1 (median)' },
    met: goals,
    pass: goals.rpsVsDirect && goals.rpsVsHaproxy && goals.addedP99,
    rounds,
  }).split('\n').slice(0, 3).join('\n'));
} finally {
  for (const c of children) c.kill();
  if (logsContainer) spawnSync('docker', ['rm', '-f', logsContainer], { stdio: 'ignore' });
  rmSync(tmp, { recursive: true, force: true });
}
