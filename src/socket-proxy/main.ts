/**
 * Container entrypoint: the proxy from Tecnativa's environment variables, without the rest of
 * the berth CLI. Extra variables: COMPAT=1 (Tecnativa's rules), POLICY_FILE, LISTEN (comma
 * separated), METRICS (HOST:PORT), IDLE_TIMEOUT (seconds), BODY_POLICY=1 (compat only).
 */
import { checkDaemonSocket, loadProxyConfig, startSocketProxy } from './index.js';

const env = process.env;
try {
  const loaded = loadProxyConfig({
    env,
    compat: /^(1|true|yes|on)$/i.test(env.COMPAT ?? ''),
    policy: env.POLICY_FILE || undefined,
    listen: env.LISTEN ? env.LISTEN.split(',').map((s) => s.trim()).filter(Boolean) : undefined,
    metrics: env.METRICS || undefined,
  });
  for (const warning of loaded.warnings) process.stderr.write(`berth socket-proxy: warning: ${warning}\n`);
  // A socket that is not mounted is refused at start (the restart loop shows why), not a 502 per request.
  checkDaemonSocket(loaded.config.socketPath);
  const proxy = await startSocketProxy(loaded.config);
  process.stderr.write(`berth socket-proxy (${loaded.mode}) listening on ${proxy.addresses.join(', ')} → ${loaded.config.socketPath}\n`);
  const stop = () => { void proxy.close().then(() => process.exit(0)); };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
} catch (error) {
  process.stderr.write(`berth socket-proxy: ${(error as Error).message}\n`);
  process.exit(2);
}
