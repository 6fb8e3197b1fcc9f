/**
 * Body policy. Bodies are parsed the way the daemon's Go encoding/json reads them: object keys
 * match struct fields case-insensitively with Unicode simple folding ("ſ" → s, "K" (Kelvin) → k),
 * and the last duplicate wins. We look fields up with the same (or wider) folding and reject
 * any object with duplicate keys after folding, so the daemon can never see a value we did not.
 */
import { posix } from 'node:path';
import type { BodyKind } from './endpoints.js';

export interface BodyRules {
  /** Host paths under which bind mounts are allowed (the docker socket never is). Default none. */
  allowedBindRoots: string[];
  allowPrivileged: boolean;
  /** Capabilities CapAdd may name. Default none. */
  allowedCapabilities: string[];
  allowHostNamespaces: boolean;
  /**
   * NetworkMode/PidMode/IpcMode `container:<id>`: joins another container's namespace, which is
   * the host's when that container runs with `host` (the proxy cannot see that). Default false.
   */
  allowContainerNamespaces: boolean;
  allowDevices: boolean;
  allowSecurityRelaxations: boolean;
  allowVolumesFrom: boolean;
  allowSwarmJoin: boolean;
  allowPluginPrivileges: boolean;
  /** Largest inspected body; larger → 413. */
  maxBodyBytes: number;
  /** Socket paths that are never mountable (besides the proxy's own SOCKET_PATH). */
  socketPaths: string[];
}

export const DEFAULT_BODY_RULES: BodyRules = {
  allowedBindRoots: [],
  allowPrivileged: false,
  allowedCapabilities: [],
  allowHostNamespaces: false,
  allowContainerNamespaces: false,
  allowDevices: false,
  allowSecurityRelaxations: false,
  allowVolumesFrom: false,
  allowSwarmJoin: false,
  allowPluginPrivileges: false,
  maxBodyBytes: 1024 * 1024,
  socketPaths: ['/var/run/docker.sock', '/run/docker.sock'],
};

export type BodyVerdict = { allow: true } | { allow: false; rule: string; reason: string };

export class JsonError extends Error {}

/** Folds a key the way Go's encoding/json compares field names (or wider: never narrower). */
export function foldKey(key: string): string {
  let out = '';
  for (const ch of key) {
    const cp = ch.codePointAt(0)!;
    if (cp < 0x80) { out += ch.toLowerCase(); continue; }
    if (cp === 0x17f) { out += 's'; continue; } // ſ LATIN SMALL LETTER LONG S
    if (cp === 0x212a) { out += 'k'; continue; } // KELVIN SIGN
    // Wider than Go on purpose: anything that upper/lower-cases into ASCII is treated as that ASCII letter.
    const viaUpper = ch.toUpperCase().toLowerCase();
    const viaLower = ch.toLowerCase();
    out += [...viaUpper].length === 1 && viaUpper.codePointAt(0)! < 0x80 ? viaUpper : [...viaLower].length === 1 && viaLower.codePointAt(0)! < 0x80 ? viaLower : ch.toLowerCase();
  }
  return out;
}

/** A JSON object whose keys are unique after folding (duplicates are a parse error). */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/**
 * Strict JSON parse (RFC 8259, as Go accepts it) of UTF-8 bytes. Rejects invalid UTF-8,
 * duplicate keys after folding, nesting deeper than 64, and trailing garbage.
 */
