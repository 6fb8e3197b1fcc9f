// The example app: answers with its version, and shuts down gracefully with berth/graceful.
import http from 'node:http';
import { hostname } from 'node:os';
import { createGraceful } from 'berth/graceful';

const version = process.env.APP_VERSION ?? 'dev';

const server = http.createServer((req, res) => {
  res.setHeader('content-type', 'application/json');
  res.setHeader('x-app-version', version);
  res.end(JSON.stringify({ version, host: hostname() }));
});

const graceful = createGraceful(server, { drainDelayMs: 2000 });

// APP_BROKEN=1 makes a version that never becomes ready: for rollback demos and tests.
if (process.env.APP_BROKEN === '1') graceful.setReady(false);

server.listen(3000, () => console.log(`app ${version} listening on :3000`));
