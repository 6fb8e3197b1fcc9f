// berth rollout --swarm against `docker service update` alone, side by side in one run, on the two-node
// Swarm of the tests (src/swarm/testing.ts: two dockerds of its own in network namespaces; the shared
// engine is never in swarm mode). Both sides do the same update of the same service (2 tasks, one per
// node, start-first, failure_action rollback, monitor 5s, health-gated) between two images, in an order
// that rotates across runs, under the same bounded load (40 req/s through Caddy resolving tasks.app,
// inside the manager's namespace). berth's cost over Swarm's own is its lock, history, planning and
// convergence watching; `docker service update` (the CLI waits for convergence) is the baseline.
import { buildSwarmApp, removeSwarmApps, SwarmStack, SWARM_FIXTURE, TestSwarm } from '../dist/swarm/testing.js';
import { median, writeResult } from './machine.mjs';

const runs = Number(process.env.BENCH_RUNS ?? 5);
const images = [await buildSwarmApp('1'), await buildSwarmApp('2')];
const swarm = await TestSwarm.start({ images, managerImages: ['local/caddy:latest'] });
const stack = new SwarmStack(swarm, 'benchswarm', [SWARM_FIXTURE], { APP_IMAGE: images[0] });
const sides = { berth: [], docker: [] };
// Swarm's own update time (UpdateStatus StartedAt -> CompletedAt) per side: wall - swarm = the tool's overhead.
const swarmMs = { berth: [], docker: [] };
const failed = { berth: 0, docker: 0 };
const sent = { berth: 0, docker: 0 };
try {
  const deploy = await stack.berth(['deploy', '--swarm']);
  if (deploy.code !== 0) throw new Error(`deploy --swarm failed: ${deploy.stderr}`);
  const port = await stack.proxyPort();
  await stack.waitServing(port, '1');
  let current = 0;
  const update = {
    berth: async (image) => {
      const r = await stack.berth(['rollout', '--swarm', 'app'], { env: { APP_IMAGE: image } });
      if (r.code !== 0) throw new Error(`berth rollout --swarm failed: ${r.stdout}${r.stderr}`);
    },
    docker: (image) => swarm.docker(['service', 'update', '--quiet', '--detach=false', '--image', image, '--update-order', 'start-first', '--update-failure-action', 'rollback', '--update-monitor', '5s', '--update-parallelism', '1', `${stack.project}_app`], swarm.manager, { timeoutMs: 180_000 }),
  };
  for (let i = 0; i < runs; i++) {
    const order = i % 2 ? ['docker', 'berth'] : ['berth', 'docker'];
    for (const side of order) {
      current = 1 - current;
      const load = swarm.startLoad(port, { rps: 40, maxMs: 120_000, path: '/cgi-bin/v' });
      try {
        const t0 = performance.now();
        await update[side](images[current]);
        sides[side].push(performance.now() - t0);
        const status = JSON.parse(await swarm.docker(['service', 'inspect', `${stack.project}_app`, '--format', '{{json .UpdateStatus}}']));
        if (status.State !== 'completed') throw new Error(`${side}: the update ended ${status.State}`);
        swarmMs[side].push(Date.parse(status.CompletedAt) - Date.parse(status.StartedAt));
        const result = await load.stop();
        failed[side] += result.failed;
        sent[side] += result.sent;
        process.stderr.write(`run ${i + 1} ${side}: ${Math.round(sides[side].at(-1))} ms (Swarm's update ${swarmMs[side].at(-1)} ms), ${result.failed}/${result.sent} failed\n`);
      } finally {
        load.kill();
      }
    }
  }
  const m = { berth: median(sides.berth), docker: median(sides.docker) };
  const out = {
    goal: 'berth rollout --swarm wall time close to docker service update alone (ratio ~1), zero failed requests',
    runs,
    stack: '2 app tasks (one per node, busybox httpd, healthy ~3 s after start), Caddy on the manager; start-first, monitor 5s',
    wallMs: { berth: sides.berth.map(Math.round), dockerServiceUpdate: sides.docker.map(Math.round) },
    medianMs: { berth: Math.round(m.berth), dockerServiceUpdate: Math.round(m.docker) },
    ratio: Number((m.berth / m.docker).toFixed(3)),
    overheadMs: Math.round(m.berth - m.docker),
    swarmUpdateMs: swarmMs,
    medianSwarmUpdateMs: { berth: Math.round(median(swarmMs.berth)), dockerServiceUpdate: Math.round(median(swarmMs.docker)) },
    // What each tool adds to Swarm's own update: start-up before the update is sent, and noticing the end.
    medianToolOverheadMs: {
      berth: Math.round(median(sides.berth.map((w, i) => w - swarmMs.berth[i]))),
      dockerServiceUpdate: Math.round(median(sides.docker.map((w, i) => w - swarmMs.docker[i]))),
    },
    failedRequests: { berth: `${failed.berth}/${sent.berth}`, dockerServiceUpdate: `${failed.docker}/${sent.docker}` },
    note: 'Both wait for Swarm to finish the update (docker service update --detach=false waits for convergence and its 5 s stability check; berth waits for UpdateStatus completed, which Swarm sets after the monitor window).',
  };
  console.log(writeResult('swarm-rollout', out));
} finally {
  await stack.down();
  await swarm.down();
  await removeSwarmApps(images);
}
