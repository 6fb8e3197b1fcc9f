/**
 * Body policy. Bodies are parsed the way the daemon's Go encoding/json reads them: object keys
 * match struct fields case-insensitively with Unicode simple folding ("ſ" → s, "K" (Kelvin) → k),
 * and the last duplicate wins. We look fields up with the same (or wider) folding and reject
 * any object with duplicate keys after folding, so the daemon can never see a value we did not.
 */
import { posix } from 'node:path';
import type { BodyKind, QueryKind } from './endpoints.js';

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
  /** HostConfig.Runtime values allowed besides the daemon's default (""). Default runc. */
  allowedRuntimes: string[];
  /** HostConfig.CgroupParent (a container placed at "/" escapes every limit). Default false. */
  allowCgroupParent: boolean;
  /** Sysctl names (or prefixes ending in `*`) HostConfig.Sysctls may set. Default none. */
  allowedSysctls: string[];
  /** Ulimit names HostConfig.Ulimits may set (rtprio, memlock, ... starve or lock the host). Default nofile. */
  allowedUlimits: string[];
  /** OomKillDisable, PidsLimit < 0, real-time CPU time, negative OomScoreAdj. Default false. */
  allowResourceRelaxations: boolean;
  /** Largest HostConfig.ShmSize in bytes. Default 1 GiB. */
  maxShmSize: number;
  /** Volume drivers for volumes/create, VolumeDriver and Mounts (a plugin runs as root on the host). Default local. */
  allowedVolumeDrivers: string[];
  /** Log drivers (syslog, gelf, fluentd, splunk, ... make the daemon connect out). */
  allowedLogDrivers: string[];
  /** Network aliases (networks/{id}/connect, create, services): another service's DNS name captures its traffic. Default false. */
  allowNetworkAliases: boolean;
  /** Static IPv4/IPv6/link-local addresses and MAC addresses on networks (take over a peer's address). Default false. */
  allowStaticAddresses: boolean;
  /** images/create?fromSrc=URL: the daemon fetches any URL (SSRF). Default false (`fromSrc=-`, an upload, is allowed). */
  allowImportFromUrl: boolean;
  /** build?remote=URL: the daemon fetches a Git or HTTP context (SSRF). Default false. */
  allowRemoteBuild: boolean;
  /** Registries images may be pulled from and pushed to (docker.io, ghcr.io, ...); null = any. */
  allowedRegistries: string[] | null;
  /** exec create must name a non-root User. Default false. */
  denyExecAsRoot: boolean;
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
  allowedRuntimes: ['runc'],
  allowCgroupParent: false,
  allowedSysctls: [],
  allowedUlimits: ['nofile'],
  allowResourceRelaxations: false,
  maxShmSize: 1024 * 1024 * 1024,
  allowedVolumeDrivers: ['local'],
  allowedLogDrivers: ['json-file', 'local', 'journald', 'none'],
  allowNetworkAliases: false,
  allowStaticAddresses: false,
  allowImportFromUrl: false,
  allowRemoteBuild: false,
  allowedRegistries: null,
  denyExecAsRoot: false,
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

const PROPAGATING = new Set(['shared', 'rshared']);

