/**
 * Type casts Compose applies after interpolation (compose-go interpolateTypeCastMapping):
 * `replicas: ${N}` is the string "3" after interpolation, and Compose reads it as the integer 3.
 * Applied to string scalars at these paths only; anything else stays as written.
 */
import { BerthError, quoted } from '../lib/errors.js';
import { formatLocation, formatPath, type LNode } from './source.js';

type Cast = 'int' | 'float' | 'bool';

/** Paths with `*` for any key or index. */
const CASTS: [string, Cast][] = [
  ['services.*.configs.*.mode', 'int'],
  ['services.*.secrets.*.mode', 'int'],
  ['services.*.cpu_count', 'int'],
  ['services.*.cpu_percent', 'float'],
  ['services.*.cpu_period', 'int'],
  ['services.*.cpu_quota', 'int'],
  ['services.*.cpu_rt_period', 'int'],
  ['services.*.cpu_rt_runtime', 'int'],
  ['services.*.cpus', 'float'],
  ['services.*.cpu_shares', 'int'],
  ['services.*.init', 'bool'],
  ['services.*.deploy.replicas', 'int'],
  ['services.*.deploy.update_config.parallelism', 'int'],
  ['services.*.deploy.update_config.max_failure_ratio', 'float'],
  ['services.*.deploy.rollback_config.parallelism', 'int'],
  ['services.*.deploy.rollback_config.max_failure_ratio', 'float'],
  ['services.*.deploy.restart_policy.max_attempts', 'int'],
  ['services.*.deploy.placement.max_replicas_per_node', 'int'],
  ['services.*.depends_on.*.restart', 'bool'],
  ['services.*.depends_on.*.required', 'bool'],
  ['services.*.env_file.*.required', 'bool'],
  ['services.*.healthcheck.retries', 'int'],
  ['services.*.healthcheck.disable', 'bool'],
  ['services.*.oom_kill_disable', 'bool'],
  ['services.*.oom_score_adj', 'int'],
  ['services.*.pids_limit', 'int'],
  ['services.*.ports.*.target', 'int'],
  ['services.*.privileged', 'bool'],
  ['services.*.read_only', 'bool'],
  ['services.*.scale', 'int'],
  ['services.*.stdin_open', 'bool'],
  ['services.*.tty', 'bool'],
  ['services.*.use_api_socket', 'bool'],
  ['services.*.attach', 'bool'],
  ['services.*.ulimits.*', 'int'],
  ['services.*.ulimits.*.hard', 'int'],
  ['services.*.ulimits.*.soft', 'int'],
  ['services.*.volumes.*.read_only', 'bool'],
  ['services.*.volumes.*.volume.nocopy', 'bool'],
  ['networks.*.external', 'bool'],
  ['networks.*.internal', 'bool'],
  ['networks.*.attachable', 'bool'],
  ['networks.*.enable_ipv6', 'bool'],
  ['networks.*.enable_ipv4', 'bool'],
  ['volumes.*.external', 'bool'],
  ['secrets.*.external', 'bool'],
  ['configs.*.external', 'bool'],
];

const PATTERNS = CASTS.map(([pattern, cast]) => ({ parts: pattern.split('.'), cast }));

function castFor(path: (string | number)[]): Cast | undefined {
  for (const { parts, cast } of PATTERNS) {
    if (parts.length !== path.length) continue;
    if (parts.every((p, i) => p === '*' || p === String(path[i]))) return cast;
  }
  return undefined;
}

const TRUE = new Set(['y', 'yes', 'true', 'on']);
const FALSE = new Set(['n', 'no', 'false', 'off']);

/** Casts string scalars in place where Compose does. A value that does not cast is an error. */
export function coerceTypes(node: LNode, path: (string | number)[] = []): void {
  if (node.kind === 'map') {
    for (const [key, child] of node.entries) coerceTypes(child, [...path, key]);
    return;
  }
  if (node.kind === 'seq') {
    node.items.forEach((child, i) => coerceTypes(child, [...path, i]));
    return;
  }
  if (typeof node.value !== 'string') return;
  const cast = castFor(path);
  if (!cast) return;
  const text = node.value.trim();
  const fail = (what: string): never => {
    throw new BerthError(`${formatLocation(node.loc)}: ${formatPath(path)} must be ${what}, not ${quoted(node.value)}`);
  };
  if (cast === 'bool') {
    if (TRUE.has(text.toLowerCase())) node.value = true;
    else if (FALSE.has(text.toLowerCase())) node.value = false;
    else fail('a boolean');
  } else if (cast === 'int') {
    if (!/^[-+]?\d+$/.test(text)) fail('an integer');
    node.value = Number(text);
  } else {
    if (text === '' || Number.isNaN(Number(text))) fail('a number');
    node.value = Number(text);
  }
}