export function parseGoJson(bytes: Buffer): JsonValue {
  let text: string;
  try { text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes); } catch { throw new JsonError('body is not valid UTF-8'); }
  let i = 0;
  const ws = () => { while (i < text.length && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r')) i++; };
  const fail = (what: string): never => { throw new JsonError(`invalid JSON at byte ${i}: ${what}`); };
  const str = (): string => {
    i++; // opening quote
    let out = '';
    for (;;) {
      if (i >= text.length) fail('unterminated string');
      const c = text.charCodeAt(i);
      if (c === 0x22) { i++; return out; }
      if (c < 0x20) fail('control character in string');
      if (c === 0x5c) {
        const e = text[i + 1];
        i += 2;
        switch (e) {
          case '"': out += '"'; break; case '\\': out += '\\'; break; case '/': out += '/'; break;
          case 'b': out += '\b'; break; case 'f': out += '\f'; break; case 'n': out += '\n'; break;
          case 'r': out += '\r'; break; case 't': out += '\t'; break;
          case 'u': {
            const hex = text.slice(i, i + 4);
            if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail('bad \\u escape');
            out += String.fromCharCode(parseInt(hex, 16));
            i += 4;
            break;
          }
          default: fail('bad escape');
        }
        continue;
      }
      out += text[i];
      i++;
    }
  };
  const value = (depth: number): JsonValue => {
    if (depth > 64) fail('nesting too deep');
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      const obj: Record<string, JsonValue> = Object.create(null);
      const folded = new Set<string>();
      ws();
      if (text[i] === '}') { i++; return obj; }
      for (;;) {
        ws();
        if (text[i] !== '"') fail('expected a key');
        const key = str();
        const f = foldKey(key);
        if (folded.has(f)) throw new JsonError(`duplicate key ${JSON.stringify(key)} (keys are compared case-insensitively, as the daemon does)`);
        folded.add(f);
        ws();
        if (text[i] !== ':') fail('expected :');
        i++;
        obj[key] = value(depth + 1);
        ws();
        if (text[i] === ',') { i++; continue; }
        if (text[i] === '}') { i++; return obj; }
        fail('expected , or }');
      }
    }
    if (c === '[') {
      i++;
      const arr: JsonValue[] = [];
      ws();
      if (text[i] === ']') { i++; return arr; }
      for (;;) {
        arr.push(value(depth + 1));
        ws();
        if (text[i] === ',') { i++; continue; }
        if (text[i] === ']') { i++; return arr; }
        fail('expected , or ]');
      }
    }
    if (c === '"') return str();
    const m = /^(?:true|false|null|-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?)/.exec(text.slice(i, i + 400));
    if (!m) fail('unexpected token');
    i += m![0].length;
    return m![0] === 'true' ? true : m![0] === 'false' ? false : m![0] === 'null' ? null : Number(m![0]);
  };
  const result = value(0);
  ws();
  if (i !== text.length) fail('trailing data after the JSON value');
  return result;
}

type Obj = { [key: string]: JsonValue };
const isObj = (v: JsonValue | undefined): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Field lookup as Go does it (exact or folded); keys are unique after folding, so at most one matches. */
export function field(obj: JsonValue | undefined, name: string): JsonValue | undefined {
  if (!isObj(obj)) return undefined;
  const want = foldKey(name);
  for (const key of Object.keys(obj)) if (foldKey(key) === want) return obj[key];
  return undefined;
}

const strings = (v: JsonValue | undefined): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
const nonEmpty = (v: JsonValue | undefined) => (Array.isArray(v) ? v.length > 0 : isObj(v) ? Object.keys(v).length > 0 : v !== undefined && v !== null && v !== '' && v !== false);
const deny = (rule: string, reason: string): BodyVerdict => ({ allow: false, rule, reason });

/** Whether a host path may be bind-mounted: under an allowed root, and not the socket or one of its parents. */
export function hostPathVerdict(source: string, rules: BodyRules): BodyVerdict {
  if (!source.startsWith('/')) return deny('body:bind', `bind source ${JSON.stringify(source)} is not an absolute path`);
  const normal = posix.normalize(source).replace(/\/+$/, '') || '/';
  if (normal !== source.replace(/\/+$/, '') && source !== '/') return deny('body:bind', `bind source ${JSON.stringify(source)} is not a clean path`);
  for (const socket of rules.socketPaths) {
    if (normal === socket || socket.startsWith(normal === '/' ? '/' : `${normal}/`)) return deny('body:docker-socket', `bind of ${source} would expose the docker socket`);
  }
  const ok = rules.allowedBindRoots.some((root) => {
    const r = posix.normalize(root).replace(/\/+$/, '');
    return normal === r || normal.startsWith(`${r}/`);
  });
  return ok ? { allow: true } : deny('body:bind', `host bind ${source} is outside the allowed roots${rules.allowedBindRoots.length ? ` (${rules.allowedBindRoots.join(', ')})` : ' (none allowed)'}`);
}

