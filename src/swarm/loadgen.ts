/**
 * `node loadgen.js PORT RPS MAX_MS PATH`: the rollout tests' load generator (src/rollout/load.ts),
 * as a process the swarm tests start inside the manager's network namespace (nsenter), against
 * 127.0.0.1:PORT there. Driven over stdin, one command a line; answers one JSON line each:
 * `mark` (the window so far, then a new window), `snapshot` (the window so far), `stop` (the totals; exits).
 */
import { createInterface } from 'node:readline';
import { startLoad } from '../rollout/load.js';

const [port, rps, maxMs, path] = process.argv.slice(2);
const load = startLoad(Number(port), { rps: Number(rps), maxMs: Number(maxMs), path });
const answer = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);
for await (const line of createInterface({ input: process.stdin })) {
  const command = line.trim();
  if (command === 'snapshot') answer(load.snapshot());
  else if (command === 'mark') { answer(load.snapshot()); load.mark(); }
  else if (command === 'stop') { answer(await load.stop()); process.exit(0); }
}
// stdin closed: the test is gone.
await load.stop();
