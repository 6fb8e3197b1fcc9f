/**
 * berth/graceful — graceful shutdown for Node HTTP services in containers.
 *
 * Depends on node: builtins only and runs on Node 18+. Nothing happens at import time; signal
 * handlers are installed by createGraceful() and removed by dispose().
 *
 * On SIGTERM/SIGINT (see README.md for the reasons behind each step):
 *   1. readiness answers 503 "shutting down" at once, liveness stays 200 until exit;
 *   2. the server keeps serving for drainDelayMs (proxies notice the 503 and stop routing here);
 *      every response from now on carries `Connection: close`, so keep-alive clients reconnect elsewhere;
 *   3. the server stops accepting, in-flight responses get `Connection: close`, idle keep-alive
 *      sockets are ended gracefully (FIN, never destroyed mid-request), and in-flight requests finish;
 *   4. cleanup hooks run in order, each under its own timeout;
 *   5. exit(0).
 * The hard deadline forces exit(1); a second signal exits at once with 130.
 * The process never re-raises a signal on itself: as PID 1 without an init the kernel would ignore it.
 */
import * as net from 'node:net';
import * as tls from 'node:tls';
import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import type { Server as HttpsServer } from 'node:https';

export type ShutdownPhase = 'running' | 'draining' | 'closing' | 'cleanup' | 'exiting';

export interface ShutdownHook {
  /** For logs: which hook ran, timed out or failed. */
  name: string;
  /** Each hook has its own timeout; when it passes the next hook runs. Default: 2000 ms. */
  timeoutMs?: number;
  run: () => Promise<void> | void;
}

export interface GracefulLogger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export interface GracefulPaths {
  /** 200 until the process exits. Default '/livez'; false disables it. */
  liveness?: string | false;
  /** 200 when ready, 503 "shutting down" from the first signal on. Default '/readyz'; false disables it. */
  readiness?: string | false;
  /** Detailed health: runs `checks`, 200 healthy / 503 degraded or shutting down. Default '/health'; false disables it. */
  health?: string | false;
}

export interface GracefulOptions {
  /**
   * How long to keep serving after the signal, so proxies and load balancers see readiness 503 and
   * stop routing here before the server stops accepting. Default: 3000 ms, at most 40% of hardDeadlineMs.
   */
  drainDelayMs?: number;
  /**
   * From the signal on, the whole shutdown must end within this time or the process exits with 1.
   * Default: 8000 ms (under Docker's default 10 s stop_grace_period); when gracePeriodMs is known,
   * 80% of it or 2 s less, whichever is longer.
   */
  hardDeadlineMs?: number;
  /**
   * The container's stop_grace_period, if known. Default: env BERTH_STOP_GRACE_PERIOD ("30s", "1m30s",
   * "10" = seconds). A warning is logged when hardDeadlineMs is not below it: Docker would SIGKILL first.
   */
  gracePeriodMs?: number;
  /** Default ['SIGTERM', 'SIGINT']. */
  signals?: NodeJS.Signals[];
  /** Cleanup after the server closed, in order (close the database pool, flush queues...). */
  hooks?: ShutdownHook[];
  /** Named checks for the health endpoint; each resolves (ok) or rejects (error) within checkTimeoutMs. */
  checks?: Record<string, () => Promise<unknown>>;
  /** Default 2000 ms. */
  checkTimeoutMs?: number;
  /** Probe paths, served before the application's handler (GET and HEAD only). */
  paths?: GracefulPaths;
  /** Default: lines on stderr prefixed "graceful:"; false: silent. pino and console fit. */
  logger?: GracefulLogger | false;
  /** Default process.exit; injectable for tests. */
  exit?: (code: number) => void;
  /** Called once when shutdown starts (before the drain delay); errors are logged, never fatal. */
  onShutdown?: (reason: string) => void | Promise<void>;
  /** A socket that was ended gracefully but is still open after this long is destroyed. Default 1000 ms. */
  socketEndTimeoutMs?: number;
}

