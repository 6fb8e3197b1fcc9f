/**
 * The heartbeat (dead-man's switch): a monitor on the same box shares its fate, so the agent
 * pings an outside URL (healthchecks.io, Uptime Kuma's push monitor, Better Stack, ...) on a
 * schedule and the outside service pages when the pings stop. A ping says "the agent runs AND
 * sees the engine": while the engine cannot be seen, the agent stops pinging, so the outside
 * service pages for that too.
 */
import { fetchErrorMessage } from './notify.js';

export interface HeartbeatOptions {
  url: string;
  everyMs: number;
  /** Whether the engine is seen now (the watcher's health). */
  engineUp: () => boolean;
  log?: (line: Record<string, unknown>) => void;
  timeoutMs?: number;
}

export interface Heartbeat {
  /** One beat now: 'sent', 'withheld' (engine not seen) or 'failed'. */
  beat(): Promise<'sent' | 'withheld' | 'failed'>;
  readonly last: { at: number; outcome: 'sent' | 'withheld' | 'failed'; error?: string } | undefined;
  stop(): void;
}

export function startHeartbeat(options: HeartbeatOptions): Heartbeat {
  const log = options.log ?? (() => undefined);
  let last: Heartbeat['last'];
  let withheldLogged = false;
  const beat = async (): Promise<'sent' | 'withheld' | 'failed'> => {
    const at = Date.now();
    if (!options.engineUp()) {
      if (!withheldLogged) log({ event: 'heartbeat-withheld', reason: 'the engine cannot be seen' });
      withheldLogged = true;
      last = { at, outcome: 'withheld' };
      return 'withheld';
    }
    withheldLogged = false;
    try {
      const response = await fetch(options.url, { method: 'GET', headers: { 'user-agent': 'berth-agent heartbeat' }, signal: AbortSignal.timeout(options.timeoutMs ?? 10_000) });
      await response.arrayBuffer().catch(() => undefined);
      if (response.status >= 400) throw new Error(`HTTP ${response.status}`);
      last = { at, outcome: 'sent' };
      return 'sent';
    } catch (error) {
      last = { at, outcome: 'failed', error: fetchErrorMessage(error) };
      log({ event: 'heartbeat-failed', error: fetchErrorMessage(error) });
      return 'failed';
    }
  };
  const timer = setInterval(() => void beat(), options.everyMs);
  timer.unref();
  return {
    beat,
    get last() {
      return last;
    },
    stop: () => clearInterval(timer),
  };
}
