import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * The state directory: BERTH_STATE_DIR; /var/lib/berth as root; else $XDG_STATE_HOME/berth
 * (~/.local/state/berth).
 */
export function defaultStateDir(env: Record<string, string | undefined> = process.env, uid = process.getuid?.() ?? -1): string {
  if (env.BERTH_STATE_DIR) return env.BERTH_STATE_DIR;
  if (uid === 0) return '/var/lib/berth';
  return join(env.XDG_STATE_HOME || join(homedir(), '.local', 'state'), 'berth');
}

/**
 * For a user other than root whose state directory is not root's: where root's state lives, when
 * it exists (deploys run with sudo are recorded there, not here).
 */
export function rootStateHint(dir: string, uid = process.getuid?.() ?? -1, exists: (path: string) => boolean = existsSync): string | undefined {
  const root = defaultStateDir({}, 0);
  if (uid === 0 || dir === root || !exists(root)) return undefined;
  return `berth run as root records in ${root}: sudo berth history, or BERTH_STATE_DIR=${root} (this is ${dir})`;
}