function checkMount(m: JsonValue, rules: BodyRules, where: string): BodyVerdict {
  const type = String(field(m, 'Type') ?? 'volume').toLowerCase();
  const source = field(m, 'Source');
  const propagation = String(field(field(m, 'BindOptions'), 'Propagation') ?? '').toLowerCase();
  if (PROPAGATING.has(propagation) && !rules.allowSecurityRelaxations) return deny('body:mount-propagation', `${where}: bind propagation ${propagation} lets mounts made inside reach the host`);
  if (type === 'bind') return hostPathVerdict(typeof source === 'string' ? source : '', rules);
  if (type === 'npipe') return deny('body:bind', `${where}: npipe mounts are not allowed`);
  if (type === 'volume') {
    const driver = field(field(field(m, 'VolumeOptions'), 'DriverConfig'), 'Name');
    const d = volumeDriverVerdict(driver, rules, `${where}.VolumeOptions.DriverConfig.Name`);
    if (!d.allow) return d;
    const opts = field(field(field(m, 'VolumeOptions'), 'DriverConfig'), 'Options');
    const v = volumeOptsVerdict(opts, rules);
    if (!v.allow) return v;
  }
  if (type === 'tmpfs') {
    const options = field(field(m, 'TmpfsOptions'), 'Options');
    const flat = Array.isArray(options) ? options.map((o) => (Array.isArray(o) ? String(o[0] ?? '') : String(o))) : [];
    const t = tmpfsOptionsVerdict(flat, rules, `${where}.TmpfsOptions.Options`);
    if (!t.allow) return t;
  }
  // image (API 1.48+) mounts an image's files read-only: nothing of the host.
  if (type !== 'volume' && type !== 'tmpfs' && type !== 'image') return deny('body:mount', `${where}: mount type ${type} is not allowed`);
  return { allow: true };
}

function volumeDriverVerdict(driver: JsonValue | undefined, rules: BodyRules, where: string): BodyVerdict {
  if (driver === undefined || driver === null || driver === '') return { allow: true };
  if (rules.allowedVolumeDrivers.includes(String(driver))) return { allow: true };
  return deny('body:volume-driver', `${where} ${JSON.stringify(driver)} is not an allowed volume driver (${rules.allowedVolumeDrivers.join(', ') || 'none'}): a volume plugin runs as root on the host`);
}

