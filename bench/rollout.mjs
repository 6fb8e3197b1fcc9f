// berth rollout wall time against its inherent minimum, measured side by side in one run:
//   minimum = a new container's start + its time to "healthy" + the drain wait + the old one's stop
//   (each measured here on the same engine, same image, same healthcheck), overhead = wall - minimum.
// Goal: overhead ≤ 2 s. The rollout is the real CLI (node bin/berth.js rollout app) on the test stack
// (Caddy + node app, 1 replica) while a bounded load (40 req/s) runs through the proxy.
// Traffic discipline (issue 8) side by side: each run also rolls out with --join-dns-at-create (the
// behaviour before it: new replicas in DNS from creation), and the wall times are compared; then the
// same pairs on split networks with x-berth rollout.traffic_networks, where the join is one connect.
import { setTimeout as sleep } from 'node:timers/promises';
import { spawnSync } from 'node:child_process';
import os from 'node:os';
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

/** Paired rollouts on a stack, ABBA order: berth's discipline vs --join-dns-at-create. */
async function pairs(target, count) {
  const wall = [];
  const control = [];
  const joins = [];
  let failed = 0;
  let requests = 0;
  for (let i = 1; i <= count; i++) {
    const controlRun = async () => {
      const t = performance.now();
      const r = await target.berth(['--json', 'rollout', 'app', '--join-dns-at-create'], { image: images[versions[2 * i]] });
      if (r.code !== 0) throw new Error(`rollout --join-dns-at-create failed: ${r.stderr}`);
      control.push(performance.now() - t);
    };
    if (i % 2 === 0) await controlRun();
    const load = startLoad(await target.port(), { rps: 40, maxMs: 120_000 });
    const t = performance.now();
    const r = await target.berth(['--json', 'rollout', 'app'], { image: images[versions[2 * i - 1]] });
    wall.push(performance.now() - t);
    const counts = await load.stop();
    if (r.code !== 0) throw new Error(`rollout failed: ${r.stderr}`);
    joins.push(JSON.parse(r.stdout).services[0].phases.join ?? 0);
    failed += counts.failed;
    requests += counts.sent;
    if (i % 2 === 1) await controlRun();
    console.error(`split run ${i}: wall ${Math.round(wall.at(-1))} ms, --join-dns-at-create ${Math.round(control.at(-1))} ms, join ${Math.round(joins.at(-1))} ms, failed ${counts.failed}/${counts.sent}`);
  }
  return {
    runs: count,
    wallMedianMs: median(wall),
    joinDnsAtCreateWallMedianMs: median(control),
    wallVsJoinDnsAtCreate: median(wall) / median(control),
    pairedDifferenceMedianMs: median(wall.map((w, k) => w - control[k])),
    joinStepMedianMs: median(joins),
    failedRequests: failed,
    requests,
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

const versions = Array.from({ length: 2 * runs + 1 }, (_, i) => `b${i + 1}`);
const images = {};
try {
  for (const v of versions) images[v] = await buildApp(v);
  await stack.up(images.b1, 1);
  const network = `${stack.project}_default`;
  const samples = [];
  const joinAtCreate = [];
  for (let i = 1; i <= runs; i++) {
    const base = await inherent(images[versions[2 * i - 1]], network);
    const minimumMs = base.startMs + base.toHealthyMs + drainMs + base.stopMs;
    // Alternating which goes first (ABBA) so a drift of the machine does not favour one side.
    const control = async () => {
      const t1 = performance.now();
      const before = await stack.berth(['--json', 'rollout', 'app', '--join-dns-at-create'], { image: images[versions[2 * i]] });
      if (before.code !== 0) throw new Error(`rollout --join-dns-at-create failed: ${before.stderr}`);
      joinAtCreate.push(performance.now() - t1);
      console.error(`run ${i}: --join-dns-at-create wall ${Math.round(joinAtCreate.at(-1))} ms`);
    };
    if (i % 2 === 0) await control();
    const load = startLoad(await stack.port(), { rps: 40, maxMs: 120_000 });
    const t0 = performance.now();
    const r = await stack.berth(['--json', 'rollout', 'app'], { image: images[versions[2 * i - 1]] });
    const wallMs = performance.now() - t0;
    const counts = await load.stop();
    if (r.code !== 0) throw new Error(`rollout failed: ${r.stderr}`);
    const result = JSON.parse(r.stdout);
    const phases = result.services[0].phases;
    samples.push({ wallMs, minimumMs, overheadMs: wallMs - minimumMs, baseline: base, phases, inProcessMs: result.services[0].durationMs, requests: counts.sent, failed: counts.failed });
    console.error(`run ${i}: wall ${Math.round(wallMs)} ms, minimum ${Math.round(minimumMs)} ms, overhead ${Math.round(wallMs - minimumMs)} ms, join ${Math.round(phases.join ?? 0)} ms, failed requests ${counts.failed}/${counts.sent}`);
    if (i % 2 === 1) await control();
  }
  // Split networks: the join is one connect to the traffic network.
  await stack.down();
  await split.up(images.b1, 1);
  const trafficNetworks = splitRuns > 0 ? await pairs(split, splitRuns) : undefined;
  const nodeStartupMs = median(Array.from({ length: 5 }, () => { const t = performance.now(); spawnSync(process.execPath, ['-e', '0']); return performance.now() - t; }));
  const out = {
    runs,
    stack: 'src/rollout/fixtures (Caddy dynamic a refresh 1s + node app, 1 replica, STARTUP_MS 1500, healthcheck interval 1s)',
    wallMedianMs: median(samples.map((s) => s.wallMs)),
    minimumMedianMs: median(samples.map((s) => s.minimumMs)),
    overheadMedianMs: median(samples.map((s) => s.overheadMs)),
    // The rollout measured inside berth (from plan to the last step), without CLI start and project load.
    inProcessMedianMs: median(samples.map((s) => s.inProcessMs)),
    joinDnsAtCreateWallMedianMs: median(joinAtCreate),
    wallVsJoinDnsAtCreate: median(samples.map((s) => s.wallMs)) / median(joinAtCreate),
    // Each run's pair (same machine state): the discipline's cost in ms, and its own join step.
    pairedDifferenceMedianMs: median(samples.map((s, k) => s.wallMs - joinAtCreate[k])),
    joinStepMedianMs: median(samples.map((s) => s.phases.join ?? 0)),
    failedRequests: samples.reduce((n, s) => n + s.failed, 0),
    requests: samples.reduce((n, s) => n + s.requests, 0),
    // The same, on split networks with x-berth rollout.traffic_networks: [web] (join = one connect).
    trafficNetworks,
    nodeStartupMs,
    loadAverage: os.loadavg(),
    samples,
    goals: { overheadMedianMs: '<= 2000', failedRequests: '0', wallVsJoinDnsAtCreate: 'no worse than before the traffic discipline (about 1.0)' },
  };
  out.pass = out.overheadMedianMs <= 2000 && out.failedRequests === 0 && (trafficNetworks?.failedRequests ?? 0) === 0;
  console.log(writeResult('rollout', out));
} finally {
  await stack.down();
  await split.down();
  await removeImages(engine);
}
