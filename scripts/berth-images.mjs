// Builds the images made from berth itself (after `npm run build`): the socket proxy and the agent.
// Docker's layer cache makes an unchanged rebuild quick.
import { buildSocketProxyImage } from '../dist/socket-proxy/image.js';

await buildSocketProxyImage('local/berth-socket-proxy:latest');

// The agent (berth itself) for the monitoring overlay (`berth monitor init`).
const { buildAgentImage } = await import('../dist/monitor/image.js');
await buildAgentImage('local/berth:latest');
