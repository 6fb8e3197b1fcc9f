// The baseline of bench/monitor.mjs: an exporter that works as docker_state_exporter does, on
// every scrape listing all containers and inspecting each one, then rendering the same
// docker_state names. Written here (the Go original cannot be fetched); like the original it
// asks the engine at scrape time. Unlike the original it survives a container removed between
// list and inspect (it skips it), so it can run through the benchmark.
//   node bench/lib/list-inspect-exporter.mjs SOCKET_PATH PORT
import http from 'node:http';
import { gzip } from 'node:zlib';

const [socketPath, port] = process.argv.slice(2);

function get(path) {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, path, method: 'GET', agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => (res.statusCode === 200 ? resolve(JSON.parse(Buffer.concat(chunks).toString())) : reject(new Error(`${path}: ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end();
  });
}

const esc = (v) => String(v).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

async function scrape() {
  const list = await get('/v1.41/containers/json?all=true');
  const inspected = (await Promise.all(list.map((c) => get(`/v1.41/containers/${c.Id}/json`).catch(() => undefined)))).filter(Boolean);
  const lines = ['# TYPE container_state_health_status gauge', '# TYPE container_state_status gauge', '# TYPE container_state_oomkilled gauge', '# TYPE container_state_startedat gauge', '# TYPE container_state_finishedat gauge', '# TYPE container_restartcount gauge'];
  for (const c of inspected) {
    const l = `id="${esc(c.Id)}",name="${esc(c.Name.replace(/^\//, ''))}",image="${esc(c.Config.Image)}"`;
    const health = c.State.Health?.Status ?? 'none';
    for (const s of ['none', 'starting', 'healthy', 'unhealthy']) lines.push(`container_state_health_status{${l},status="${s}"} ${health === s ? 1 : 0}`);
    for (const s of ['created', 'running', 'paused', 'restarting', 'removing', 'exited', 'dead']) lines.push(`container_state_status{${l},status="${s}"} ${c.State.Status === s ? 1 : 0}`);
    lines.push(`container_state_oomkilled{${l}} ${c.State.OOMKilled ? 1 : 0}`);
    lines.push(`container_state_startedat{${l}} ${Date.parse(c.State.StartedAt) / 1000 || 0}`);
    lines.push(`container_state_finishedat{${l}} ${Date.parse(c.State.FinishedAt) / 1000 || 0}`);
    lines.push(`container_restartcount{${l}} ${c.RestartCount}`);
  }
  return `${lines.join('\n')}\n`;
}

http.createServer((req, res) => {
  if (req.url !== '/metrics') return void res.writeHead(404).end();
  // gzip when asked, as Go's promhttp (docker_state_exporter's handler) does.
  const gz = /\bgzip\b/.test(req.headers['accept-encoding'] ?? '');
  scrape().then(
    (text) => (gz ? gzip(text, { level: 1 }, (_, body) => res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4', 'content-encoding': 'gzip' }).end(body)) : res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(text)),
    (e) => res.writeHead(500).end(String(e)),
  );
}).listen(Number(port), '127.0.0.1', () => process.stdout.write('listening\n'));
