/** `node dist/testing/cleanup.js RUN_ID`: removes what a test run left behind. */
import { Engine } from '../engine/client.js';
import { removeLabelled, RUN_ID } from './engine.js';

const engine = await Engine.connect();
// Every scope of the run (berth.test=<run id>-…) and its Compose test projects.
await removeLabelled(engine, process.argv[2] ?? RUN_ID, { prefix: true });
