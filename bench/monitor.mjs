// berth agent's /metrics side by side with a scrape-time list-and-inspect exporter (the way
// docker_state_exporter works; bench/lib/list-inspect-exporter.mjs), with N running containers
// (default 100, local/busybox, bounded), each behind its own counting relay in front of the
// engine socket, in one run:
//   A. scrape latency p50/p99 (sequential scrapes, alternated with the baseline and with a floor:
//      a process serving a fixed body of the agent's size), Accept-Encoding: gzip as Prometheus
//      sends it, and the engine calls scrapes cause (counted by the relay, by endpoint: the scrape
//      phase's calls minus those of an equally long phase without scrapes; the agent's own calls
//      come from its timers and from engine events);
//   B. the time from a container turning unhealthy (the failing check's end, from Docker's health
//      log) to the agent's /metrics saying so (polled every 10 ms);
//   C. CPU (% of one core, from /proc/PID/stat) and RSS of both processes over a window with a
//      scrape every 15 s and the agent's stats every 15 s: BENCH_MONITOR_WINDOW_S (default 300 =
//      the 5 minutes; shorter windows are reported as such), and of a second agent without
//      resource stats (the baseline's information, like for like).
// Goals: p99 < 50 ms, 0 engine calls per scrape, CPU < 2% of a core, RSS < 100 MB, unhealthy to
// metric < 1 s. Writes bench/results/monitor-<date>.json.
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { gunzipSync, gzipSync } from 'node:zlib';
import { stringify } from 'yaml';
import { Engine } from '../dist/engine/client.js';
import { startEngineRelay } from '../dist/monitor/testkit.js';
import { median, percentile, writeResult } from './machine.mjs';

const run = promisify(execFile);
const N = Number(process.env.BENCH_MONITOR_CONTAINERS ?? 100);
const WINDOW_S = Number(process.env.BENCH_MONITOR_WINDOW_S ?? 300);
const SCRAPES = Number(process.env.BENCH_MONITOR_SCRAPES ?? 200);
const FLIPS = Number(process.env.BENCH_MONITOR_FLIPS ?? 5);
const SERVICES = 10;
const id = Math.random().toString(16).slice(2, 8);
const project = `benchmon${id}`;
const LABEL = { 'berth.bench': `monitor-${id}` };
const tmp = mkdtempSync(path.join(os.tmpdir(), 'berth-bench-monitor-'));
const children = [];
const CLK_TCK = 100;

const engine = await Engine.connect();

function freePort() {
  return new Promise((resolve) => { const s = net.createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); }); });
}

async function limited(items, limit, fn) {
  const queue = [...items];
  await Promise.all(Array.from({ length: limit }, async () => { while (queue.length) await fn(queue.shift()); }));
}

/** utime + stime of a process, seconds. */
function cpuSeconds(pid) {
  let stat;
  try { stat = readFileSync(`/proc/${pid}/stat`, 'utf8'); } catch { return NaN; }
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}
function rssMB(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}
/** The shared engine's dockerd (its pidfile): other dockerds may run beside it (tests' own engines). */
async function dockerdPid() {
  try { return Number(readFileSync('/var/run/docker.pid', 'utf8').trim()) || undefined; } catch { return undefined; }
}

/** One scrape as Prometheus makes it (Accept-Encoding: gzip): a GET, the body read to its last byte (timed), then decoded. */
function scrape(port) {
  const started = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/metrics', agent: false, headers: { 'accept-encoding': 'gzip' } }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const ms = Number(process.hrtime.bigint() - started) / 1e6;
        if (res.statusCode !== 200) return reject(new Error(`scrape ${port}: ${res.statusCode}`));
        const body = Buffer.concat(chunks);
        resolve({ ms, wireBytes: body.length, get text() { return (res.headers['content-encoding'] === 'gzip' ? gunzipSync(body) : body).toString('utf8'); } });
      });
    });
    req.on('error', reject);
  });
}

