/** Small pure helpers the compose rules share: service classification, mounts, commands. */
import type { ComposeProject, ModelPath, ServiceModel } from '../../compose/types.js';
import { shellWords } from '../dockerfile.js';

export const svc = (name: string, ...rest: Array<string | number>): ModelPath => ['services', name, ...rest];

export interface ImageRef { repo: string; base: string; tag?: string; digest?: string }
/** Rules ask for the same few references many times per run. */
const refCache = new Map<string, ImageRef>();

/** Image reference split: repository path without registry, last path segment, tag, digest. */
export function imageRef(image: string | undefined): ImageRef | undefined {
  if (!image) return undefined;
  let ref = refCache.get(image);
  if (!ref) {
    if (refCache.size > 1000) refCache.clear();
    refCache.set(image, (ref = parseImageRef(image)));
  }
  return ref;
}

function parseImageRef(image: string): ImageRef {
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

/** No tag, latest, or a tag without a version number (alpine, apache, stable, nightly, lts): it moves under you. */
export function isFloatingTag(tag: string | undefined): boolean {
  return tag === undefined || tag === '' || tag === 'latest' || !/\d/.test(tag);
}

const DATASTORES = /^(postgres|postgresql|postgis|pgvector|pgvecto-rs|timescaledb|timescaledb-ha|mysql|mysql-server|mariadb|percona|percona-server|mongo|mongodb|mongodb-community-server|redis|redis-stack|redis-stack-server|valkey|keydb|dragonfly|memcached|elasticsearch|opensearch|rabbitmq|cassandra|scylla|influxdb|couchdb|clickhouse|clickhouse-server|neo4j|minio|etcd|zookeeper|kafka|nats|meilisearch|qdrant|cockroach|surrealdb|ferretdb)(-.*)?$/;
/** Tools named after a datastore that hold no data of their own. */
const NOT_DATASTORES = /-(exporter|express|ui|admin|commander|backup|backups|insight|dump|client|cli|operator)$|^(postgres|mysql|mongo|redis)-(backup|exporter)/;
/** Caches: rebuildable, no backup needed. */
export const CACHES = /^(redis|valkey|memcached|keydb|dragonfly)$/;
/** Data directories of datastore images. */
export const DATA_DIRS = /^\/(var\/lib\/(postgresql|mysql|mongodb|redis|rabbitmq|clickhouse|influxdb2?|neo4j|cassandra)|data\/db|bitnami\/(postgresql|mysql|mariadb|mongodb|redis)|home\/postgres\/pgdata|usr\/share\/(elasticsearch|opensearch)\/data|var\/lib\/postgresql\/data)(\/|$)/;
/** Server-side settings of database images (apps set POSTGRES_HOST, not these with a 5432 listener). */
const DB_SERVER_ENV = /^(POSTGRES_(PASSWORD|USER|DB|INITDB_ARGS|HOST_AUTH_METHOD)|PGDATA|POSTGRESQL_(PASSWORD|USERNAME|DATABASE|POSTGRES_PASSWORD)|MYSQL_(ROOT_PASSWORD|DATABASE|ALLOW_EMPTY_PASSWORD|RANDOM_ROOT_PASSWORD)|MARIADB_(ROOT_PASSWORD|DATABASE|ALLOW_EMPTY_ROOT_PASSWORD)|MONGO_INITDB_ROOT_(USERNAME|PASSWORD))$/;
const DB_PORTS = new Set([5432, 3306, 27017, 6379]);
/** Variables database images set in their own ENV. */
const DB_IMAGE_ENV = /^(PG_MAJOR|PG_VERSION|MARIADB_VERSION|MARIADB_MAJOR|MYSQL_MAJOR|MYSQL_VERSION|MONGO_MAJOR|MONGO_VERSION|REDIS_VERSION|VALKEY_VERSION)$/;

/**
 * A database, cache, queue or object store: by image name (forks and extensions included), else by
 * what it does: a data directory of a database image mounted, server-side database settings with a
 * database port, or (from the image's config) a database image's own ENV.
 */
export function isDatastore(s: ServiceModel, facts?: { env?: Record<string, string>; exposedPorts?: number[] }): boolean {
  if (s.berth.rollout.stateful) return true;
  const ref = imageRef(s.image);
  if (ref && NOT_DATASTORES.test(ref.base)) return false;
  if (ref !== undefined && DATASTORES.test(ref.base)) return true;
  if (mounts(s).some((m) => DATA_DIRS.test(m.target))) return true;
  const ports = [...s.ports.map((p) => p.target), ...(facts?.exposedPorts ?? [])];
  if (Object.keys(s.environment).some((k) => DB_SERVER_ENV.test(k)) && ports.some((p) => DB_PORTS.has(p))) return true;
  return Object.keys(facts?.env ?? {}).some((k) => DB_IMAGE_ENV.test(k));
}

/** A cache (redis, valkey, memcached, ...): rebuildable from the source of truth. */
export function isCache(s: ServiceModel): boolean {
  const ref = imageRef(s.image);
  return ref !== undefined && CACHES.test(ref.base.replace(/-.*$/, ''));
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

/** A reverse proxy or web server meant to face the internet on 80/443: by image, or publishing host port 80/443. */
export function isProxy(s: ServiceModel): boolean {
  const ref = imageRef(s.image);
  if (ref && PROXIES.test(ref.base)) return true;
  return s.ports.some((p) => isEdgePort(p.published)) && !isDatastore(s);
}

/** Host port 80 or 443 (or a range starting there): where the edge proxy listens. */
export const isEdgePort = (published: string | undefined) => published !== undefined && /^(80|443)(-|$)/.test(published);

/**
 * One-off jobs (migrations, init, backups), not held to the long-running rules: in a profile and
 * not restarted; berth's migrate service; a service others wait for with
 * service_completed_successfully; or one that says `restart: "no"` and runs a job.
 */
export function isOneOff(s: ServiceModel, project?: ComposeProject): boolean {
  if (project?.berth.deploy.migrate?.service === s.name) return true;
  const restart = s.restart ?? 'no';
  const notRestarted = restart === 'no' || restart.startsWith('on-failure');
  if (s.profiles.length > 0 && notRestarted) return true;
  if (!notRestarted) return false;
  if (project && Object.values(project.services).some((o) => o.dependsOn[s.name]?.condition === 'service_completed_successfully')) return true;
  return s.restart === 'no' && JOB_WORDS.test([s.name, ...(commandWords(s.raw.command)?.words ?? []), ...(commandWords(s.raw.entrypoint)?.words ?? [])].join(' '));
}

const JOB_WORDS = /\b(migrat\w*|db:(migrate|setup|prepare|seed)|init\w*|setup|seed\w*|bootstrap|createbuckets|create-buckets|provision\w*|install|upgrade|collectstatic|createsuperuser|one-?shot|job)\b/i;

const WEB_PORTS = new Set([80, 443, 3000, 3001, 4000, 5000, 5173, 8000, 8008, 8080, 8081, 8443, 8888, 9000]);
/** Services that listen on "web" ports for something else: log shippers and collectors. */
const NOT_WEB = /^(logstash|fluentd|fluent-bit|vector|promtail|syslog-ng|rsyslog|filebeat|otel-collector|opentelemetry-collector(-contrib)?|telegraf|statsd|graphite)$/;

/** An application service that takes HTTP traffic (rolled out behind a proxy). */
export function isWebService(s: ServiceModel, project?: ComposeProject): boolean {
  if (isProxy(s) || isDatastore(s) || isSocketProxy(s) || isOneOff(s, project)) return false;
  const ref = imageRef(s.image);
  if (ref && NOT_WEB.test(ref.base)) return false;
  if (Object.keys(s.labels).some((l) => l.startsWith('traefik.http') || l === 'traefik.enable' || l.startsWith('caddy'))) return true;
  return s.ports.some((p) => WEB_PORTS.has(p.target) && p.protocol === 'tcp');
}

export interface Mount { index: number; type: 'bind' | 'volume' | 'tmpfs' | 'anonymous' | 'npipe'; source?: string; target: string; readOnly: boolean }

const mountCache = new WeakMap<object, Mount[]>();

/** The service's mounts (cached per volumes list: rules ask for them many times). */
export function mounts(s: Pick<ServiceModel, 'raw'>): Mount[] {
  const volumes = s.raw.volumes;
  if (!Array.isArray(volumes)) return [];
  let cached = mountCache.get(volumes);
  if (!cached) mountCache.set(volumes, (cached = parseMounts(volumes)));
  return cached;
}

function parseMounts(volumes: unknown[]): Mount[] {
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
