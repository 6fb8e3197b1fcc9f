// berth --version and berth status against their baselines, alternated in one run:
//   median `berth --version` (goal < 150 ms) and median `berth status` vs `docker ps` (goal < 2x).
// For context: the same status from the unbundled modules (dist/cli/main.js, no code cache),
// Compose's own `ps`, and a bare `node -e 0`, the floor of any node CLI.
import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { median, writeResult } from './machine.mjs';

const stack = ['-f', 'examples/production/compose.yaml', '-p', 'berth-bench'];
const env = { ...process.env, NO_COLOR: '1', PROXY_BIND: '127.0.0.1:', DOCKER_GID: String(statSync('/var/run/docker.sock').gid) };
const time = (cmd, args) => {
  const start = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { env, stdio: 'ignore' });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (r.status !== 0 && r.status !== 1) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}`);
  return ms;
};
const berth = (...args) => ['bin/berth.js', ...args];

const up = spawnSync(process.execPath, berth(...stack, 'up'), { env, stdio: 'inherit' });
if (up.status !== 0) throw new Error('could not bring the example stack up');
// The installed Compose as berth runs it (v1 gets berth's rendering of the file), for `compose ps`.
const plan = JSON.parse(spawnSync(process.execPath, berth(...stack, '--json', 'up', '--dry-run'), { env, encoding: 'utf8' }).stdout);
const composeCmd = plan.compose.slice(0, plan.compose.indexOf('up'));
try {
  const runs = Number(process.env.BENCH_RUNS ?? 15);
  const version = [], status = [], unbundled = [], dockerPs = [], composePs = [];
  for (let i = 0; i < 3; i++) { time(process.execPath, berth('--version')); time(process.execPath, berth(...stack, 'status')); }
  for (let i = 0; i < runs; i++) {
    version.push(time(process.execPath, berth('--version')));
    status.push(time(process.execPath, berth(...stack, 'status')));
    unbundled.push(time(process.execPath, ['dist/cli/main.js', ...stack, 'status']));
    dockerPs.push(time('docker', ['ps', '--filter', 'label=com.docker.compose.project=berth-bench']));
    composePs.push(time(composeCmd[0], [...composeCmd.slice(1), 'ps']));
  }
  const result = {
    runs,
    versionMedianMs: median(version),
    statusMedianMs: median(status),
    dockerPsMedianMs: median(dockerPs),
    statusVsDockerPs: median(status) / median(dockerPs),
    // bin/berth.js runs dist/bundle/berth.cjs with a V8 code cache; this is without them.
    statusUnbundledMedianMs: median(unbundled),
    // The installed Compose's own `ps` of the same project, for context.
    composePsMedianMs: median(composePs),
    statusVsComposePs: median(status) / median(composePs),
    nodeStartupMs: median(Array.from({ length: 9 }, () => time(process.execPath, ['-e', '0']))),
    goals: { versionMedianMs: '< 150', statusVsDockerPs: '< 2.0' },
  };
  result.pass = result.versionMedianMs < 150 && result.statusVsDockerPs < 2;
  console.log(writeResult('status', result));
} finally {
  spawnSync(process.execPath, berth(...stack, '--profile', 'backup', '--profile', 'migrate', 'compose', '--', 'down', '-v'), { env, stdio: 'ignore' });
}
