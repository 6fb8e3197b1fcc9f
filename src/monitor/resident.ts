/**
 * What `berth agent` runs beside the watcher when it monitors: built-in alerting with the
 * project's notification channels (x-berth monitor.notify), the heartbeat (monitor.heartbeat)
 * and the status page (monitor.status), all reading the one WatchState.
 */
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ComposeProject } from '../compose/types.js';
import { BerthError, errorMessage } from '../lib/errors.js';
import type { StateStore } from '../state/store.js';
import { startAlerting, type Alerting, type AlertingOptions } from './alerting.js';
import { startHeartbeat, type Heartbeat } from './heartbeat.js';
import { hostPaths, type Monitor } from './monitor.js';
import { createChannel } from './notify.js';
import { startStatusPage, type StatusPage } from './status-server.js';

export interface ResidentOptions {
  monitor: Monitor;
  store: StateStore;
  project: ComposeProject;
  log: (line: Record<string, unknown>) => void;
  /** Overrides of the alerting's timing and scope (tests); the channels come from x-berth. */
  alerting?: Partial<Omit<AlertingOptions, 'monitor' | 'store' | 'project' | 'log'>>;
  /** The admin token of the status page; default: x-berth monitor.status.token_file, else BERTH_STATUS_TOKEN. */
  statusToken?: string;
  /** Host alerts watch the Docker root and local backup destinations; false: none. */
  hostMetrics?: boolean;
  dockerRoot?: string;
  statusIntervalMs?: number;
}

export interface Resident {
  alerting: Alerting;
  statusPage: StatusPage;
  heartbeat: Heartbeat | undefined;
  handle(req: IncomingMessage, res: ServerResponse): boolean;
  stop(): Promise<void>;
}

/** The status page's admin token: the token file named in x-berth, else the environment. */
export function statusToken(project: ComposeProject, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const file = project.berth.monitor?.status?.tokenFile;
  if (file) {
    try {
      const token = readFileSync(file, 'utf8').trim();
      if (token.length < 16) throw new Error('shorter than 16 characters');
      return token;
    } catch (error) {
      throw new BerthError(`cannot use the status page token file ${file}: ${errorMessage(error)}`, { hint: 'x-berth monitor.status.token_file: a file holding a random token, e.g. openssl rand -hex 24' });
    }
  }
  return env.BERTH_STATUS_TOKEN || undefined;
}

export function startResident(options: ResidentOptions): Resident {
  const { monitor, store, project, log } = options;
  const config = project.berth.monitor;
  const channels = (config?.notify ?? []).map(createChannel);
  const alerting = startAlerting({
    monitor, store, project, channels, log,
    groupWaitMs: config?.groupWaitMs,
    repeatIntervalMs: config?.repeatIntervalMs,
    hostPaths: options.hostMetrics === false ? false : hostPaths(project, options.dockerRoot),
    ...options.alerting,
  });
  const statusPage = startStatusPage({
    monitor, store, project, alerting, log,
    token: options.statusToken ?? statusToken(project),
    public: config?.status?.public,
    title: config?.status?.title,
    intervalMs: options.statusIntervalMs,
  });
  const heartbeat = config?.heartbeat ? startHeartbeat({ url: config.heartbeat.url, everyMs: config.heartbeat.everyMs, engineUp: () => monitor.watcher.health.dockerUp, log }) : undefined;
  if (heartbeat) void monitor.watcher.ready.then(() => heartbeat.beat());
  if (channels.length) log({ event: 'alerting', channels: channels.map((c) => `${c.name} (${c.type}) ${c.target}`) });
  return {
    alerting,
    statusPage,
    heartbeat,
    handle: (req, res) => statusPage.handle(req, res),
    stop: async () => {
      heartbeat?.stop();
      statusPage.stop();
      await alerting.stop();
    },
  };
}
