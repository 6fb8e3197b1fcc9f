// berth rollout wall time against its inherent minimum, measured side by side in one run:
//   minimum = a new container's start + its time to "healthy" + the drain wait + the old one's stop
//   (each measured here on the same engine, same image, same healthcheck), overhead = wall - minimum.
// Goal: overhead ≤ 2 s. The rollout is the real CLI (node bin/berth.js rollout app) on the test stack
// (Caddy + node app, 1 replica) while a bounded load (40 req/s) runs through the proxy.
// Traffic discipline (issue 8) side by side: each run also rolls out with --join-dns-at-create (the
// behaviour before it: new replicas in DNS from creation), and the wall times are compared; then the
// same pairs on split networks with x-berth rollout.traffic_networks, where the join is one connect.
// Every rollout runs under the same load.
import { setTimeout as sleep } from 'node:timers/promises';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Engine } from '../dist/engine/client.js';
import { startLoad } from '../dist/rollout/load.js';
import { buildApp, FIXTURE, removeImages, SPLIT_NETWORKS, stackName, TestStack } from '../dist/rollout/testing.js';
import { median, writeResult } from './machine.mjs';

const runs = Number(process.env.BENCH_RUNS ?? 8);
const engine = await Engine.connect();
const stack = new TestStack(engine, stackName('bench'));
// The same app with split networks (Caddy on web; the app on web and back, traffic_networks [web]).
const split = new TestStack(engine, stackName('bench-split'), [FIXTURE, SPLIT_NETWORKS]);
const splitRuns = Number(process.env.BENCH_SPLIT_RUNS ?? runs);

// BENCH_BEFORE=<git rev>: an earlier berth, built from that commit, rolls out with --join-dns-at-create
// in each run of the one-network stack too ("before"): the rollout as berth shipped it without the
// discipline, against this build with it. Its state directory is its own (an older schema).
const beforeRev = process.env.BENCH_BEFORE?.trim() || undefined;
const before = beforeRev ? buildBefore(beforeRev) : undefined;

/** The earlier berth: `git archive` of the commit into a temporary directory, built with this checkout's node_modules. */
function buildBefore(rev) {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const commit = spawnSync('git', ['rev-parse', '--short', `${rev}^{commit}`], { cwd: root, encoding: 'utf8' }).stdout.trim();
  if (!commit) throw new Error(`BENCH_BEFORE: no commit ${rev}`);
  const dir = mkdtempSync(join(os.tmpdir(), `berth-before-${commit}-`));
  const run = (cmd, args, opts = {}) => {
    const r = spawnSync(cmd, args, { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'], ...opts });
    if (r.status !== 0) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`BENCH_BEFORE: ${cmd} ${args.join(' ')} failed`);
    }
  };
  run('sh', ['-c', `git -C '${root}' archive ${commit} | tar -x`]);
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
  run('npm', ['run', '-s', 'build']);
  return { commit, dir, bin: join(dir, 'bin', 'berth.js'), stateDir: mkdtempSync(join(os.tmpdir(), 'berth-before-state-')) };
}

/**
 * One pair on a stack: berth's rollout and the control with --join-dns-at-create (and,
 * with BENCH_BEFORE, the earlier berth's), in an order that rotates across runs so a drift of the
 * machine does not favour one side.
 */
async function pairedRollout(target, i, { withBefore = false } = {}) {
  // Every side runs under the same load, so none has the CPU to itself; the goal's failed requests are
  // berth's, the controls' are recorded beside them.
  const rollout = (label, args, options) => async () => {
    const load = startLoad(await target.port(), { rps: 40, maxMs: 120_000 });
    const t = performance.now();
    const r = await target.berth(['--json', 'rollout', 'app', ...args], options);
    const wallMs = performance.now() - t;
    const counts = await load.stop();
    if (r.code !== 0) throw new Error(`rollout (${label}) failed: ${r.stderr}`);
    const result = JSON.parse(r.stdout).services[0];
    return { wallMs, inProcessMs: result.durationMs, phases: result.phases, requests: counts.sent, failed: counts.failed, slow: counts.slow, maxLatencyMs: counts.maxLatencyMs };
  };
  const berth = rollout('this build', [], { image: images[versions[3 * i - 2]] });
  const control = (label, options) => rollout(label, ['--join-dns-at-create'], options);
  const arms = [
    ['berth', berth],
    ['joinAtCreate', control('this build', { image: images[versions[3 * i - 1]] })],
    ...(withBefore && before ? [['before', control(`berth ${before.commit}`, { image: images[versions[3 * i]], bin: before.bin, env: { BERTH_STATE_DIR: before.stateDir } })]] : []),
  ];
  // Rotate, and reverse every other run: ABC, CBA, BCA, ACB...
  const order = arms.map((_, k) => arms[(k + i) % arms.length]);
  if (i % 2 === 0) order.reverse();
  const out = {};
  for (const [name, fn] of order) out[name] = await fn();
  return { ...out.berth, joinAtCreate: out.joinAtCreate, ...(out.before ? { before: out.before } : {}) };
}