export interface Graceful {
  /** True from the first signal (or shutdown() call) on. */
  readonly isShuttingDown: boolean;
  readonly phase: ShutdownPhase;
  /** Requests currently being served (probe requests included). */
  readonly inFlight: number;
  /** Open client sockets the library tracks. */
  readonly connections: number;
  /** The settings in effect after defaults. */
  readonly settings: Readonly<{ drainDelayMs: number; hardDeadlineMs: number; gracePeriodMs: number | undefined; signals: NodeJS.Signals[] }>;
  /** Readiness for startup: false answers 503 "starting" until set true (default true). */
  setReady(ready: boolean): void;
  /**
   * Starts the shutdown (as a signal would) and resolves when it finished, just before exit is
   * called. Calling it again returns the same promise.
   */
  shutdown(reason?: string): Promise<void>;
  /**
   * Registers a hook called when the server stops accepting (step 3), for long-lived connections
   * the HTTP layer cannot end: WebSockets (close with 1001), server-sent events (end the stream).
   */
  onConnectionClose(hook: () => void | Promise<void>): void;
  /** Removes the signal handlers and the probe interception (for tests and hot reload). */
  dispose(): void;
}

type AnyServer = HttpServer | HttpsServer;

interface SocketState {
  socket: net.Socket;
  inFlight: number;
  /** The latest response on this socket (with pipelining, earlier ones are queued before it). */
  response: ServerResponse | undefined;
  /** Ended by us (FIN sent); destroyed if it lingers. */
  ending: boolean;
  upgraded: boolean;
}

/** Per-socket and per-response state lives on the objects themselves (under a per-instance symbol): no map lookups on the hot path. */
type Tracked<T> = T & { [key: symbol]: SocketState | undefined };

const DEFAULT_DEADLINE_MS = 8000;
const DEFAULT_DRAIN_MS = 3000;
const DEFAULT_HOOK_TIMEOUT_MS = 2000;
/** A second signal means "now": the conventional code for an interrupted process. */
export const SECOND_SIGNAL_EXIT_CODE = 130;

/** Parses "30s", "1m30s", "500ms", "1.5h" or a bare number of seconds, as Compose does. */
export function parseGracePeriod(text: string | undefined): number | undefined {
  if (text === undefined || text.trim() === '') return undefined;
  const value = text.trim();
  if (/^\d+(\.\d+)?$/.test(value)) return Number(value) * 1000;
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  let matched = 0;
  for (const m of value.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/gy)) {
    total += Number(m[1]) * (units[m[2]!] ?? 0);
    matched += m[0].length;
  }
  return matched > 0 && matched === value.length ? total : undefined;
}

/** Resolves defaults and checks the options; throws RangeError on impossible settings. */
export function resolveSettings(options: GracefulOptions, env: Record<string, string | undefined> = process.env) {
  const gracePeriodMs = options.gracePeriodMs ?? parseGracePeriod(env.BERTH_STOP_GRACE_PERIOD);
  const hardDeadlineMs =
    options.hardDeadlineMs ?? (gracePeriodMs === undefined ? DEFAULT_DEADLINE_MS : Math.round(Math.max(gracePeriodMs * 0.8, gracePeriodMs - 2000)));
  const drainDelayMs = options.drainDelayMs ?? Math.round(Math.min(DEFAULT_DRAIN_MS, hardDeadlineMs * 0.4));
  for (const [name, value] of Object.entries({ drainDelayMs, hardDeadlineMs })) {
    if (!Number.isFinite(value) || value < 0) throw new RangeError(`graceful: ${name} must be a number >= 0, got ${value}`);
  }
  if (drainDelayMs > hardDeadlineMs) {
    throw new RangeError(`graceful: drainDelayMs (${drainDelayMs}) must not exceed hardDeadlineMs (${hardDeadlineMs})`);
  }
  const warnings: string[] = [];
  if (options.gracePeriodMs === undefined && env.BERTH_STOP_GRACE_PERIOD && gracePeriodMs === undefined) {
    warnings.push(`BERTH_STOP_GRACE_PERIOD "${env.BERTH_STOP_GRACE_PERIOD}" is not a duration such as 30s or 1m30s: ignored`);
  }
  if (gracePeriodMs !== undefined && hardDeadlineMs >= gracePeriodMs) {
    warnings.push(
      `hardDeadlineMs ${hardDeadlineMs} ms is not below the stop grace period ${gracePeriodMs} ms: Docker will SIGKILL before the deadline; ` +
        `raise stop_grace_period or lower hardDeadlineMs`,
    );
  }
  return { drainDelayMs, hardDeadlineMs, gracePeriodMs, signals: options.signals ?? (['SIGTERM', 'SIGINT'] as NodeJS.Signals[]), warnings };
}

