/**
 * Configuration from Tecnativa docker-socket-proxy's environment variables, with their meanings
 * and defaults, plus berth's own options.
 */

/** Section variables: each gates the API paths `^(/vX.Y)?/<section>`. */
export const SECTION_VARS = {
  AUTH: 'auth', BUILD: 'build', COMMIT: 'commit', CONFIGS: 'configs', CONTAINERS: 'containers',
  DISTRIBUTION: 'distribution', EVENTS: 'events', EXEC: 'exec', GRPC: 'grpc', IMAGES: 'images',
  INFO: 'info', NETWORKS: 'networks', NODES: 'nodes', PING: '_ping', PLUGINS: 'plugins',
  SECRETS: 'secrets', SERVICES: 'services', SESSION: 'session', SWARM: 'swarm', SYSTEM: 'system',
  TASKS: 'tasks', VERSION: 'version', VOLUMES: 'volumes',
} as const;
export type SectionVar = keyof typeof SECTION_VARS;

/** Flags that are not sections. ALLOW_* lifecycle flags are Tecnativa's; the rest are strict-mode gates. */
export const FLAG_VARS = ['POST', 'ALLOW_START', 'ALLOW_STOP', 'ALLOW_RESTARTS', 'ALLOW_ARCHIVE', 'ALLOW_EXPORT', 'ALLOW_ATTACH', 'ALLOW_IMAGES_GET', 'ALLOW_UNLOCKKEY', 'DELETE'] as const;
export type FlagVar = (typeof FLAG_VARS)[number];

/** Granted by default in Tecnativa; every other variable defaults to 0. */
export const DEFAULT_ON: ReadonlySet<string> = new Set(['EVENTS', 'PING', 'VERSION']);

export type Mode = 'compat' | 'strict';

export interface EnvConfig {
  /** Which variables are on. */
  flags: Record<SectionVar | FlagVar, boolean>;
  socketPath: string;
  logLevel: string;
  disableIpv6: boolean;
  warnings: string[];
}

/**
 * HAProxy's `-m bool` on an env string: converted to an integer the way HAProxy's str→int cast
 * does (optional sign, leading digits, stop at the first other byte) and true only when non-zero.
 * So "1" and "2" are true; "true", "yes", "on", "" and " 1" are false.
 */
export function haproxyTruthy(value: string | undefined): boolean {
  if (value === undefined) return false;
  const m = /^[+-]?(\d*)/.exec(value)!;
  return /[1-9]/.test(m[1] ?? '');
}

/** What a human means: 1/true/yes/on (any case) are true; 0/false/no/off/empty false. */
export function humanTruthy(value: string | undefined): boolean | undefined {
  if (value === undefined) return undefined;
  const v = value.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off', ''].includes(v)) return false;
  if (/^[+-]?\d+$/.test(v)) return Number(v) !== 0;
  return undefined;
}

/**
 * Reads the environment. In compat mode values are read exactly as Tecnativa's HAProxy reads
 * them (so CONTAINERS=true means OFF) and a warning says so; in strict mode true/yes/on also
 * count, and unreadable values are warned about and treated as off.
 */
export function configFromEnv(env: Record<string, string | undefined>, mode: Mode): EnvConfig {
  const warnings: string[] = [];
  const flags = {} as Record<SectionVar | FlagVar, boolean>;
  const names = [...Object.keys(SECTION_VARS), ...FLAG_VARS] as (SectionVar | FlagVar)[];
  for (const name of names) {
    const raw = env[name];
    const fallback = DEFAULT_ON.has(name);
    if (raw === undefined) { flags[name] = fallback; continue; }
    const strict = humanTruthy(raw);
    const compat = haproxyTruthy(raw);
    if (mode === 'compat') {
      flags[name] = compat;
      if (strict !== undefined && strict !== compat) {
        warnings.push(`${name}=${raw} means ${compat ? 'ON' : 'OFF'} in Tecnativa-compatible mode (HAProxy reads it as an integer); use ${name}=${strict ? 1 : 0}`);
      } else if (strict === undefined) {
        warnings.push(`${name}=${raw} is not a number; Tecnativa-compatible mode reads it as ${compat ? 'ON' : 'OFF'}`);
      }
    } else {
      if (strict === undefined) warnings.push(`${name}=${raw} is not a boolean; treated as OFF`);
      flags[name] = strict ?? false;
    }
  }
  return {
    flags,
    socketPath: env.SOCKET_PATH || '/var/run/docker.sock',
    logLevel: env.LOG_LEVEL || 'info',
    // Tecnativa's entrypoint (a shell case, not HAProxy): 1, true or yes in any case.
    disableIpv6: ['1', 'true', 'yes'].includes((env.DISABLE_IPV6 ?? '').toLowerCase()) || (mode === 'strict' && humanTruthy(env.DISABLE_IPV6) === true),
    warnings,
  };
}
