/**
 * berth socket-proxy: a Docker socket proxy that reads Tecnativa docker-socket-proxy's
 * environment variables (drop-in), with a strict mode and a body policy.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { DEFAULT_BODY_RULES, type BodyRules } from './body.js';
import { configFromEnv, type EnvConfig, type Mode } from './config.js';
import { compatPolicy, filePolicy, PolicyError, strictEnvPolicy, type Policy, type PolicyFile } from './policy.js';
import { parseListen, type SocketProxyConfig } from './server.js';

export { checkDaemonSocket, isLocalListen, startSocketProxy, type RunningProxy, type SocketProxyConfig } from './server.js';
export { createAudit } from './audit.js';
export { configFromEnv, haproxyTruthy } from './config.js';
export { compatPolicy, strictEnvPolicy, filePolicy, PolicyError, type Policy, type PolicyFile, type Verdict } from './policy.js';
export { DEFAULT_BODY_RULES, judgeBody, type BodyRules } from './body.js';
export { canonicalTarget } from './path.js';

export interface ProxyOptions {
  env?: Record<string, string | undefined>;
  /** Tecnativa's rules (HAProxy truthiness, section prefixes, no body policy unless BODY_POLICY=1), with the README's deliberate differences. */
  compat?: boolean;
  /** Policy file path (YAML or JSON) or its parsed content. */
  policy?: string | PolicyFile;
  listen?: string[];
  socketPath?: string;
  metrics?: string;
  /** Compat: close streams idle this long (ms). */
  idleTimeoutMs?: number;
}

export interface LoadedConfig {
  config: Omit<SocketProxyConfig, 'audit'>;
  env: EnvConfig;
  mode: Mode;
  warnings: string[];
  /** The policy file's client allow-list, if any. */
  clients?: string[];
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export function readPolicyFile(path: string): PolicyFile {
  let text: string;
  try { text = readFileSync(path, 'utf8'); } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new PolicyError(`policy file ${path}: ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : code === 'EACCES' ? 'permission denied' : (error as Error).message}`);
  }
  let parsed: unknown;
  try { parsed = path.endsWith('.json') ? JSON.parse(text) : parseYaml(text, { uniqueKeys: true }); } catch (error) {
    throw new PolicyError(`${path}: ${(error as Error).message.split('\n')[0]}`);
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new PolicyError(`${path}: a policy file is a mapping (version, mode, clients, env, rules, body)`);
  const known = new Set(['version', 'mode', 'clients', 'env', 'rules', 'body']);
  for (const key of Object.keys(parsed)) if (!known.has(key)) throw new PolicyError(`${path}: unknown key ${JSON.stringify(key)}`);
  return parsed as PolicyFile;
}

function bodyRules(partial: Partial<BodyRules> | undefined, socketPath: string): BodyRules {
  const known = new Set(Object.keys(DEFAULT_BODY_RULES));
  for (const key of Object.keys(partial ?? {})) if (!known.has(key)) throw new PolicyError(`body: unknown option ${JSON.stringify(key)}`);
  const rules = { ...DEFAULT_BODY_RULES, ...partial };
  rules.socketPaths = [...new Set([...rules.socketPaths, ...DEFAULT_BODY_RULES.socketPaths, socketPath])];
  return rules;
}

/** Builds the proxy configuration from env variables, flags and an optional policy file. */
export function loadProxyConfig(options: ProxyOptions = {}): LoadedConfig {
  const rawEnv = options.env ?? process.env;
  const file = typeof options.policy === 'string' ? readPolicyFile(options.policy) : options.policy;
  const mode: Mode = options.compat ? 'compat' : file ? file.mode ?? 'strict' : 'strict';
  const fileEnv = file?.env ? Object.fromEntries(Object.entries(file.env).map(([k, v]) => [k, typeof v === 'boolean' ? (v ? '1' : '0') : String(v)])) : {};
  const env = configFromEnv({ ...rawEnv, ...fileEnv }, mode);
  const socketPath = options.socketPath ?? env.socketPath;
  // Body policy: on in strict mode and for policy files (unless `body: false`); compat mode keeps
  // Tecnativa's behaviour (no inspection) unless BODY_POLICY=1.
  const bodyOn = file ? file.body !== false : mode === 'strict' || /^(1|true|yes|on)$/i.test(rawEnv.BODY_POLICY ?? '');
  const body = bodyOn ? bodyRules(file && file.body ? file.body : undefined, socketPath) : undefined;
  let policy: Policy;
  const envPolicy = mode === 'compat' ? compatPolicy(env, body) : strictEnvPolicy(env, body);
  // The env layer (with its defaults EVENTS, PING, VERSION) stays underneath a policy file's rules.
  if (file) policy = filePolicy(file, envPolicy, body);
  else policy = envPolicy;
  const idle = options.idleTimeoutMs ?? (rawEnv.IDLE_TIMEOUT ? Number(rawEnv.IDLE_TIMEOUT) * 1000 : 0);
  if (!Number.isFinite(idle) || idle < 0) throw new PolicyError(`IDLE_TIMEOUT=${rawEnv.IDLE_TIMEOUT}: must be a number of seconds (0 = never)`);
  if (!LOG_LEVELS.includes(env.logLevel)) throw new PolicyError(`LOG_LEVEL=${env.logLevel}: must be one of ${LOG_LEVELS.join(', ')}`);
  // In a container the proxy serves other containers: all interfaces (Tecnativa's default). The
  // CLI, a host process, passes its own default (127.0.0.1).
  const listen = options.listen?.length ? options.listen : [env.disableIpv6 ? '0.0.0.0:2375' : '[::]:2375'];
  for (const spec of listen) parseListen(spec);
  if (options.metrics !== undefined && parseListen(options.metrics).kind !== 'tcp') throw new PolicyError(`metrics address ${JSON.stringify(options.metrics)}: must be HOST:PORT`);
  return {
    config: { listen, socketPath, policy, idleTimeoutMs: idle, metrics: options.metrics, logLevel: env.logLevel },
    env,
    mode,
    warnings: env.warnings,
    clients: file?.clients,
  };
}
