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
