import type { Command } from 'commander';
import { BerthError, ExitCode } from '../../lib/errors.js';
import { action } from '../context.js';
import { parseDuration } from '../../lib/duration.js';

interface SocketProxyOptions {
  listen?: string[];
  socket?: string;
  policy?: string;
  compat?: boolean;
  metrics?: string;
  idleTimeout?: string;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

export function registerSocketProxy(program: Command): void {
  program
    .command('socket-proxy')
    .description('Docker socket proxy: drop-in for Tecnativa docker-socket-proxy env variables, strict endpoint and body policy')
    .option('--listen <addr>', 'listen on HOST:PORT, :PORT or unix:///path (repeatable; default 127.0.0.1:2375: a host process serves this host only)', collect)
    .option('--socket <path>', 'the Docker socket (default SOCKET_PATH or /var/run/docker.sock); refused at start if it is not a socket')
    .option('--policy <file>', 'policy file (YAML or JSON): rules per endpoint and client network, body policy')
    .option('--compat', "Tecnativa's rules: HAProxy truthiness (CONTAINERS=true is OFF), section prefixes, POST gates everything, no body policy unless BODY_POLICY=1 (differences that close holes: see the README)")
    .option('--metrics <addr>', 'serve Prometheus metrics on HOST:PORT/metrics')
    .option('--idle-timeout <duration>', "close streams idle this long: seconds or a duration such as 10m (emulates Tecnativa's 10m cut; default never)")
    .addHelpText('after', `
Environment (Tecnativa's): CONTAINERS IMAGES NETWORKS VOLUMES EXEC INFO SERVICES TASKS NODES SWARM
SECRETS CONFIGS PLUGINS SYSTEM BUILD COMMIT DISTRIBUTION AUTH SESSION GRPC (default 0), EVENTS PING
VERSION (default 1), POST, ALLOW_START ALLOW_STOP ALLOW_RESTARTS, SOCKET_PATH, LOG_LEVEL, DISABLE_IPV6.
Strict mode only: ALLOW_ARCHIVE ALLOW_EXPORT ALLOW_ATTACH ALLOW_IMAGES_GET ALLOW_UNLOCKKEY, and DELETE
(removing and pruning is its own right: POST=1 does not grant it).

Every request is logged as one JSON line on stdout (credentials redacted).

Examples:
  CONTAINERS=1 NETWORKS=1 berth socket-proxy                     # read-only access on 127.0.0.1:2375
  CONTAINERS=1 POST=1 berth socket-proxy --compat                # Tecnativa's rules
  berth socket-proxy --listen 127.0.0.1:2375 --policy policy.yaml --metrics 127.0.0.1:9102
  berth socket-proxy --listen unix:///run/berth/docker.sock --socket /var/run/docker.sock
In a container (the image, src/socket-proxy/Dockerfile) the proxy listens on [::]:2375.`)
    .action(
      action(async (ctx, opts: SocketProxyOptions) => {
        const { checkDaemonSocket, isLocalListen, loadProxyConfig, startSocketProxy, PolicyError } = await import('../../socket-proxy/index.js');
        const usage = (error: unknown): never => {
          if (error instanceof PolicyError || error instanceof BerthError) throw new BerthError(`socket-proxy: ${error.message}`, { exitCode: ExitCode.usage });
          throw error;
        };
        let loaded;
        try {
          const idleTimeoutMs = opts.idleTimeout === undefined ? undefined : parseDuration(opts.idleTimeout, '--idle-timeout');
          loaded = loadProxyConfig({
            compat: opts.compat,
            policy: opts.policy,
            // A host process defaults to this host only; the container entrypoint keeps [::]:2375.
            listen: opts.listen ?? ['127.0.0.1:2375'],
            socketPath: opts.socket,
            metrics: opts.metrics,
            idleTimeoutMs,
          });
          checkDaemonSocket(loaded.config.socketPath);
        } catch (error) {
          usage(error);
        }
        loaded = loaded!;
        for (const warning of loaded.warnings) process.stderr.write(`berth socket-proxy: warning: ${warning}\n`);
        if (!loaded.clients) {
          for (const spec of loaded.config.listen.filter((l) => !isLocalListen(l))) {
            process.stderr.write(`berth socket-proxy: WARNING: listening on ${spec} without a client allow-list: anyone who can reach this address gets the Docker API this policy grants, unauthenticated. Listen on 127.0.0.1 or a unix socket, or name the clients (clients: in a --policy file).\n`);
          }
        }
        let proxy;
        try { proxy = await startSocketProxy(loaded.config); } catch (error) { usage(error); }
        proxy = proxy!;
        const started = { listening: proxy.addresses, socket: loaded.config.socketPath, mode: loaded.mode, metrics: proxy.metricsAddress };
        if (ctx.output.json) process.stderr.write(`${JSON.stringify(started)}\n`);
        else process.stderr.write(`berth socket-proxy (${loaded.mode}) listening on ${proxy.addresses.join(', ')} → ${loaded.config.socketPath}${proxy.metricsAddress ? `, metrics on ${proxy.metricsAddress}/metrics` : ''}\n`);
        await new Promise<void>((resolve) => {
          const stop = () => { void proxy.close().then(resolve); };
          process.once('SIGTERM', stop);
          process.once('SIGINT', stop);
        });
        return ExitCode.ok;
      }),
    );
}
