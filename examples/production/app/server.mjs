// The example app: answers with its version, and shuts down gracefully with berth/graceful.
import http from 'node:http';
import { hostname } from 'node:os';
import { createGraceful } from 'berth/graceful';

const version = process.env.APP_VERSION ?? 'dev';
// BAD_VERSION=1 builds a version that never becomes ready (for rollback tests and demos).
const broken = process.env.APP_BROKEN === '1';

const server = http.createServer((req, res) => {
  res.setHeader('content-type', 'application/json');
  res.setHeader('x-app-version', version);
  res.end(JSON.stringify({ version, host: hostname() }));
});

const graceful = createGraceful(server, {
  drainDelayMs: 2000,
  hardDeadlineMs: 25_000,
  checks: broken ? { startup: async () => { throw new Error('this version never becomes ready'); } } : {},
});

server.listen(3000, () => console.log(`app ${version} listening on :3000`));
export { graceful };