/** A Docker "Binds" entry: src:dst[:opts]; src is a host path when absolute, else a named volume. */
function bindSource(bind: string): string {
  return bind.split(':')[0] ?? '';
}

const HOST_NS_FIELDS = ['NetworkMode', 'PidMode', 'IpcMode', 'UsernsMode', 'UTSMode', 'CgroupnsMode'];

function checkSecurityOpts(opts: string[], rules: BodyRules): BodyVerdict {
  if (rules.allowSecurityRelaxations) return { allow: true };
  for (const raw of opts) {
    const opt = raw.trim();
    const [key, value = ''] = opt.includes('=') ? [opt.slice(0, opt.indexOf('=')), opt.slice(opt.indexOf('=') + 1)] : opt.includes(':') ? [opt.slice(0, opt.indexOf(':')), opt.slice(opt.indexOf(':') + 1)] : [opt, ''];
    const k = key.toLowerCase();
    const v = value.toLowerCase();
    if (k === 'seccomp' && v !== 'builtin') return deny('body:security-opt', `security option ${opt} replaces the default seccomp profile`);
    if (k === 'apparmor' && v === 'unconfined') return deny('body:security-opt', `security option ${opt}`);
    if (k === 'label' && (v === 'disable' || v.startsWith('type:spc_t'))) return deny('body:security-opt', `security option ${opt}`);
    if (k === 'no-new-privileges' && ['false', '0', 'f'].includes(v)) return deny('body:security-opt', `security option ${opt}`);
    if (k === 'systempaths' && v === 'unconfined') return deny('body:security-opt', `security option ${opt}`);
  }
  return { allow: true };
}

function checkMount(m: JsonValue, rules: BodyRules, where: string): BodyVerdict {
  const type = String(field(m, 'Type') ?? 'volume').toLowerCase();
  const source = field(m, 'Source');
  if (type === 'bind') return hostPathVerdict(typeof source === 'string' ? source : '', rules);
  if (type === 'npipe') return deny('body:bind', `${where}: npipe mounts are not allowed`);
  if (type === 'volume') {
    const opts = field(field(field(m, 'VolumeOptions'), 'DriverConfig'), 'Options');
    const v = volumeOptsVerdict(opts, rules);
    if (!v.allow) return v;
  }
  if (type !== 'volume' && type !== 'tmpfs') return deny('body:mount', `${where}: mount type ${type} is not allowed`);
  return { allow: true };
}

/** Local volumes backed by a host directory: driver_opts o=bind (or type=none) with device=/path. */
function volumeOptsVerdict(opts: JsonValue | undefined, rules: BodyRules): BodyVerdict {
  if (!isObj(opts)) return { allow: true };
  // Driver options are a Go map: exact keys; but be wide and fold anyway.
  const o = String(field(opts, 'o') ?? '').toLowerCase().split(',').map((s) => s.trim());
  const type = String(field(opts, 'type') ?? '').toLowerCase();
  const device = field(opts, 'device');
  if (o.includes('bind') || o.includes('rbind') || type === 'none' || (typeof device === 'string' && device.startsWith('/'))) {
    if (typeof device === 'string') {
      const v = hostPathVerdict(device, rules);
      if (!v.allow) return { ...v, rule: 'body:volume-bind', reason: `volume backed by host path: ${v.reason}` };
      return { allow: true };
    }
    return deny('body:volume-bind', 'volume backed by a bind without a device');
  }
  return { allow: true };
}

