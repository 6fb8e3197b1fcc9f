/**
 * The stop journal: which containers berth stopped for a volume snapshot. An entry is written
 * (durably) before a container is stopped and removed after it is started again, so a run that
 * crashed in the snapshot window leaves the list behind and the next run restarts them.
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { Engine } from '../engine/client.js';
import { statusCode } from '../engine/client.js';
import { hostName } from '../state/store.js';
import { isProcessAlive } from '../lib/process.js';

export interface StoppedEntry {
  containerId: string;
  name: string;
  backupId: string;
  host: string;
  pid: number;
  stoppedAt: string;
}

export class StopJournal {
  readonly path: string;

  constructor(stateDir: string) {
    this.path = join(stateDir, 'backup-stopped.json');
  }

  read(): StoppedEntry[] {
    try {
      const parsed = JSON.parse(readFileSync(this.path, 'utf8')) as unknown;
      return Array.isArray(parsed) ? (parsed as StoppedEntry[]) : [];
    } catch {
      return [];
    }
  }

  private write(entries: StoppedEntry[]): void {
    const tmp = `${this.path}.partial`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, JSON.stringify(entries, null, 2));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.path);
  }

  add(entry: Omit<StoppedEntry, 'host' | 'pid' | 'stoppedAt'>): void {
    const entries = this.read().filter((e) => e.containerId !== entry.containerId);
    entries.push({ ...entry, host: hostName(), pid: process.pid, stoppedAt: new Date().toISOString() });
    this.write(entries);
  }

  remove(containerId: string): void {
    this.write(this.read().filter((e) => e.containerId !== containerId));
  }
}

/**
 * Starts the containers a crashed run left stopped (entries whose process is gone, or all
 * entries not of this process when `all`). Call it while holding the backup lock.
 */
export async function recoverStopped(engine: Engine, journal: StopJournal, options: { all?: boolean } = {}): Promise<StoppedEntry[]> {
  const recovered: StoppedEntry[] = [];
  for (const entry of journal.read()) {
    const mine = entry.pid === process.pid && entry.host === hostName();
    if (mine) continue;
    if (!options.all && entry.host === hostName() && isProcessAlive(entry.pid)) continue;
    try {
      await engine.docker.getContainer(entry.containerId).start();
    } catch (error) {
      // 304: already running; 404: the container is gone. Either way nothing is left to do.
      const code = statusCode(error);
      if (code !== 304 && code !== 404) throw error;
    }
    journal.remove(entry.containerId);
    recovered.push(entry);
  }
  return recovered;
}
