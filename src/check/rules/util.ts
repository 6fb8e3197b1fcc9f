/** Small pure helpers the compose rules share: service classification, mounts, commands. */
import type { ComposeProject, ModelPath, ServiceModel } from '../../compose/types.js';
import { shellWords } from '../dockerfile.js';

export const svc = (name: string, ...rest: Array<string | number>): ModelPath => ['services', name, ...rest];

/** Image reference split: repository path without registry, last path segment, tag, digest. */
export function imageRef(image: string | undefined): { repo: string; base: string; tag?: string; digest?: string } | undefined {
  if (!image) return undefined;
  let rest = image.trim().toLowerCase();
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) { digest = rest.slice(at + 1); rest = rest.slice(0, at); }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) { tag = rest.slice(colon + 1); rest = rest.slice(0, colon); }
  const parts = rest.split('/');
  if (parts.length > 1 && /[.:]|^localhost$/.test(parts[0]!)) parts.shift();
  if (parts[0] === 'library') parts.shift();
  return { repo: parts.join('/'), base: parts[parts.length - 1] ?? '', tag, digest };
}

const DATASTORES = /^(postgres|postgis|timescaledb|mysql|mariadb|percona|mongo|mongodb|redis|redis-stack|valkey|keydb|dragonfly|memcached|elasticsearch|opensearch|rabbitmq|cassandra|scylla|influxdb|couchdb|clickhouse|clickhouse-server|neo4j|minio|etcd|zookeeper|kafka|nats|meilisearch|qdrant|cockroach|surrealdb)(-.*)?$/;

export function isDatastore(s: ServiceModel): boolean {
  if (s.berth.rollout.stateful) return true;
  const ref = imageRef(s.image);
  return ref !== undefined && DATASTORES.test(ref.base);
}

export function isSocketProxy(s: ServiceModel): boolean {
  return isSocketProxyImage(s.image);
}

/** A socket proxy's image (Tecnativa's, linuxserver's, berth's own): the one meant to hold the socket. */
export function isSocketProxyImage(image: string | undefined): boolean {
  const ref = imageRef(image);
  return ref !== undefined && /socket-proxy|dockerproxy/.test(ref.repo);
}

export function isTraefik(s: ServiceModel): boolean {
  return imageRef(s.image)?.base.startsWith('traefik') ?? false;
}

const PROXIES = /^(traefik|caddy|nginx|nginx-proxy|openresty|haproxy|envoy|nginx-proxy-manager|swag|apache|httpd)(-.*)?$/;

/** A reverse proxy or web server meant to face the internet on 80/443. */
export function isProxy(s: ServiceModel): boolean {
  const ref = imageRef(s.image);
  if (ref && PROXIES.test(ref.base)) return true;
  return s.ports.some((p) => p.target === 80 || p.target === 443) && !isDatastore(s);
}

/** One-off jobs (migrations, backups): in a profile and not restarted, or berth's migrate service. */
export function isOneOff(s: ServiceModel, project?: ComposeProject): boolean {
  if (project?.berth.deploy.migrate?.service === s.name) return true;
  const restart = s.restart ?? 'no';
  return s.profiles.length > 0 && (restart === 'no' || restart.startsWith('on-failure'));
}

const WEB_PORTS = new Set([80, 443, 3000, 3001, 4000, 5000, 5173, 8000, 8008, 8080, 8081, 8443, 8888, 9000]);

/** An application service that takes HTTP traffic (rolled out behind a proxy). */
export function isWebService(s: ServiceModel, project?: ComposeProject): boolean {
  if (isProxy(s) || isDatastore(s) || isSocketProxy(s) || isOneOff(s, project)) return false;
  if (Object.keys(s.labels).some((l) => l.startsWith('traefik.http') || l === 'traefik.enable' || l.startsWith('caddy'))) return true;
  return s.ports.some((p) => WEB_PORTS.has(p.target));
}

export interface Mount { index: number; type: 'bind' | 'volume' | 'tmpfs' | 'anonymous' | 'npipe'; source?: string; target: string; readOnly: boolean }

export function mounts(s: ServiceModel): Mount[] {
  const volumes = s.raw.volumes;
  if (!Array.isArray(volumes)) return [];
  return volumes.map((v, index): Mount => {
    if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      const type = (o.type as Mount['type']) ?? 'volume';
      return { index, type: type === 'volume' && !o.source ? 'anonymous' : type, source: o.source as string | undefined, target: String(o.target ?? ''), readOnly: o.read_only === true };
    }
    const parts = String(v).split(':');
    if (parts.length === 1) return { index, type: 'anonymous', target: parts[0]!, readOnly: false };
    const [source, target, mode = ''] = parts as [string, string, string?];
    const bind = /^[./~$]/.test(source) || source.includes('/');
    return { index, type: bind ? 'bind' : 'volume', source, target, readOnly: mode.split(',').includes('ro') };
  });
}

export const isDockerSocket = (path: string | undefined) => path !== undefined && /(^|\/)(docker\.sock|podman\.sock)$/.test(path.replace(/\/+$/, ''));

/** A command or entrypoint as words; `shell` is true when written as one string. */
export function commandWords(value: unknown): { words: string[]; shell: boolean } | undefined {
  if (typeof value === 'string') return { words: shellWords(value), shell: true };
  if (Array.isArray(value)) return { words: value.map(String), shell: false };
  return undefined;
}

/** `sh -c SCRIPT` (any POSIX shell, any flags), returns the script. */
export function shellScript(words: string[]): string | undefined {
  const exe = words[0]?.split('/').pop();
  if (!exe || !/^(sh|bash|ash|dash|zsh)$/.test(exe)) return undefined;
  for (let i = 1; i < words.length; i++) {
    const w = words[i]!;
    if (/^-[a-z]*c[a-z]*$/.test(w)) return words[i + 1] ?? '';
    if (!w.startsWith('-')) return undefined;
  }
  return undefined;
}

/** Whether the shell script hands PID 1 to its command with `exec`. */
export function scriptExecs(script: string): boolean {
  return /(^|[;&|\n]\s*|\bthen\s+|\bdo\s+)exec\s+\S/.test(script.trim());
}

export const isTruthy = (v: unknown) => v === true || v === 1 || (typeof v === 'string' && /^(1|true|yes|on)$/i.test(v.trim()));

export function asArray(v: unknown): unknown[] {
  if (Array.isArray(v)) return v;
  if (v === undefined || v === null) return [];
  return [v];
}

/** Top-level network definition. */
export function networkDef(project: ComposeProject, name: string): Record<string, unknown> {
  return (((project.model.networks ?? {}) as Record<string, unknown>)[name] ?? {}) as Record<string, unknown>;
}

export function isInternalNetwork(project: ComposeProject, name: string): boolean {
  return isTruthy(networkDef(project, name).internal);
}

export function deployLimits(s: ServiceModel): Record<string, unknown> {
  return (((s.raw.deploy as Record<string, unknown> | undefined)?.resources as Record<string, unknown> | undefined)?.limits ?? {}) as Record<string, unknown>;
}
