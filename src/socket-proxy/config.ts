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
  warnings.push(...unknownVariableWarnings(env, mode));
  return {
    flags,
    socketPath: env.SOCKET_PATH || '/var/run/docker.sock',
    logLevel: env.LOG_LEVEL || 'info',
    // Tecnativa's entrypoint (a shell case, not HAProxy): 1, true or yes in any case.
    disableIpv6: ['1', 'true', 'yes'].includes((env.DISABLE_IPV6 ?? '').toLowerCase()) || (mode === 'strict' && humanTruthy(env.DISABLE_IPV6) === true),
    warnings,
  };
}

/** Every variable the proxy reads (the container entrypoint's own included). */
export const KNOWN_VARS: readonly string[] = [
  ...Object.keys(SECTION_VARS), ...FLAG_VARS,
  'SOCKET_PATH', 'LOG_LEVEL', 'DISABLE_IPV6', 'BODY_POLICY', 'IDLE_TIMEOUT', 'COMPAT', 'POLICY_FILE', 'LISTEN', 'METRICS',
];
const FLAG_LIKE = /^(0|1|true|false|yes|no|on|off)$/i;

/**
 * Optimal string alignment distance (Levenshtein plus adjacent transpositions: CONTAINRES → 1).
 * The same as src/lib/suggest.ts on purpose: the proxy's image ships dist/socket-proxy alone (image.ts).
 */
export function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}

/**
 * Variables that look meant for the proxy but are not read: a flag-like value (1, true, ...) on a
 * name close to a known one (CONTAINRES=1, CONTAINER=1), or an ALLOW_* berth does not know. The
 * rest of the process environment (PATH, HOME, ...) is never flag-like and close at once.
 */
export function unknownVariableWarnings(env: Record<string, string | undefined>, mode: Mode): string[] {
  const warnings: string[] = [];
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined || KNOWN_VARS.includes(name) || !/^[A-Z][A-Z0-9_]*$/.test(name)) continue;
    let best: string | undefined;
    let bestDistance = Infinity;
    for (const known of KNOWN_VARS) {
      const distance = editDistance(name, known);
      if (distance < bestDistance) { best = known; bestDistance = distance; }
    }
    const close = bestDistance <= (Math.min(name.length, best!.length) <= 4 ? 1 : 2);
    if (close && FLAG_LIKE.test(value.trim())) warnings.push(`${name}=${value} is not a variable the proxy reads: did you mean ${best}?`);
    else if (name.startsWith('ALLOW_')) warnings.push(`${name}=${value} is not a variable the proxy reads${close ? `: did you mean ${best}?` : ' (see berth socket-proxy --help)'}`);
  }
  if (mode === 'compat') {
    if (env.DELETE !== undefined) warnings.push(`DELETE=${env.DELETE} is read in strict mode only; in --compat mode POST=1 grants DELETE, as in Tecnativa`);
    for (const name of ['ALLOW_ARCHIVE', 'ALLOW_EXPORT', 'ALLOW_ATTACH', 'ALLOW_IMAGES_GET', 'ALLOW_UNLOCKKEY']) {
      if (env[name] !== undefined) warnings.push(`${name}=${env[name]} is read in strict mode only; in --compat mode the endpoint comes with its section, as in Tecnativa`);
    }
  }
  return warnings;
}
