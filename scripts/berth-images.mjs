// Builds the images made from berth itself (after `npm run build`): the socket proxy.
// Docker's layer cache makes an unchanged rebuild quick.
import { buildSocketProxyImage } from '../dist/socket-proxy/image.js';

await buildSocketProxyImage('local/berth-socket-proxy:latest');