async function sizes(port) {
  const s = await scrape(port);
  return { bytes: s.text.length, wireBytes: s.wireBytes };
}

function endpoint(line) {
  const p = line.split(' ')[1].replace(/^\/v\d+\.\d+/, '').replace(/\?.*$/, '');
  return p.replace(/\/containers\/[0-9a-f]{64}\//, '/containers/{id}/');
}
function classify(lines) {
  const counts = {};
  for (const l of lines) counts[endpoint(l)] = (counts[endpoint(l)] ?? 0) + 1;
  return counts;
}

function spawnChild(args, env, name) {
  const child = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d) => { output = (output + d).slice(-4000); });
  child.stderr.on('data', (d) => { output = (output + d).slice(-4000); });
  child.on('exit', (code) => { if (code !== null && code !== 0) process.stderr.write(`${name} exited ${code}: ${output}\n`); });
  children.push(child);
  return child;
}

async function waitUntil(what, check, timeoutMs = 120_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function cleanup() {
  for (const c of children) c.kill('SIGTERM');
  const list = await engine.docker.listContainers({ all: true, filters: { label: [`berth.bench=monitor-${id}`] } });
  await limited(list, 8, (c) => engine.docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined));
  rmSync(tmp, { recursive: true, force: true });
}

try {
  // The containers: N-1 sleepers in SERVICES services, and one whose health the bench flips.
  console.log(`starting ${N} containers`);
  const compose = (service, n) => ({ 'com.docker.compose.project': project, 'com.docker.compose.service': service, 'com.docker.compose.container-number': String(n), 'com.docker.compose.oneoff': 'False' });
  const specs = Array.from({ length: N - 1 }, (_, i) => ({ name: `${project}_s${i % SERVICES}_${Math.floor(i / SERVICES) + 1}`, labels: compose(`s${i % SERVICES}`, Math.floor(i / SERVICES) + 1), cmd: ['sleep', '3600'] }));
  await limited(specs, 8, async (s) => {
    const c = await engine.docker.createContainer({ name: s.name, Image: 'local/busybox:latest', Cmd: s.cmd, Labels: { ...LABEL, ...s.labels }, HostConfig: { Init: false } });
    await c.start();
  });
  const flip = await engine.docker.createContainer({
    name: `${project}_flip_1`, Image: 'local/busybox:latest', Cmd: ['sh', '-c', 'echo ok > /tmp/ok; exec sleep 3600'], Labels: { ...LABEL, ...compose('flip', 1) },
    Healthcheck: { Test: ['CMD-SHELL', 'test -f /tmp/ok'], Interval: 500_000_000, Timeout: 2_000_000_000, Retries: 1 },
  });
  await flip.start();
  const flipName = `${project}_flip_1`;
  const model = { name: project, services: Object.fromEntries([...Array.from({ length: SERVICES }, (_, i) => [`s${i}`, { image: 'local/busybox:latest', scale: Math.ceil((N - 1) / SERVICES) }]), ['flip', { image: 'local/busybox:latest' }]]) };
  writeFileSync(path.join(tmp, 'compose.yaml'), stringify(model));

  const agentRelay = await startEngineRelay();
  const baselineRelay = await startEngineRelay();
  const agentPort = await freePort();
  const baselinePort = await freePort();
  const agent = spawnChild([...(process.env.BENCH_AGENT_NODE_FLAGS ?? '').split(' ').filter(Boolean), 'bin/berth.js', '-f', path.join(tmp, 'compose.yaml'), 'agent', '--no-schedules', '--listen', `127.0.0.1:${agentPort}`, '--stats-interval', '15s', '--no-host-metrics'], { DOCKER_HOST: agentRelay.host, BERTH_STATE_DIR: path.join(tmp, 'state'), NO_COLOR: '1' }, 'agent');
  const baseline = spawnChild(['bench/lib/list-inspect-exporter.mjs', baselineRelay.host.replace('unix://', ''), String(baselinePort)], {}, 'baseline');
  await waitUntil('the agent seeing every container', async () => {
    const { text } = await scrape(agentPort);
    return (text.match(new RegExp(`container_state_status\\{[^}]*container_label_com_docker_compose_project="${project}"[^}]*status="running"\\} 1`, 'g')) ?? []).length >= N;
  });
  await waitUntil('the agent\'s first stats round', async () => (await scrape(agentPort)).text.includes(`container_cpu_usage_seconds_total{id="/docker/`));
  await waitUntil('the baseline answering', async () => (await scrape(baselinePort)).text.includes(flipName));
  // The floor: a process that only serves a fixed body of the agent's size (gzip, as asked), no
  // work at all: what a scrape of that many bytes costs on this machine at this moment.
  const floorPort = await freePort();
  const agentBody = await scrape(agentPort);
  writeFileSync(path.join(tmp, 'floor.body'), gzipSync(Buffer.from(agentBody.text), { level: 1 }));
  const floor = spawnChild(['-e', `const b=require('fs').readFileSync(${JSON.stringify(path.join(tmp, 'floor.body'))});require('http').createServer((q,s)=>s.writeHead(200,{'content-type':'text/plain; version=0.0.4','content-encoding':'gzip'}).end(b)).listen(${floorPort},'127.0.0.1')`], {}, 'floor');
  await waitUntil('the floor answering', async () => (await scrape(floorPort)).wireBytes > 0);
  // The agent without resource stats: the same information as the baseline, for a like-for-like CPU figure.
  const bareRelay = await startEngineRelay();
  const barePort = await freePort();
  const bare = spawnChild(['bin/berth.js', '-f', path.join(tmp, 'compose.yaml'), 'agent', '--no-schedules', '--listen', `127.0.0.1:${barePort}`, '--stats-interval', '0', '--no-host-metrics', '--no-container-resources'], { DOCKER_HOST: bareRelay.host, BERTH_STATE_DIR: path.join(tmp, 'state-bare'), NO_COLOR: '1' }, 'agent without stats');
  await waitUntil('the agent without stats answering', async () => (await scrape(barePort)).text.includes(flipName));

  // A. Scrape latency and engine calls per scrape, alternated.
  console.log(`A: ${SCRAPES} scrapes each`);
  for (let i = 0; i < 10; i++) { await scrape(agentPort); await scrape(baselinePort); }
  const agentMs = [], baselineMs = [], floorMs = [];
  const agentWindows = [];
  const agentBefore = agentRelay.requests.length, baselineBefore = baselineRelay.requests.length;
  const phaseStarted = Date.now();
  for (let i = 0; i < SCRAPES; i++) {
    const from = Date.now();
    agentMs.push((await scrape(agentPort)).ms);
    agentWindows.push([from, Date.now()]);
    baselineMs.push((await scrape(baselinePort)).ms);
    floorMs.push((await scrape(floorPort)).ms);
  }
  const phaseSeconds = (Date.now() - phaseStarted) / 1000;
  const agentLines = agentRelay.requests.slice(agentBefore);
  const agentTimes = agentRelay.requestTimes.slice(agentBefore);
  const agentCalls = classify(agentLines);
  const baselineCalls = classify(baselineRelay.requests.slice(baselineBefore));
  // The agent's engine calls come from its timers (stats every 15 s, a list every 60 s) and from
  // engine events (an inspect after a container starts or dies: the engine is shared, other
  // people's containers come and go), never from a scrape. Counted: the calls that began while
  // an agent scrape was in flight, and the same phase's length without scrapes, for comparison.
  const duringScrapes = agentTimes.filter((t) => agentWindows.some(([a, b]) => t >= a && t <= b)).length;
  const baselineTotal = Object.values(baselineCalls).reduce((n, v) => n + v, 0);
  const idleBefore = agentRelay.requests.length;
  await sleep(phaseSeconds * 1000);
  const agentIdleCalls = classify(agentRelay.requests.slice(idleBefore));
  const total = (counts) => Object.values(counts).reduce((n, v) => n + v, 0);
  // What scraping added: the phase's calls minus the same time's calls without scrapes (noise: other people's containers on the shared engine).
  const scrapeCausedPerScrape = Math.max(0, total(agentCalls) - total(agentIdleCalls)) / SCRAPES;

  // B. Unhealthy to metric.
  console.log(`B: ${FLIPS} health flips`);
  const flipLatencyMs = [];
  const unhealthyLine = (text) => text.split('\n').some((l) => l.startsWith('container_state_health_status{') && l.includes(`name="${flipName}"`) && l.includes('status="unhealthy"') && l.endsWith(' 1'));
  for (let i = 0; i < FLIPS; i++) {
    const removedAt = Date.now();
    await run('docker', ['exec', flip.id, 'rm', '/tmp/ok']);
    let seenAt;
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline) {
      const { text } = await scrape(agentPort);
      if (unhealthyLine(text)) { seenAt = Date.now(); break; }
      await sleep(10);
    }
    if (seenAt === undefined) throw new Error('the agent never showed the container unhealthy');
    const log = (await flip.inspect()).State.Health.Log;
    const failing = log.filter((e) => e.ExitCode !== 0).map((e) => Date.parse(e.End)).sort((a, b) => a - b);
    // The first check that failed after the file went (the log also holds earlier rounds' failures).
    const turnedAt = failing.find((t) => t >= removedAt);
    if (turnedAt === undefined) throw new Error('no failing check in the health log after the flip');
    flipLatencyMs.push(seenAt - turnedAt);
    await run('docker', ['exec', flip.id, 'sh', '-c', 'echo ok > /tmp/ok']);
    await waitUntil('healthy again', async () => !unhealthyLine((await scrape(agentPort)).text), 15_000);
    await sleep(1200); // let Docker's health log roll past this round's failures
  }

  // C. CPU and RSS at a 15 s scrape interval.
  console.log(`C: ${WINDOW_S} s window, a scrape every 15 s`);
  const dpid = await dockerdPid();
  const cpu0 = { agent: cpuSeconds(agent.pid), bare: cpuSeconds(bare.pid), baseline: cpuSeconds(baseline.pid), dockerd: dpid ? cpuSeconds(dpid) : NaN };
  const calls0 = { agent: agentRelay.requests.length, baseline: baselineRelay.requests.length };
  const rss = { agent: [], baseline: [], bare: [] };
  const windowStarted = Date.now();
  let scrapes = 0;
  while (Date.now() - windowStarted < WINDOW_S * 1000) {
    await Promise.all([scrape(agentPort), scrape(baselinePort), scrape(barePort)]);
    scrapes++;
    rss.agent.push(rssMB(agent.pid));
    rss.baseline.push(rssMB(baseline.pid));
    rss.bare.push(rssMB(bare.pid));
    await sleep(Math.min(15_000, Math.max(0, WINDOW_S * 1000 - (Date.now() - windowStarted))));
  }
  const windowSeconds = (Date.now() - windowStarted) / 1000;
  const cpuPct = (pidNow, before) => (100 * (pidNow - before)) / windowSeconds;
  const agentCpu = cpuPct(cpuSeconds(agent.pid), cpu0.agent);
  const baselineCpu = cpuPct(cpuSeconds(baseline.pid), cpu0.baseline);
  const bareCpu = cpuPct(cpuSeconds(bare.pid), cpu0.bare);
  const windowCalls = { agent: classify(agentRelay.requests.slice(calls0.agent)), baseline: classify(baselineRelay.requests.slice(calls0.baseline)) };

  const result = {
    containers: N,
    scrape: {
      scrapes: SCRAPES,
      agent: { p50Ms: median(agentMs), p99Ms: percentile(agentMs, 99), maxMs: Math.max(...agentMs), ...(await sizes(agentPort)) },
      baseline: { p50Ms: median(baselineMs), p99Ms: percentile(baselineMs, 99), maxMs: Math.max(...baselineMs), ...(await sizes(baselinePort)) },
      floor: { p50Ms: median(floorMs), p99Ms: percentile(floorMs, 99), maxMs: Math.max(...floorMs), note: 'a process serving a fixed body of the agent\'s wire size: the machine\'s own cost of such a scrape right now' },
      p99Ratio: percentile(baselineMs, 99) / percentile(agentMs, 99),
      agentOverFloorP50Ms: median(agentMs) - median(floorMs),
    },
    engineCalls: {
      phaseSeconds,
      agent: {
        byEndpoint: agentCalls, sameTimeWithoutScrapes: agentIdleCalls, beganDuringAScrape: duringScrapes, beganDuringAScrapePerScrape: duringScrapes / SCRAPES, perScrape: scrapeCausedPerScrape,
        note: 'the agent calls the engine from its timers (one-shot stats of every running container every 15 s, a list every 60 s) and after engine events (an inspect per start/die on the shared engine), never for a scrape. perScrape = (calls in the scrape phase - calls in as long a phase without scrapes) / scrapes, at least 0; beganDuringAScrape counts the timer and event calls that happened to overlap a scrape',
      },
      baseline: { byEndpoint: baselineCalls, perScrape: baselineTotal / SCRAPES },
    },
    unhealthyToMetric: { flips: FLIPS, ms: flipLatencyMs, medianMs: median(flipLatencyMs), maxMs: Math.max(...flipLatencyMs), note: 'from the end of the first failing check (Docker\'s health log) to the agent\'s /metrics showing unhealthy (polled every 10 ms); the baseline shows it only when scraped' },
    resources: {
      windowSeconds, scrapeIntervalSeconds: 15, statsIntervalSeconds: 15, scrapes,
      shorterThanFiveMinutes: windowSeconds < 299,
      agent: { cpuPercentOfOneCore: agentCpu, rssMB: Math.max(...rss.agent), callsInWindow: windowCalls.agent },
      baseline: { cpuPercentOfOneCore: baselineCpu, rssMB: Math.max(...rss.baseline), callsInWindow: windowCalls.baseline },
      agentWithoutStats: { cpuPercentOfOneCore: bareCpu, rssMB: Math.max(...rss.bare), note: '--stats-interval 0 --no-container-resources: the same information as the baseline' },
      dockerdCpuPercentOfOneCore: dpid ? cpuPct(cpuSeconds(dpid), cpu0.dockerd) : null,
      note: 'dockerd serves both (and the rest of the shared machine): its CPU is context, not either side\'s cost',
    },
    ratios: { engineCallsPerScrapeBaselineOverAgentDuringScrapes: (baselineTotal / SCRAPES) / Math.max(duringScrapes / SCRAPES, 1 / SCRAPES), cpuBaselineOverAgent: baselineCpu / agentCpu, cpuBaselineOverAgentWithoutStats: baselineCpu / bareCpu },
    goals: { scrapeP99Ms: '< 50', engineCallsPerScrape: '0 (< 0.05 measured, the shared engine\'s noise)', agentCpuPercent: '< 2 (5 min average)', agentRssMB: '< 100', unhealthyToMetricMs: '< 1000' },
  };
  result.pass = result.scrape.agent.p99Ms < 50 && result.engineCalls.agent.perScrape < 0.05 && agentCpu < 2 && result.resources.agent.rssMB < 100 && result.unhealthyToMetric.maxMs < 1000;
  console.log(writeResult('monitor', result));
  await agentRelay.close();
  await baselineRelay.close();
  await bareRelay.close();
} finally {
  await cleanup();
}
