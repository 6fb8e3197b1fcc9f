// The demo's second half: `berth deploy` of app version 2 under live traffic through the proxy,
// then the request count and failures. Bounded: 50 requests/s to 127.0.0.1 while the deploy runs.
import { spawn } from 'node:child_process';
import http from 'node:http';

const stackArgs = process.argv.slice(2);
const port = Number((process.env.PROXY_BIND ?? '127.0.0.1:8080').split(':')[1] || 8080);
const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
const counts = { total: 0, failed: 0, byVersion: {} };
let running = true;

function once() {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent, timeout: 5000 }, (res) => {
      res.resume();
      res.on('end', () => {
        counts.total++;
        if (res.statusCode !== 200) counts.failed++;
        const v = res.headers['x-app-version'] ?? '?';
        counts.byVersion[v] = (counts.byVersion[v] ?? 0) + 1;
        resolve();
      });
    });
    req.on('error', () => { counts.total++; counts.failed++; resolve(); });
    req.on('timeout', () => req.destroy(new Error('timeout')));
  });
}

async function load() {
  while (running) {
    await Promise.all([once(), new Promise((r) => setTimeout(r, 20))]);
  }
}

const deploy = (version) => new Promise((resolve) => {
  const child = spawn(process.execPath, ['bin/berth.js', ...stackArgs, 'deploy', 'app'], { stdio: 'inherit', env: { ...process.env, APP_VERSION: version } });
  child.on('close', resolve);
});

console.log(`\n== 3. berth deploy app (version 2) under live traffic to 127.0.0.1:${port}`);
const traffic = load();
const code = await deploy('2');
running = false;
await traffic;
agent.destroy();
console.log(`\n== 4. traffic during the deploy: ${counts.total} requests, ${counts.failed} failed; by version: ${JSON.stringify(counts.byVersion)}`);
console.log(counts.failed === 0 && code === 0 ? 'zero-downtime deploy: no request failed' : `deploy exit ${code}, ${counts.failed} failed requests`);
process.exitCode = code === 0 && counts.failed === 0 ? 0 : 1;