/** This build's rollout against the earlier berth's --join-dns-at-create rollout, run by run. */
function beforeComparison(samples) {
  const wall = samples.map((s) => s.wallMs);
  const earlier = samples.map((s) => s.before.wallMs);
  return {
    commit: before.commit,
    wallMedianMs: median(earlier),
    wallVsBefore: median(wall) / median(earlier),
    pairedDifferenceMedianMs: median(samples.map((s) => s.wallMs - s.before.wallMs)),
    pairedInProcessDifferenceMedianMs: median(samples.map((s) => s.inProcessMs - s.before.inProcessMs)),
    failedRequests: samples.reduce((n, s) => n + s.before.failed, 0),
    requests: samples.reduce((n, s) => n + s.before.requests, 0),
    slowRequests: samples.reduce((n, s) => n + s.before.slow, 0),
    maxLatencyMs: Math.max(...samples.map((s) => s.before.maxLatencyMs)),
  };
}

/** The pairs' comparison: medians, and each pair's difference (same machine state). */
function compare(samples) {
  const wall = samples.map((s) => s.wallMs);
  const control = samples.map((s) => s.joinAtCreate.wallMs);
  return {
    wallMedianMs: median(wall),
    joinDnsAtCreateWallMedianMs: median(control),
    wallVsJoinDnsAtCreate: median(wall) / median(control),
    pairedDifferenceMedianMs: median(samples.map((s) => s.wallMs - s.joinAtCreate.wallMs)),
    // The same inside berth (plan to last step): without the CLI's start, which both sides share.
    pairedInProcessDifferenceMedianMs: median(samples.map((s) => s.inProcessMs - s.joinAtCreate.inProcessMs)),
    joinStepMedianMs: median(samples.map((s) => s.phases.join ?? 0)),
    failedRequests: samples.reduce((n, s) => n + s.failed, 0),
    requests: samples.reduce((n, s) => n + s.requests, 0),
    joinDnsAtCreateFailedRequests: samples.reduce((n, s) => n + s.joinAtCreate.failed, 0),
    joinDnsAtCreateRequests: samples.reduce((n, s) => n + s.joinAtCreate.requests, 0),
    // Requests of 500 ms or more, and the slowest: what the proxy's retries hid.
    slowRequests: samples.reduce((n, s) => n + s.slow, 0),
    maxLatencyMs: Math.max(...samples.map((s) => s.maxLatencyMs)),
    joinDnsAtCreateSlowRequests: samples.reduce((n, s) => n + s.joinAtCreate.slow, 0),
    joinDnsAtCreateMaxLatencyMs: Math.max(...samples.map((s) => s.joinAtCreate.maxLatencyMs)),
  };
}

const drainMs = 2000; // berth's default drain wait (the fixture sets no x-berth drain)

/** One container of the image, health-checked as the stack does: start → healthy, then stop. */
async function inherent(image, network) {
  const created = performance.now();
  const c = await engine.docker.createContainer({
    Image: image,
    Env: ['DRAIN_MS=1000', 'STARTUP_MS=1500'],
    Labels: { 'berth.test': `${process.env.BERTH_TEST_RUN ?? 'bench'}-rollout` },
    Healthcheck: { Test: ['CMD', 'node', '-e', "fetch('http://127.0.0.1:3000/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"], Interval: 1e9, Timeout: 5e9, Retries: 3, StartPeriod: 3e9 },
    HostConfig: { Init: true, NetworkMode: network },
  });
  await c.start();
  const started = performance.now();
  for (;;) {
    const s = await c.inspect();
    if (s.State.Health?.Status === 'healthy') break;
    if (performance.now() - started > 60_000) throw new Error('baseline container never became healthy');
    await sleep(50);
  }
  const healthy = performance.now();
  await c.stop({ t: 10 });
  const stopped = performance.now();
  await c.remove({ force: true });
  return { startMs: started - created, toHealthyMs: healthy - started, stopMs: stopped - healthy };
}

