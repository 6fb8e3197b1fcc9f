/** `node dist/testing/cleanup.js RUN_ID`: removes what a test run left behind. */
import { Engine } from '../engine/client.js';
import { removeLabelled, RUN_ID } from './engine.js';

const engine = await Engine.connect();
// Every scope of the run (berth.test=<run id>-…) and its Compose test projects.
await removeLabelled(engine, process.argv[2] ?? RUN_ID, { prefix: true });
// The two-node Swarms of the swarm tests (their own dockerds and namespaces) that the run left behind.
if (process.getuid?.() === 0) await (await import('../swarm/testing.js')).TestSwarm.sweep(process.argv[2] ?? RUN_ID).catch(() => undefined);
