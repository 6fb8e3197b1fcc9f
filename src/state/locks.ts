import { setTimeout as sleep } from 'node:timers/promises';
import { BerthError, ExitCode } from '../lib/errors.js';
import { isProcessAlive } from '../lib/process.js';
import { currentUser, hostName, type StateStore } from './store.js';

export interface LockHolder {
  name: string;
  owner: string;
  host: string;
  pid: number;
  acquiredAt: string;
  purpose: string | null;
}

export interface Lock {
  holder: LockHolder;
  release(): void;
}

/** A holder is stale when it ran on this host and its process is gone. */
export function isStale(holder: LockHolder, host = hostName(), alive = isProcessAlive): boolean {
  return holder.host === host && !alive(holder.pid);
}

export function describeHolder(holder: LockHolder): string {
  return `${holder.owner}@${holder.host} (pid ${holder.pid}, since ${holder.acquiredAt}${holder.purpose ? `, ${holder.purpose}` : ''})`;
}

export function readLock(store: StateStore, name: string): LockHolder | undefined {
  const row = store.db.prepare('SELECT name, owner, host, pid, acquired_at AS acquiredAt, purpose FROM locks WHERE name = ?').get(name);
  return row as LockHolder | undefined;
}

/**
 * Takes a named lock in the state store (one per project for deploys, one per host for backups).
 * A stale lock (its process is gone on this host) is taken over. Waits up to waitMs, then fails
 * naming the holder.
 */
export async function acquireLock(store: StateStore, name: string, options: { purpose?: string; waitMs?: number; pollMs?: number } = {}): Promise<Lock> {
  const deadline = performance.now() + (options.waitMs ?? 0);
  const holder: LockHolder = { name, owner: currentUser(), host: hostName(), pid: process.pid, acquiredAt: new Date().toISOString(), purpose: options.purpose ?? null };
  const tryTake = store.db.transaction((): LockHolder | undefined => {
    const current = readLock(store, name);
    if (current && !isStale(current)) return current;
    store.db.prepare('INSERT OR REPLACE INTO locks (name, owner, host, pid, acquired_at, purpose) VALUES (?, ?, ?, ?, ?, ?)')
      .run(holder.name, holder.owner, holder.host, holder.pid, holder.acquiredAt, holder.purpose);
    return undefined;
  });
  for (;;) {
    const blocking = tryTake.immediate();
    if (!blocking) {
      return {
        holder,
        release: () => {
          store.db.prepare('DELETE FROM locks WHERE name = ? AND pid = ? AND host = ?').run(name, holder.pid, holder.host);
        },
      };
    }
    if (performance.now() >= deadline) {
      throw new BerthError(`${name} is locked by ${describeHolder(blocking)}`, { exitCode: ExitCode.locked, hint: 'wait for it, or pass --lock-wait 5m' });
    }
    await sleep(options.pollMs ?? 250);
  }
}
