// berth --version and berth status against their baselines, alternated in one run:
//   median `berth --version` (goal < 150 ms) and median `berth status` vs `docker ps` (goal < 2x).
import { spawnSync } from 'node:child_process';
import { median, writeResult } from './machine.mjs';

const stack = ['-f', 'examples/production/compose.yaml', '-p', 'berth-bench'];
const env = { ...process.env, NO_COLOR: '1', PROXY_BIND: '127.0.0.1:', DOCKER_GID: '0' };
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
try {
  const runs = Number(process.env.BENCH_RUNS ?? 15);
  const version = [], status = [], dockerPs = [];
  for (let i = 0; i < 3; i++) { time(process.execPath, berth('--version')); time(process.execPath, berth(...stack, 'status')); }
  for (let i = 0; i < runs; i++) {
    version.push(time(process.execPath, berth('--version')));
    status.push(time(process.execPath, berth(...stack, 'status')));
    dockerPs.push(time('docker', ['ps', '--filter', 'label=com.docker.compose.project=berth-bench']));
  }
  const result = {
    runs,
    versionMedianMs: median(version),
    statusMedianMs: median(status),
    dockerPsMedianMs: median(dockerPs),
    statusVsDockerPs: median(status) / median(dockerPs),
    goals: { versionMedianMs: '< 150', statusVsDockerPs: '< 2.0' },
  };
  result.pass = result.versionMedianMs < 150 && result.statusVsDockerPs < 2;
  console.log(writeResult('status', result));
} finally {
  spawnSync(process.execPath, berth(...stack, '--profile', 'backup', '--profile', 'migrate', 'compose', '--', 'down', '-v'), { env, stdio: 'ignore' });
}