// Interrupted (Ctrl-C, a CI timeout): the stacks and images go too, as when it ends.
for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => { cleanup().finally(() => process.exit(130)); });

const versions = Array.from({ length: 3 * Math.max(runs, splitRuns) + 1 }, (_, i) => `b${i + 1}`);
const images = {};
try {
  for (const v of versions) images[v] = await buildApp(v);
  await stack.up(images.b1, 1);
  const network = `${stack.project}_default`;
  const samples = [];
  for (let i = 1; i <= runs; i++) {
    const base = await inherent(images[versions[3 * i - 2]], network);
    const minimumMs = base.startMs + base.toHealthyMs + drainMs + base.stopMs;
    const pair = await pairedRollout(stack, i, { withBefore: true });
    samples.push({ ...pair, minimumMs, overheadMs: pair.wallMs - minimumMs, baseline: base });
    console.error(`run ${i}: wall ${Math.round(pair.wallMs)} ms (--join-dns-at-create ${Math.round(pair.joinAtCreate.wallMs)} ms${pair.before ? `, berth ${before.commit} with it ${Math.round(pair.before.wallMs)} ms` : ''}), minimum ${Math.round(minimumMs)} ms, overhead ${Math.round(pair.wallMs - minimumMs)} ms, join ${Math.round(pair.phases.join ?? 0)} ms, failed requests ${pair.failed}/${pair.requests}`);
  }
  // Split networks: the join is one connect to the traffic network.
  await stack.down();
  const splitSamples = [];
  if (splitRuns > 0) {
    await split.up(images.b1, 1);
    for (let i = 1; i <= splitRuns; i++) {
      const pair = await pairedRollout(split, i);
      splitSamples.push(pair);
      console.error(`split run ${i}: wall ${Math.round(pair.wallMs)} ms (--join-dns-at-create ${Math.round(pair.joinAtCreate.wallMs)} ms), join ${Math.round(pair.phases.join ?? 0)} ms, failed ${pair.failed}/${pair.requests}`);
    }
  }
  const trafficNetworks = splitSamples.length ? { runs: splitRuns, ...compare(splitSamples), samples: splitSamples } : undefined;
  const nodeStartupMs = median(Array.from({ length: 5 }, () => { const t = performance.now(); spawnSync(process.execPath, ['-e', '0']); return performance.now() - t; }));
  const out = {
    runs,
    stack: 'src/rollout/fixtures (Caddy dynamic a refresh 1s + node app, 1 replica, STARTUP_MS 1500, healthcheck interval 1s)',
    minimumMedianMs: median(samples.map((s) => s.minimumMs)),
    overheadMedianMs: median(samples.map((s) => s.overheadMs)),
    // The rollout measured inside berth (from plan to the last step), without CLI start and project load.
    inProcessMedianMs: median(samples.map((s) => s.inProcessMs)),
    // Each run's pair (same machine state): the discipline's cost in ms, and its own join step.
    ...compare(samples),
    // The same, on split networks with x-berth rollout.traffic_networks: [web] (join = one connect).
    trafficNetworks,
    // With BENCH_BEFORE: the earlier berth's rollout without the discipline, in the same runs.
    before: before ? beforeComparison(samples) : undefined,
    nodeStartupMs,
    loadAverage: os.loadavg(),
    samples,
    goals: { overheadMedianMs: '<= 2000', failedRequests: '0', wallVsJoinDnsAtCreate: 'the discipline\'s own cost on one network: the join\'s disconnect + connect (~80 ms, kernel time in the engine)', wallVsBefore: '<= 1.0 with BENCH_BEFORE: no slower than berth before it' },
  };
  out.pass = out.overheadMedianMs <= 2000 && out.failedRequests === 0 && (trafficNetworks?.failedRequests ?? 0) === 0 && (out.before?.wallVsBefore ?? 0) <= 1;
  console.log(writeResult('rollout', out));
} finally {
  await cleanup();
}

async function cleanup() {
  await stack.down();
  await split.down();
  await removeImages(engine);
  if (before) for (const dir of [before.dir, before.stateDir]) rmSync(dir, { recursive: true, force: true });
}