/** Checks a HostConfig-shaped object (container create's HostConfig, or its deprecated top level). */
export function hostConfigVerdict(hc: JsonValue | undefined, rules: BodyRules, where: string): BodyVerdict {
  if (!isObj(hc)) return { allow: true };
  if (field(hc, 'Privileged') === true && !rules.allowPrivileged) return deny('body:privileged', `${where}.Privileged is true`);
  for (const bind of strings(field(hc, 'Binds'))) {
    const source = bindSource(bind);
    if (source.startsWith('/') || source.includes('/') || source.startsWith('.')) {
      const v = hostPathVerdict(source, rules);
      if (!v.allow) return v;
    }
  }
  if (nonEmpty(field(hc, 'Binds')) && !Array.isArray(field(hc, 'Binds'))) return deny('body:bind', `${where}.Binds is not a list`);
  for (const m of Array.isArray(field(hc, 'Mounts')) ? (field(hc, 'Mounts') as JsonValue[]) : []) {
    const v = checkMount(m, rules, `${where}.Mounts`);
    if (!v.allow) return v;
  }
  if (nonEmpty(field(hc, 'VolumesFrom')) && !rules.allowVolumesFrom) return deny('body:volumes-from', `${where}.VolumesFrom is set`);
  const caps = field(hc, 'CapAdd');
  for (const cap of Array.isArray(caps) ? caps : caps === undefined || caps === null ? [] : [caps]) {
    const name = String(cap).toUpperCase().replace(/^CAP_/, '');
    if (!rules.allowedCapabilities.map((c) => c.toUpperCase().replace(/^CAP_/, '')).includes(name)) return deny('body:cap-add', `${where}.CapAdd adds ${String(cap)}`);
  }
  if (!rules.allowHostNamespaces) {
    for (const name of HOST_NS_FIELDS) {
      const v = field(hc, name);
      if (typeof v === 'string' && v.trim().toLowerCase() === 'host') return deny('body:host-namespace', `${where}.${name} is host`);
    }
  }
  if (!rules.allowContainerNamespaces) {
    for (const name of ['NetworkMode', 'PidMode', 'IpcMode']) {
      const v = field(hc, name);
      if (typeof v === 'string' && v.trim().toLowerCase().startsWith('container:')) return deny('body:container-namespace', `${where}.${name} joins another container's namespace (${v}); set allowContainerNamespaces to allow`);
    }
  }
  if (!rules.allowDevices) {
    if (nonEmpty(field(hc, 'Devices'))) return deny('body:devices', `${where}.Devices is set`);
    if (nonEmpty(field(hc, 'DeviceCgroupRules'))) return deny('body:devices', `${where}.DeviceCgroupRules is set`);
  }
  const secOpt = field(hc, 'SecurityOpt');
  const sec = checkSecurityOpts(strings(secOpt), rules);
  if (!sec.allow) return sec;
  if (!rules.allowSecurityRelaxations) {
    if (field(hc, 'MaskedPaths') !== undefined && field(hc, 'MaskedPaths') !== null) return deny('body:security-opt', `${where}.MaskedPaths is set`);
    if (field(hc, 'ReadonlyPaths') !== undefined && field(hc, 'ReadonlyPaths') !== null) return deny('body:security-opt', `${where}.ReadonlyPaths is set`);
  }
  return { allow: true };
}