/** tmpfs options that give back what Docker's defaults (nosuid, nodev) take away. */
function tmpfsOptionsVerdict(options: string[], rules: BodyRules, where: string): BodyVerdict {
  if (rules.allowSecurityRelaxations) return { allow: true };
  for (const option of options) {
    const o = option.trim().toLowerCase();
    if (o === 'dev' || o === 'suid') return deny('body:tmpfs', `${where}: tmpfs option ${o} (device nodes or setuid binaries on a writable mount)`);
  }
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

/** Docker's default capability set (moby oci/caps): keeping it is not widening anything. */
const DEFAULT_CAPABILITIES = new Set(['CHOWN', 'DAC_OVERRIDE', 'FSETID', 'FOWNER', 'MKNOD', 'NET_RAW', 'SETGID', 'SETUID', 'SETFCAP', 'SETPCAP', 'NET_BIND_SERVICE', 'SYS_CHROOT', 'KILL', 'AUDIT_WRITE']);
const capName = (cap: JsonValue) => String(cap).trim().toUpperCase().replace(/^CAP_/, '');
const asList = (v: JsonValue | undefined): JsonValue[] => (Array.isArray(v) ? v : v === undefined || v === null ? [] : [v]);

function sysctlAllowed(name: string, rules: BodyRules): boolean {
  // The daemon accepts both spellings (net.ipv4.x and net/ipv4/x).
  const n = name.trim().replace(/\//g, '.');
  return rules.allowedSysctls.some((a) => (a.endsWith('*') ? n.startsWith(a.slice(0, -1)) : n === a));
}

function ulimitsVerdict(ulimits: JsonValue | undefined, rules: BodyRules, where: string): BodyVerdict {
  for (const u of asList(ulimits)) {
    const name = String(field(u, 'Name') ?? '').toLowerCase();
    if (!rules.allowedUlimits.map((a) => a.toLowerCase()).includes(name)) return deny('body:ulimits', `${where} sets ulimit ${name} (allowed: ${rules.allowedUlimits.join(', ') || 'none'})`);
  }
  return { allow: true };
}

/** Network endpoint settings: aliases, static addresses, driver options. */
export function endpointVerdict(ep: JsonValue | undefined, rules: BodyRules, where: string): BodyVerdict {
  if (!isObj(ep)) return { allow: true };
  if (!rules.allowNetworkAliases && nonEmpty(field(ep, 'Aliases'))) return deny('body:network-alias', `${where}.Aliases ${JSON.stringify(field(ep, 'Aliases'))}: an alias can take another service's DNS name on a shared network`);
  if (!rules.allowStaticAddresses) {
    const ipam = field(ep, 'IPAMConfig');
    for (const name of ['IPv4Address', 'IPv6Address', 'LinkLocalIPs']) if (nonEmpty(field(ipam, name))) return deny('body:static-address', `${where}.IPAMConfig.${name} is set: a static address can take over a peer's`);
    for (const name of ['IPAddress', 'GlobalIPv6Address', 'MacAddress']) if (nonEmpty(field(ep, name))) return deny('body:static-address', `${where}.${name} is set`);
  }
  if (!rules.allowSecurityRelaxations && nonEmpty(field(ep, 'DriverOpts'))) return deny('body:driver-opts', `${where}.DriverOpts is set (network driver options, per-interface sysctls)`);
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
    if (nonEmpty(field(hc, 'Annotations'))) return deny('body:annotations', `${where}.Annotations is set (read by the runtime)`);
  }
  return widerHostConfigVerdict(hc, rules, where);
}

/** The HostConfig fields added in round 2 (issue 16): each one widens what the container can do. */
function widerHostConfigVerdict(hc: Obj, rules: BodyRules, where: string): BodyVerdict {
  // Legacy capability list (API < 1.40; engines 19.03 honoured it): the whole set, not an addition.
  for (const cap of asList(field(hc, 'Capabilities'))) {
    const name = capName(cap);
    if (!DEFAULT_CAPABILITIES.has(name) && !rules.allowedCapabilities.map((c) => capName(c)).includes(name)) return deny('body:cap-add', `${where}.Capabilities grants ${String(cap)}`);
  }
  if (!rules.allowDevices && nonEmpty(field(hc, 'DeviceRequests'))) return deny('body:devices', `${where}.DeviceRequests is set (GPUs and other devices)`);
  const parent = field(hc, 'CgroupParent');
  if (nonEmpty(parent) && !rules.allowCgroupParent) return deny('body:cgroup-parent', `${where}.CgroupParent ${JSON.stringify(parent)}: a container outside its cgroup escapes its limits`);
  if (!rules.allowContainerNamespaces) {
    const cgroup = field(hc, 'Cgroup');
    if (typeof cgroup === 'string' && cgroup.trim() !== '') return deny('body:container-namespace', `${where}.Cgroup ${JSON.stringify(cgroup)} joins another container's cgroup`);
  }
  const runtime = field(hc, 'Runtime');
  if (nonEmpty(runtime) && !rules.allowedRuntimes.includes(String(runtime))) return deny('body:runtime', `${where}.Runtime ${JSON.stringify(runtime)} is not an allowed runtime (${rules.allowedRuntimes.join(', ') || 'none'})`);
  const sysctls = field(hc, 'Sysctls');
  if (isObj(sysctls)) {
    for (const name of Object.keys(sysctls)) if (!sysctlAllowed(name, rules)) return deny('body:sysctls', `${where}.Sysctls sets ${name}`);
  } else if (nonEmpty(sysctls)) return deny('body:sysctls', `${where}.Sysctls is not a map`);
  const ul = ulimitsVerdict(field(hc, 'Ulimits'), rules, `${where}.Ulimits`);
  if (!ul.allow) return ul;
  if (!rules.allowResourceRelaxations) {
    if (field(hc, 'OomKillDisable') === true) return deny('body:resources', `${where}.OomKillDisable is true (the host's OOM killer picks other processes)`);
    const pids = field(hc, 'PidsLimit');
    // 0 is what the docker CLI sends when no limit is asked for (the daemon's default applies); a
    // negative value removes the limit outright.
    if (typeof pids === 'number' && pids < 0) return deny('body:resources', `${where}.PidsLimit ${pids} removes the PID limit`);
    for (const name of ['CpuRealtimeRuntime', 'CpuRealtimePeriod']) {
      const v = field(hc, name);
      if (typeof v === 'number' && v > 0) return deny('body:resources', `${where}.${name} grants real-time CPU time`);
    }
    const oom = field(hc, 'OomScoreAdj');
    if (typeof oom === 'number' && oom < 0) return deny('body:resources', `${where}.OomScoreAdj ${oom} makes the host's processes die first`);
  }
  const shm = field(hc, 'ShmSize');
  if (typeof shm === 'number' && shm > rules.maxShmSize) return deny('body:shm-size', `${where}.ShmSize ${shm} is above ${rules.maxShmSize}`);
  const vd = volumeDriverVerdict(field(hc, 'VolumeDriver'), rules, `${where}.VolumeDriver`);
  if (!vd.allow) return vd;
  for (const bind of strings(field(hc, 'Binds'))) {
    const options = bind.split(':').slice(2).join(':').toLowerCase().split(',');
    if (!rules.allowSecurityRelaxations && options.some((o) => PROPAGATING.has(o.trim()))) return deny('body:mount-propagation', `${where}.Binds ${JSON.stringify(bind)}: shared propagation lets mounts made inside reach the host`);
  }
  const tmpfs = field(hc, 'Tmpfs');
  if (isObj(tmpfs)) {
    for (const [path, opts] of Object.entries(tmpfs)) {
      const t = tmpfsOptionsVerdict(String(opts ?? '').split(','), rules, `${where}.Tmpfs[${path}]`);
      if (!t.allow) return t;
    }
  }
  const log = field(field(hc, 'LogConfig'), 'Type');
  if (nonEmpty(log) && !rules.allowedLogDrivers.includes(String(log))) return deny('body:log-driver', `${where}.LogConfig.Type ${JSON.stringify(log)} is not an allowed log driver (${rules.allowedLogDrivers.join(', ')}): it can make the daemon connect out`);
  const isolation = field(hc, 'Isolation');
  if (nonEmpty(isolation) && String(isolation).toLowerCase() !== 'default') return deny('body:isolation', `${where}.Isolation ${JSON.stringify(isolation)} (process isolation shares the host's kernel objects)`);
  if (nonEmpty(field(hc, 'InitPath'))) return deny('body:init', `${where}.InitPath names a host binary to run as the container's init`);
  return { allow: true };
}

function serviceVerdict(spec: JsonValue, rules: BodyRules): BodyVerdict {
  if (!rules.allowHostNamespaces) {
    const networks = [field(field(spec, 'TaskTemplate'), 'Networks'), field(spec, 'Networks')].flatMap((n) => (Array.isArray(n) ? n : []));
    if (networks.some((n) => String(field(n, 'Target') ?? '').toLowerCase() === 'host')) return deny('body:host-namespace', 'service attached to the host network');
  }
  if (!rules.allowPluginPrivileges && nonEmpty(field(field(spec, 'TaskTemplate'), 'PluginSpec'))) return deny('body:plugin', 'services that install plugins need allowPluginPrivileges');
  for (const n of [field(field(spec, 'TaskTemplate'), 'Networks'), field(spec, 'Networks')].flatMap((x) => (Array.isArray(x) ? x : []))) {
    const v = endpointVerdict({ Aliases: field(n, 'Aliases') ?? null, DriverOpts: field(n, 'DriverOpts') ?? null }, rules, 'Networks[]');
    if (!v.allow) return v;
  }
  const cs = field(field(spec, 'TaskTemplate'), 'ContainerSpec');
  if (!isObj(cs)) return { allow: true };
  const sysctls = field(cs, 'Sysctls');
  if (isObj(sysctls)) for (const name of Object.keys(sysctls)) if (!sysctlAllowed(name, rules)) return deny('body:sysctls', `ContainerSpec.Sysctls sets ${name}`);
  const ul = ulimitsVerdict(field(cs, 'Ulimits'), rules, 'ContainerSpec.Ulimits');
  if (!ul.allow) return ul;
  const isolation = field(cs, 'Isolation');
  if (nonEmpty(isolation) && String(isolation).toLowerCase() !== 'default') return deny('body:isolation', `ContainerSpec.Isolation ${JSON.stringify(isolation)}`);
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
      const hc = hostConfigVerdict(field(body, 'HostConfig'), rules, 'HostConfig');
      if (!hc.allow) return hc;
      if (!rules.allowStaticAddresses && nonEmpty(field(body, 'MacAddress'))) return deny('body:static-address', 'MacAddress is set');
      const endpoints = field(field(body, 'NetworkingConfig'), 'EndpointsConfig');
      if (isObj(endpoints)) {
        for (const [network, ep] of Object.entries(endpoints)) {
          const v = endpointVerdict(ep, rules, `NetworkingConfig.EndpointsConfig[${network}]`);
          if (!v.allow) return v;
        }
      }
      return { allow: true };
    }
    case 'container-update':
      if (!isObj(body)) return deny('body:shape', 'update config is not an object');
      return hostConfigVerdict(body, rules, 'update');
    case 'exec-create':
      if (!isObj(body)) return deny('body:shape', 'exec config is not an object');
      if (field(body, 'Privileged') === true && !rules.allowPrivileged) return deny('body:privileged', 'exec Privileged is true');
      if (rules.denyExecAsRoot) {
        const user = String(field(body, 'User') ?? '').trim();
        const name = user.split(':')[0]!.trim();
        if (name === '' || name === 'root' || /^0+$/.test(name)) return deny('body:exec-user', `exec as ${user ? JSON.stringify(user) : "the container's default user"}: the policy wants a non-root User`);
      }
      return { allow: true };
    case 'network-connect':
      if (!isObj(body)) return deny('body:shape', 'network connect config is not an object');
      return endpointVerdict(field(body, 'EndpointConfig'), rules, 'EndpointConfig');
    case 'service':
      if (!isObj(body)) return deny('body:shape', 'service spec is not an object');
      return serviceVerdict(body, rules);
    case 'volume-create': {
      if (!isObj(body)) return deny('body:shape', 'volume config is not an object');
      const driver = String(field(body, 'Driver') ?? 'local');
      const d = volumeDriverVerdict(driver === '' ? 'local' : driver, rules, 'Driver');
      if (!d.allow) return d;
      if (nonEmpty(field(body, 'ClusterVolumeSpec'))) return deny('body:volume-driver', 'ClusterVolumeSpec: cluster volumes run a CSI plugin');
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

/** Query-string (and form-body) rules: what the daemon fetches, from where, with which settings. */

/**
 * Parses a query string or a form body as Go's url.ParseQuery does, but wider: `;` separates too
 * (Go before 1.17 did), `+` is a space, keys are percent-decoded. Returns null when an escape is
 * malformed (the daemon answers 400 then; we do not guess what it would have read).
 */
export function parseForm(text: string): [string, string][] | null {
  const out: [string, string][] = [];
  for (const part of text.split(/[&;]/)) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const [k, v] = eq < 0 ? [part, ''] : [part.slice(0, eq), part.slice(eq + 1)];
    try { out.push([decodeURIComponent(k.replace(/\+/g, ' ')), decodeURIComponent(v.replace(/\+/g, ' '))]); } catch { return null; }
  }
  return out;
}

/** A URL with its user:password@ replaced by [redacted]@ (for messages and the audit log). */
export function redactUserinfo(value: string): string {
  return value.replace(/\/\/[^/@]*@/g, '//[redacted]@');
}

/** The registry host of an image reference, as the docker reference library splits it. */
export function registryOf(reference: string): string {
  const slash = reference.indexOf('/');
  const first = slash < 0 ? '' : reference.slice(0, slash);
  if (slash < 0 || (!/[.:]/.test(first) && first !== 'localhost' && first === first.toLowerCase())) return 'docker.io';
  return first.toLowerCase() === 'index.docker.io' || first.toLowerCase() === 'registry-1.docker.io' ? 'docker.io' : first.toLowerCase();
}

function registryVerdict(reference: string, rules: BodyRules, where: string): BodyVerdict {
  if (!rules.allowedRegistries) return { allow: true };
  const registry = registryOf(reference);
  const allowed = rules.allowedRegistries.map((r) => registryOf(`${r.replace(/\/+$/, '')}/x`));
  return allowed.includes(registry) ? { allow: true } : deny('query:registry', `${where} ${JSON.stringify(reference)} is on registry ${registry}, not in allowedRegistries (${rules.allowedRegistries.join(', ') || 'none'})`);
}

/**
 * The verdict on a request's parameters: the query string, plus the body when it is a form (the
 * daemon's ParseForm reads `application/x-www-form-urlencoded` bodies into the same values, and
 * Go puts them first). Every value of a repeated key is judged, not only the one Go reads first.
 */
export function judgeQuery(kind: QueryKind, params: [string, string][] | null, route: string, rules: BodyRules): BodyVerdict {
  if (kind === 'registry-name') {
    const m = /^\/(?:images|distribution)\/(.+)\/(?:push|json)$/.exec(route);
    return m ? registryVerdict(m[1]!, rules, 'image') : { allow: true };
  }
  if (!params) return deny('query:malformed', 'malformed percent-escape in the query or form body');
  const values = (name: string) => params.filter(([k]) => k.toLowerCase() === name.toLowerCase()).map(([, v]) => v);
  if (kind === 'image-create') {
    for (const src of values('fromSrc')) {
      if (src !== '' && src !== '-' && !rules.allowImportFromUrl) return deny('query:from-src', `fromSrc=${JSON.stringify(redactUserinfo(src))} makes the daemon fetch a URL (set allowImportFromUrl to allow)`);
    }
    for (const image of values('fromImage')) {
      const v = registryVerdict(image, rules, 'fromImage');
      if (!v.allow) return v;
    }
    return { allow: true };
  }
  // build
  for (const remote of values('remote')) {
    // "client-session" names BuildKit's session, not a URL.
    if (remote !== '' && remote !== 'client-session' && !rules.allowRemoteBuild) return deny('query:remote', `remote=${JSON.stringify(redactUserinfo(remote))} makes the daemon fetch a build context (set allowRemoteBuild to allow)`);
  }
  for (const mode of values('networkmode')) {
    const m = mode.trim().toLowerCase();
    if (m === 'host' && !rules.allowHostNamespaces) return deny('body:host-namespace', 'build networkmode=host');
    if (m.startsWith('container:') && !rules.allowContainerNamespaces) return deny('body:container-namespace', `build networkmode=${mode}`);
  }
  if (values('cgroupparent').some((v) => v !== '') && !rules.allowCgroupParent) return deny('body:cgroup-parent', 'build cgroupparent is set');
  if (values('isolation').some((v) => v !== '' && v.toLowerCase() !== 'default')) return deny('body:isolation', 'build isolation is set');
  for (const shm of values('shmsize')) if (Number(shm) > rules.maxShmSize) return deny('body:shm-size', `build shmsize ${shm} is above ${rules.maxShmSize}`);
  for (const ulimits of values('ulimits')) {
    let parsed: JsonValue;
    try { parsed = parseGoJson(Buffer.from(ulimits)); } catch (error) { return deny('body:json', `build ulimits: ${(error as Error).message}`); }
    const v = ulimitsVerdict(parsed, rules, 'build ulimits');
    if (!v.allow) return v;
  }
  return { allow: true };
}
