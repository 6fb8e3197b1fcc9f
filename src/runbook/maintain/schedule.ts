/**
 * `berth agent` runs `berth maintain` on x-berth.maintain.schedule (cron, as the backup schedules):
 * the reference's automated weekly image rebuilds, with berth's safe prune.
 */
import { Cron } from 'croner';
import type { ComposeProject } from '../../compose/types.js';
import type { Engine } from '../../engine/client.js';
import { BerthError, ExitCode, errorMessage } from '../../lib/errors.js';
import type { StateStore } from '../../state/store.js';

export interface ScheduledMaintain {
  schedule: string;
  next(): Date | null;
  /** Runs maintain now (tests); resolves when it finished. */
  trigger(): Promise<void>;
  stop(): Promise<void>;
}

export function scheduleMaintain(options: { engine: Engine; store: StateStore; project: ComposeProject; log: (line: Record<string, unknown>) => void }): ScheduledMaintain | undefined {
  const { project, log } = options;
  const config = project.berth.maintain;
  if (!config?.schedule) return undefined;
  try {
    new Cron(config.schedule, { paused: true });
  } catch (error) {
    throw new BerthError(`invalid x-berth.maintain.schedule "${config.schedule}": ${errorMessage(error)}`, { exitCode: ExitCode.usage });
  }
  let running: Promise<void> | undefined;
  const run = async () => {
    log({ event: 'maintain-start' });
    try {
      const [{ runMaintain }, { composeRunner }] = await Promise.all([import('./run.js'), import('../../compose/cli.js')]);
      const compose = composeRunner(project, options.store);
      const report = await runMaintain(
        { engine: options.engine, store: options.store, project, compose: () => compose },
        { refresh: true, prune: true, keep: config.keep ?? 3, dangling: false, buildCache: true, buildCacheAgeMs: 168 * 3_600_000, dryRun: false },
        (text) => log({ event: 'maintain-note', text }),
      );
      log({ event: 'maintain-result', ok: report.ok, rolledOut: report.refresh?.rolledOut, error: report.refresh?.error, removed: report.prune?.removed, freedBytes: report.prune?.freedBytes });
    } catch (error) {
      log({ event: 'maintain-error', error: errorMessage(error) });
    }
  };
  const trigger = () => (running ??= run().finally(() => (running = undefined)));
  const cron = new Cron(config.schedule, { protect: true, catch: true, name: `berth-maintain-${project.name}` }, () => trigger());
  log({ event: 'scheduled', target: 'maintain', schedule: config.schedule, next: cron.nextRun()?.toISOString() ?? null });
  return {
    schedule: config.schedule,
    next: () => cron.nextRun(),
    trigger,
    stop: async () => {
      cron.stop();
      await running;
    },
  };
}