function serviceVerdict(spec: JsonValue, rules: BodyRules): BodyVerdict {
  if (!rules.allowHostNamespaces) {
    const networks = [field(field(spec, 'TaskTemplate'), 'Networks'), field(spec, 'Networks')].flatMap((n) => (Array.isArray(n) ? n : []));
    if (networks.some((n) => String(field(n, 'Target') ?? '').toLowerCase() === 'host')) return deny('body:host-namespace', 'service attached to the host network');
  }
  if (!rules.allowPluginPrivileges && nonEmpty(field(field(spec, 'TaskTemplate'), 'PluginSpec'))) return deny('body:plugin', 'services that install plugins need allowPluginPrivileges');
  const cs = field(field(spec, 'TaskTemplate'), 'ContainerSpec');
  if (!isObj(cs)) return { allow: true };
  for (const m of Array.isArray(field(cs, 'Mounts')) ? (field(cs, 'Mounts') as JsonValue[]) : []) {
    const v = checkMount(m, rules, 'ContainerSpec.Mounts');
    if (!v.allow) return v;
  }
  if (nonEmpty(field(cs, 'CapabilityAdd')) && strings(field(cs, 'CapabilityAdd')).some((c) => !rules.allowedCapabilities.includes(c.toUpperCase().replace(/^CAP_/, '')))) return deny('body:cap-add', 'ContainerSpec.CapabilityAdd is set');
  const priv = field(cs, 'Privileges');
  if (!rules.allowSecurityRelaxations && isObj(priv)) {
    if (field(field(priv, 'SELinuxContext'), 'Disable') === true) return deny('body:security-opt', 'Privileges.SELinuxContext.Disable');
    const seccomp = String(field(field(priv, 'Seccomp'), 'Mode') ?? '').toLowerCase();
    if (seccomp && seccomp !== 'default') return deny('body:security-opt', `Privileges.Seccomp.Mode ${seccomp}`);
    const apparmor = String(field(field(priv, 'AppArmor'), 'Mode') ?? '').toLowerCase();
    if (apparmor === 'disabled') return deny('body:security-opt', 'Privileges.AppArmor.Mode disabled');
    if (field(priv, 'NoNewPrivileges') === false) return deny('body:security-opt', 'Privileges.NoNewPrivileges is false');
  }
  if (!rules.allowDevices && nonEmpty(field(field(field(spec, 'TaskTemplate'), 'Resources'), 'Devices'))) return deny('body:devices', 'service devices');
  return { allow: true };
}

/** The verdict on a parsed body of the given kind. */
export function bodyVerdict(kind: BodyKind, body: JsonValue, rules: BodyRules): BodyVerdict {
  switch (kind) {
    case 'container-create': {
      if (!isObj(body)) return deny('body:shape', 'container config is not an object');
      // Engine 20.10 embeds HostConfig at the top level too (deprecated) and uses it when
      // "HostConfig" is absent: check both.
      const top = hostConfigVerdict(body, rules, '(top level)');
      if (!top.allow) return top;
      return hostConfigVerdict(field(body, 'HostConfig'), rules, 'HostConfig');
    }
    case 'container-update':
      if (!isObj(body)) return deny('body:shape', 'update config is not an object');
      return hostConfigVerdict(body, rules, 'update');
    case 'exec-create':
      if (!isObj(body)) return deny('body:shape', 'exec config is not an object');
      if (field(body, 'Privileged') === true && !rules.allowPrivileged) return deny('body:privileged', 'exec Privileged is true');
      return { allow: true };
    case 'service':
      if (!isObj(body)) return deny('body:shape', 'service spec is not an object');
      return serviceVerdict(body, rules);
    case 'volume-create': {
      if (!isObj(body)) return deny('body:shape', 'volume config is not an object');
      const driver = String(field(body, 'Driver') ?? 'local');
      if (driver === '' || driver === 'local') return volumeOptsVerdict(field(body, 'DriverOpts'), rules);
      return { allow: true };
    }
    case 'plugin-privileges': {
      if (rules.allowPluginPrivileges) return { allow: true };
      if (Array.isArray(body) && body.length > 0) return deny('body:plugin', 'plugin privileges or settings need allowPluginPrivileges');
      return { allow: true };
    }
    case 'swarm-join':
      return rules.allowSwarmJoin ? { allow: true } : deny('body:swarm-join', 'joining a swarm hands this node to its managers');
  }
}

/** Parses and judges a body. Empty bodies are allowed (the daemon rejects them where it needs one). */
export function judgeBody(kind: BodyKind, bytes: Buffer, rules: BodyRules): BodyVerdict {
  if (bytes.length === 0) return { allow: true };
  let body: JsonValue;
  try { body = parseGoJson(bytes); } catch (error) { return deny('body:json', (error as Error).message); }
  return bodyVerdict(kind, body, rules);
}
