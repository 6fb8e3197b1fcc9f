/**
 * Helper containers (volume snapshots and restores, restore tests) that cannot outlive berth.
 *
 * A volume helper runs `cat` with its stdin attached to berth (OpenStdin + StdinOnce) and
 * AutoRemove: when berth goes away by any path, SIGKILL included, the kernel closes the attach
 * socket, the engine closes the helper's stdin, cat exits and the engine removes the container.
 * Every helper also carries the run that made it (host, pid, run id), so the next run removes
 * what an engine restart or an older berth left behind, and says so.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { Duplex } from 'node:stream';
import type Dockerode from 'dockerode';
import type { Engine } from '../engine/client.js';
import { statusCode } from '../engine/client.js';
import { isProcessAlive } from '../lib/process.js';

export const HELPER_IMAGE = process.env.BERTH_BACKUP_HELPER_IMAGE || 'local/busybox:latest';
export const ROLE_LABEL = 'berth.role';
export const OWNER_LABEL = 'berth.backup.owner';
export const RUN_LABEL = 'berth.backup.run';
export const PROJECT_LABEL = 'berth.backup.project';

/** This process's run id: every helper it makes carries it. */
export const RUN_ID = `${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;

/** The machine's own name (not BERTH_HOSTNAME): a pid means something only on the machine that has it. */
const MACHINE = hostname();

export function ownerLabels(role: 'backup-helper' | 'restore-test', project: string): Record<string, string> {
  return { [ROLE_LABEL]: role, [OWNER_LABEL]: `${MACHINE}:${process.pid}`, [RUN_LABEL]: RUN_ID, [PROJECT_LABEL]: project };
}

export interface Helper {
  container: Dockerode.Container;
  /** Ends the helper (it removes itself) and makes sure it is gone. */
  dispose(): Promise<void>;
}

/** A running helper mounting `volume` at /volume that lives only as long as this process's attach. */
export async function startHelper(engine: Engine, project: string, volume: string, readOnly: boolean, labels: Record<string, string> = {}): Promise<Helper> {
  const container = await engine.call(`create a helper container for volume ${volume}`, () =>
    engine.docker.createContainer({
      Image: HELPER_IMAGE,
      Cmd: ['cat'],
      OpenStdin: true,
      StdinOnce: true,
      AttachStdin: true,
      Labels: { ...ownerLabels('backup-helper', project), ...labels },
      NetworkDisabled: true,
      HostConfig: { Binds: [`${volume}:/volume${readOnly ? ':ro' : ''}`], AutoRemove: true },
    }),
  );
  let lifeline: Duplex | undefined;
  const dispose = async () => {
    lifeline?.end();
    lifeline?.destroy();
    await container.remove({ force: true }).catch(() => undefined);
  };
  try {
    lifeline = (await engine.call('attach to the helper', () => container.attach({ stream: true, stdin: true, hijack: true }))) as unknown as Duplex;
    lifeline.on('error', () => undefined);
    await engine.call(`start the helper for volume ${volume}`, () => container.start());
  } catch (error) {
    await dispose();
    throw error;
  }
  return { container, dispose };
}

/**
 * Removes the project's helpers and restore-test containers whose berth process is gone (made on
 * this machine by a pid that no longer runs). Returns their names.
 */
export async function removeOrphanHelpers(engine: Engine, project: string): Promise<string[]> {
  const found = await engine.docker.listContainers({ all: true, filters: { label: [OWNER_LABEL, `${PROJECT_LABEL}=${project}`] } });
  const removed: string[] = [];
  for (const c of found) {
    const [host, pid] = (c.Labels?.[OWNER_LABEL] ?? '').split(':');
    if (host !== MACHINE || Number(pid) === process.pid || isProcessAlive(Number(pid))) continue;
    try {
      await engine.docker.getContainer(c.Id).remove({ force: true, v: c.Labels?.[ROLE_LABEL] === 'restore-test' });
      removed.push((c.Names?.[0] ?? c.Id.slice(0, 12)).replace(/^\//, ''));
    } catch (error) {
      if (statusCode(error) !== 404 && statusCode(error) !== 409) throw error;
    }
  }
  return removed;
}