function stderrLogger(): GracefulLogger {
  const write = (level: string) => (message: string) => process.stderr.write(`graceful: ${level === 'info' ? '' : `${level}: `}${message}\n`);
  return { info: write('info'), warn: write('warn'), error: write('error') };
}

const silentLogger: GracefulLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };

/** Resolves after ms; the timer keeps the process alive on purpose (a shutdown must not be cut short by an empty loop). */
function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function withTimeout<T>(ms: number, run: () => Promise<T> | T): Promise<{ ok: true; value: T } | { ok: false; timedOut: boolean; error?: unknown }> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<{ ok: false; timedOut: true }>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, timedOut: true }), ms);
  });
  try {
    const work = Promise.resolve()
      .then(run)
      .then((value) => ({ ok: true as const, value }), (error: unknown) => ({ ok: false as const, timedOut: false, error }));
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Wraps a node:http or node:https server (express, fastify, hono on node:http: pass their server).
 * Installs the signal handlers and serves the probe paths before the application's handler.
 */
export function createGraceful(server: AnyServer, options: GracefulOptions = {}): Graceful {
  const settings = resolveSettings(options);
  const logger = options.logger === false ? silentLogger : (options.logger ?? stderrLogger());
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const hooks = options.hooks ?? [];
  const checks = options.checks ?? {};
  const checkTimeoutMs = options.checkTimeoutMs ?? 2000;
  const socketEndTimeoutMs = options.socketEndTimeoutMs ?? 1000;
  const paths = {
    liveness: options.paths?.liveness ?? '/livez',
    readiness: options.paths?.readiness ?? '/readyz',
    health: options.paths?.health ?? '/health',
  };
  for (const warning of settings.warnings) logger.warn(warning);

  const kState = Symbol('berth.graceful');
  let phase: ShutdownPhase = 'running';
  let ready = true;
  let inFlight = 0;
  let shutdownPromise: Promise<void> | undefined;
  let exited = false;
  const sockets = new Set<SocketState>();
  const connectionCloseHooks: Array<() => void | Promise<void>> = [];
  const startedAt = Date.now();
  let allClosed: (() => void) | undefined;

  const finish = (code: number) => {
    if (exited) return;
    exited = true;
    phase = 'exiting';
    exit(code);
  };

  const maybeAllClosed = () => {
    if (allClosed && sockets.size === 0) allClosed();
  };

  /** Ends a socket the polite way: FIN after any buffered output; destroyed only if it lingers. */
  const endSocket = (socket: net.Socket, state: SocketState) => {
    if (state.ending || socket.destroyed) return;
    state.ending = true;
    socket.end();
    const timer = setTimeout(() => socket.destroy(), socketEndTimeoutMs);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
  };

  const track = (socket: Tracked<net.Socket>): SocketState => {
    const existing = socket[kState];
    if (existing) return existing;
    const state: SocketState = { socket, inFlight: 0, response: undefined, ending: false, upgraded: false };
    socket[kState] = state;
    sockets.add(state);
    socket.once('close', () => {
      sockets.delete(state);
      maybeAllClosed();
    });
    if (phase === 'closing' || phase === 'cleanup') {
      // Accepted from the kernel's queue after we stopped accepting: give it a moment to send its
      // request (served with Connection: close), then end it if it stayed idle.
      const timer = setTimeout(() => {
        if (state.inFlight === 0) endSocket(socket, state);
      }, socketEndTimeoutMs);
      timer.unref();
    }
    return state;
  };

  // One shared listener for every response ('close' follows 'finish' on Node >= 16 and also fires
  // when the socket dies mid-response), so no closure is allocated per request.
  function onResponseClose(this: ServerResponse) {
    // res.socket is already detached here; the request keeps its socket.
    const state = (this.req.socket as Tracked<net.Socket>)[kState]!;
    state.inFlight--;
    inFlight--;
    if (state.response === this) state.response = undefined;
    // A socket that becomes idle during the close phase is ended after its response finished.
    if (state.inFlight === 0 && (phase === 'closing' || phase === 'cleanup')) endSocket(state.socket, state);
  }

  const onRequest = (req: IncomingMessage, res: Tracked<ServerResponse>) => {
    const state = track(req.socket as Tracked<net.Socket>);
    state.inFlight++;
    inFlight++;
    state.response = res;
    if (phase !== 'running') res.setHeader('Connection', 'close');
    res.on('close', onResponseClose);
  };

  const closeInFlightResponses = () => {
    for (const state of sockets) if (state.response && !state.response.headersSent) state.response.setHeader('Connection', 'close');
  };

  const json = (req: IncomingMessage, res: ServerResponse, status: number, body: unknown) => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store', 'Content-Length': Buffer.byteLength(text) });
    res.end(req.method === 'HEAD' ? undefined : text);
  };

  const runChecks = async () => {
    const results: Record<string, unknown> = {};
    let healthy = true;
    await Promise.all(
      Object.entries(checks).map(async ([name, check]) => {
        const outcome = await withTimeout(checkTimeoutMs, check);
        if (outcome.ok) results[name] = outcome.value === undefined || outcome.value === true ? 'ok' : outcome.value;
        else {
          healthy = false;
          results[name] = outcome.timedOut ? `error: timed out after ${checkTimeoutMs} ms` : `error: ${messageOf(outcome.error)}`;
        }
      }),
    );
    return { healthy, results };
  };

  /** Serves the probe paths; returns true when it answered the request. */
  const serveProbe = (req: IncomingMessage, res: ServerResponse): boolean => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q === -1 ? url : url.slice(0, q);
    if (path === paths.liveness) {
      json(req, res, 200, { status: 'ok' });
      return true;
    }
    if (path === paths.readiness) {
      if (phase !== 'running') json(req, res, 503, { status: 'shutting down' });
      else if (!ready) json(req, res, 503, { status: 'starting' });
      else json(req, res, 200, { status: 'ready' });
      return true;
    }
    if (path === paths.health) {
      runChecks().then(
        ({ healthy, results }) => {
          const status = phase !== 'running' ? 'shutting down' : !ready ? 'starting' : healthy ? 'healthy' : 'degraded';
          const mem = process.memoryUsage();
          json(req, res, status === 'healthy' ? 200 : 503, { status, checks: results, uptime: (Date.now() - startedAt) / 1000, memory_mb: Math.round(mem.rss / 2 ** 20) });
        },
        (error: unknown) => json(req, res, 500, { status: 'error', error: messageOf(error) }),
      );
      return true;
    }
    return false;
  };

  // Intercept 'request' on this server instance only: counting starts before any application
  // listener runs, and probe paths are answered without reaching the application, whatever the
  // order in which listeners were added.
  const originalEmit = server.emit;
  const patchedEmit = function (this: AnyServer, event: string | symbol, req?: IncomingMessage, res?: ServerResponse): boolean {
    if (event === 'request') {
      onRequest(req!, res as Tracked<ServerResponse>);
      if (serveProbe(req!, res!)) return true;
    } else if (event === 'checkContinue' || event === 'checkExpectation') {
      // Emitted instead of 'request' when the application listens for them: still a request in flight.
      onRequest(req!, res as Tracked<ServerResponse>);
    }
    // `arguments` keeps every argument of other events, without a rest-array copy on the hot path.
    // eslint-disable-next-line prefer-rest-params
    return (originalEmit as (...a: unknown[]) => boolean).apply(this, arguments as unknown as unknown[]);
  };
  server.emit = patchedEmit as typeof server.emit;

  // For TLS servers the socket requests arrive on is the TLSSocket of 'secureConnection'.
  const connectionEvent = server instanceof tls.Server ? 'secureConnection' : 'connection';
  const onConnection = (socket: net.Socket) => track(socket as Tracked<net.Socket>);
  server.on(connectionEvent, onConnection);
  const onUpgrade = (req: IncomingMessage) => {
    track(req.socket as Tracked<net.Socket>).upgraded = true;
  };
  server.on('upgrade', onUpgrade);

  /** Stops accepting without Node's own closeIdleConnections(), which (Node >= 19) destroys idle keep-alive sockets. */
  const stopAccepting = () =>
    new Promise<void>((resolve) => {
      if (!server.listening) return resolve();
      net.Server.prototype.close.call(server, (error?: Error) => {
        if (error) logger.warn(`server close: ${error.message}`);
        resolve();
      });
    });

  const runShutdown = async (reason: string) => {
    const started = Date.now();
    phase = 'draining';
    logger.info(
      `${reason}: shutting down (readiness 503; draining ${settings.drainDelayMs} ms; deadline ${settings.hardDeadlineMs} ms; ${inFlight} in flight, ${sockets.size} connections)`,
    );
    const deadline = setTimeout(() => {
      logger.error(
        `hard deadline ${settings.hardDeadlineMs} ms passed in phase ${phase} (${inFlight} requests in flight, ${sockets.size} connections open): exit 1`,
      );
      finish(1);
    }, settings.hardDeadlineMs);
    try {
      if (options.onShutdown) {
        try {
          await options.onShutdown(reason);
        } catch (error) {
          logger.error(`onShutdown failed: ${messageOf(error)}`);
        }
      }
      // Responses from now on carry Connection: close (see onRequest), so keep-alive clients move
      // to new connections while the proxy still may route here.
      closeInFlightResponses();
      const remaining = settings.drainDelayMs - (Date.now() - started);
      if (remaining > 0) await delay(remaining);
      if (exited) return;

      phase = 'closing';
      const closed = stopAccepting();
      for (const hook of connectionCloseHooks) {
        try {
          await hook();
        } catch (error) {
          logger.error(`connection close hook failed: ${messageOf(error)}`);
        }
      }
      closeInFlightResponses();
      for (const state of sockets) if (state.inFlight === 0 && !state.upgraded) endSocket(state.socket, state);
      const socketsClosed = new Promise<void>((resolve) => {
        allClosed = resolve;
        maybeAllClosed();
      });
      await Promise.all([closed, socketsClosed]);
      if (exited) return;
      logger.info(`server closed after ${Date.now() - started} ms; running ${hooks.length} cleanup hooks`);

      phase = 'cleanup';
      for (const hook of hooks) {
        if (exited) return;
        const timeoutMs = hook.timeoutMs ?? DEFAULT_HOOK_TIMEOUT_MS;
        const hookStart = Date.now();
        const outcome = await withTimeout(timeoutMs, hook.run);
        if (outcome.ok) logger.info(`hook ${hook.name} done in ${Date.now() - hookStart} ms`);
        else if (outcome.timedOut) logger.warn(`hook ${hook.name} timed out after ${timeoutMs} ms; next`);
        else logger.error(`hook ${hook.name} failed: ${messageOf(outcome.error)}; next`);
      }
      if (exited) return;
      logger.info(`shutdown complete in ${Date.now() - started} ms: exit 0`);
      clearTimeout(deadline);
      finish(0);
    } catch (error) {
      logger.error(`shutdown failed: ${messageOf(error)}: exit 1`);
      clearTimeout(deadline);
      finish(1);
    }
  };

  const shutdown = (reason = 'shutdown requested'): Promise<void> => {
    shutdownPromise ??= runShutdown(reason);
    return shutdownPromise;
  };

  const onSignal = (signal: NodeJS.Signals) => {
    if (shutdownPromise) {
      // Never process.kill(process.pid, signal): as PID 1 the kernel ignores it and nothing happens.
      logger.warn(`${signal} again: exiting now with ${SECOND_SIGNAL_EXIT_CODE}`);
      finish(SECOND_SIGNAL_EXIT_CODE);
      return;
    }
    void shutdown(signal);
  };
  for (const signal of settings.signals) process.on(signal, onSignal);

  return {
    get isShuttingDown() {
      return phase !== 'running';
    },
    get phase() {
      return phase;
    },
    get inFlight() {
      return inFlight;
    },
    get connections() {
      return sockets.size;
    },
    settings: { drainDelayMs: settings.drainDelayMs, hardDeadlineMs: settings.hardDeadlineMs, gracePeriodMs: settings.gracePeriodMs, signals: settings.signals },
    setReady(value: boolean) {
      ready = value;
    },
    shutdown,
    onConnectionClose(hook) {
      connectionCloseHooks.push(hook);
    },
    dispose() {
      for (const signal of settings.signals) process.removeListener(signal, onSignal);
      if (server.emit === patchedEmit) server.emit = originalEmit;
      server.removeListener(connectionEvent, onConnection);
      server.removeListener('upgrade', onUpgrade);
    },
  };
}
