/**
 * What an image does on its own, for the rules that depend on it (init, user, healthcheck, stop
 * signal, probe binaries, datastore role). Three sources, best first:
 *   1. the local image's config (`image inspect`: StopSignal, Healthcheck, User, Entrypoint, Cmd,
 *      ExposedPorts, Env, Volumes), read by image-inspect.ts through the one engine client;
 *   2. a service's Dockerfile (the stage compose builds), filled in from its base image;
 *   3. a curated table of popular images, checked against their published Dockerfiles.
 * Where none knows, the facts say so (`checked: false`) and rules say "not checked" plainly.
 * A field left `undefined` means "cannot tell".
 */
import { effective, stageChain, substitute, type Dockerfile } from './dockerfile.js';
import { imageRef } from './rules/util.js';

export interface ImageFacts {
  /** Whether `curl` / `wget` are on the PATH. */
  curl?: boolean;
  wget?: boolean;
  /** The entrypoint runs an init (tini, dumb-init, s6-overlay's /init). */
  init?: boolean;
  /** USER is set to a non-root user. */
  nonRootUser?: boolean;
  /** The user as written (USER / Config.User). */
  user?: string;
  /** A HEALTHCHECK is defined (false: known to have none). */
  healthcheck?: boolean;
  /** STOPSIGNAL (undefined: SIGTERM, when `checked`). */
  stopSignal?: string;
  entrypoint?: string[];
  cmd?: string[];
  /** Container ports the image EXPOSEs. */
  exposedPorts?: number[];
  /** The image's environment (ENV). */
  env?: Record<string, string>;
  /** Paths the image declares as VOLUME. */
  volumes?: string[];
  /** Whether the facts come from somewhere that knows (the image itself, a Dockerfile, the table). */
  checked: boolean;
  /** How we know (for messages): "local image nginx:1.27 (sha256:abcd1234)", "berth's table of popular images", ... */
  basis: string;
}

/** The part of `docker image inspect` berth keeps (and caches by image id). */
export interface ImageConfig {
  id: string;
  stopSignal?: string;
  /** Healthcheck.Test; ["NONE"] when disabled. */
  healthcheck?: string[];
  user?: string;
  entrypoint?: string[];
  cmd?: string[];
  exposedPorts: string[];
  env: string[];
  volumes: string[];
}

/** What lintProject gets from the engine: each image reference as written → its config, or null when not present locally. */
export type ImageConfigs = Map<string, ImageConfig | null>;

const INIT_WORD = /^(tini|tini-static|dumb-init|s6-svscan|init|docker-init|catatonit)$/;
const basename = (w: string | undefined) => (w ?? '').split('/').pop() ?? '';

/** Whether a command (entrypoint words) starts with an init. */
export function runsInit(words: string[] | undefined): boolean | undefined {
  if (!words || words.length === 0) return undefined;
  return INIT_WORD.test(basename(words[0]));
}

const isRootUser = (user: string) => /^(root|0)(:.*)?$/.test(user.trim());
const envMap = (env: string[]) => Object.fromEntries(env.map((e) => { const i = e.indexOf('='); return i < 0 ? [e, ''] : [e.slice(0, i), e.slice(i + 1)]; }));
/** s6-overlay images (linuxserver.io and others) announce themselves with S6_* variables. */
const hasS6Env = (env: Record<string, string> | undefined) => Object.keys(env ?? {}).some((k) => k.startsWith('S6_'));

export function factsFromConfig(ref: string, config: ImageConfig): ImageFacts {
  const env = envMap(config.env);
  const hc = config.healthcheck;
  return {
    init: runsInit(config.entrypoint) || hasS6Env(env) || false,
    nonRootUser: config.user ? !isRootUser(config.user) : false,
    ...(config.user ? { user: config.user } : {}),
    healthcheck: hc !== undefined && hc.length > 0 && hc[0] !== 'NONE',
    ...(config.stopSignal ? { stopSignal: config.stopSignal } : {}),
    ...(config.entrypoint ? { entrypoint: config.entrypoint } : {}),
    ...(config.cmd ? { cmd: config.cmd } : {}),
    exposedPorts: config.exposedPorts.map((p) => Number.parseInt(p, 10)).filter((n) => Number.isInteger(n)),
    env,
    volumes: config.volumes,
    // Binaries are not in the config: the table may know them.
    ...pick(tableFacts(ref), ['curl', 'wget']),
    checked: true,
    basis: `local image ${ref} (${config.id.replace(/^sha256:/, '').slice(0, 12)})`,
  };
}

function pick(facts: Partial<ImageFacts> | undefined, keys: Array<keyof ImageFacts>): Partial<ImageFacts> {
  const out: Partial<ImageFacts> = {};
  for (const k of keys) if (facts?.[k] !== undefined) (out as Record<string, unknown>)[k] = facts[k];
  return out;
}

// ── the curated table ─────────────────────────────────────────────────────────────
// Only what the images' published Dockerfiles say, for images seen in real stacks. Anything
// not listed stays unknown.
interface TableEntry { repo: RegExp; tag?: RegExp; facts: Partial<ImageFacts> }

const TABLE: TableEntry[] = [
  // nginx: STOPSIGNAL SIGQUIT since 1.19 (2020); the alpine variants apk add curl.
  { repo: /^nginx$/, tag: /alpine/, facts: { stopSignal: 'SIGQUIT', curl: true, wget: true } },
  { repo: /^nginx$/, facts: { stopSignal: 'SIGQUIT' } },
  { repo: /^openresty\/openresty$/, facts: { stopSignal: 'SIGQUIT' } },
  { repo: /^nginxinc\/nginx-unprivileged$/, facts: { stopSignal: 'SIGQUIT', nonRootUser: true, user: '101' } },
  // php-fpm variants: STOPSIGNAL SIGQUIT; the apache variants SIGWINCH (apache's graceful stop).
  { repo: /^(php|wordpress|nextcloud|drupal|joomla|matomo|friendica)$/, tag: /fpm/, facts: { stopSignal: 'SIGQUIT' } },
  { repo: /^(php|wordpress|nextcloud|drupal|joomla|matomo|friendica)$/, facts: { stopSignal: 'SIGWINCH' } },
  { repo: /^httpd$/, facts: { stopSignal: 'SIGWINCH' } },
  // Databases: their entrypoints drop to an unprivileged user (gosu/su-exec); postgres stops on SIGINT.
  { repo: /^(postgres|postgis\/postgis|pgvector\/pgvector|timescale\/timescaledb)$/, facts: { stopSignal: 'SIGINT', exposedPorts: [5432] } },
  // s6-overlay (/init as ENTRYPOINT): every linuxserver.io image, Home Assistant, Paperless-ngx (2.x), Gitea.
  // s6 runs the app as PUID/PGID (911 unless set): the image is not to be given `user:`.
  { repo: /^linuxserver\//, facts: { init: true, nonRootUser: true, user: 'abc (PUID)' } },
  { repo: /^home-assistant\/home-assistant$|^homeassistant\/home-assistant$/, facts: { init: true } },
  { repo: /^paperless-ngx\/paperless-ngx$/, facts: { init: true, healthcheck: true, curl: true, nonRootUser: true, user: 'paperless (USERMAP_UID)' } },
  { repo: /^(gitea\/gitea|forgejo\/forgejo)$/, tag: /rootless/, facts: { nonRootUser: true, user: '1000:1000' } },
  // The rootful image's s6 runs gitea (forgejo) as git (1000).
  { repo: /^(gitea\/gitea|forgejo\/forgejo)$/, facts: { init: true, nonRootUser: true, user: 'git (dropped by s6)' } },
  { repo: /^itzg\/minecraft-server$/, facts: { nonRootUser: true, user: '1000 (dropped by its start script)' } },
  { repo: /^edoburu\/pgbouncer$/, facts: { nonRootUser: true, user: 'postgres' } },
  { repo: /^grafana\/loki$/, facts: { nonRootUser: true, user: '10001' } },
  { repo: /^apache\/tika$/, facts: { nonRootUser: true, user: '35002' } },
  { repo: /^outlinewiki\/outline$/, facts: { nonRootUser: true, user: 'nodejs', healthcheck: true } },
  { repo: /^prodrigestivill\/postgres-backup-local$/, facts: { healthcheck: true } },
  { repo: /^nextcloud\/all-in-one$/, facts: { healthcheck: true } },
  { repo: /^immich-app\/immich-machine-learning$/, facts: { healthcheck: true } },
  { repo: /^ghost$/, facts: { nonRootUser: true, user: 'node (dropped by gosu in its entrypoint)' } },
  { repo: /^dpage\/pgadmin4$/, facts: { nonRootUser: true, user: '5050' } },
  { repo: /^plausible\/community-edition$/, facts: { nonRootUser: true, user: '999' } },
  // Entrypoints that drop to an unprivileged user themselves (gosu), and images with a HEALTHCHECK.
  { repo: /^matrixdotorg\/synapse$/, facts: { healthcheck: true, curl: true, nonRootUser: true, user: '991 (dropped by start.py)' } },
  { repo: /^amir20\/dozzle$/, facts: { healthcheck: true } },
  { repo: /^containrrr\/watchtower$/, facts: { healthcheck: true } },
  { repo: /^cadvisor\/cadvisor$/, facts: { healthcheck: true, wget: true } },
  // tini or dumb-init as ENTRYPOINT, an unprivileged USER, a HEALTHCHECK.
  { repo: /^n8nio\/n8n$/, facts: { init: true, nonRootUser: true, user: 'node' } },
  { repo: /^(tootsuite|mastodon)\/mastodon$/, facts: { init: true, nonRootUser: true, user: 'mastodon' } },
  { repo: /^goauthentik\/server$/, facts: { init: true, nonRootUser: true, user: '1000', healthcheck: true } },
  { repo: /^louislam\/uptime-kuma$/, facts: { init: true, healthcheck: true } },
  { repo: /^immich-app\/immich-server$/, facts: { init: true, healthcheck: true } },
  { repo: /^vaultwarden\/server$/, facts: { healthcheck: true } },
  { repo: /^gotenberg\/gotenberg$/, facts: { init: true, nonRootUser: true, user: 'gotenberg' } },
  { repo: /^grafana\/grafana(-oss|-enterprise)?$/, facts: { nonRootUser: true, user: '472' } },
  { repo: /^prom\/(prometheus|alertmanager|node-exporter|pushgateway|blackbox-exporter)$/, facts: { nonRootUser: true, user: 'nobody' } },
  { repo: /^bitnami\/.+/, facts: { nonRootUser: true, user: '1001' } },
  { repo: /^keycloak\/keycloak$/, facts: { nonRootUser: true, user: '1000' } },
  { repo: /^(elasticsearch\/elasticsearch|kibana\/kibana|logstash\/logstash)$/, facts: { init: true, nonRootUser: true, user: '1000' } },
  { repo: /^traefik\/whoami$/, facts: { nonRootUser: true } },
];

/** Probe binaries by base image family, only where we are sure. */
export function baseImageFacts(image: string): Pick<ImageFacts, 'curl' | 'wget'> {
  const ref = imageRef(image);
  if (!ref) return {};
  const tag = ref.tag ?? 'latest';
  if (ref.repo === 'scratch' || /distroless|chainguard|-dhi$|^dhi\.io/.test(ref.repo)) return { curl: false, wget: false };
  if (ref.base === 'alpine' || /(^|-)alpine/.test(tag)) return { curl: false, wget: true }; // busybox wget
  if (ref.base === 'busybox') return { curl: false, wget: true };
  const official = ['node', 'python', 'ruby', 'golang', 'openjdk', 'eclipse-temurin', 'php', 'debian', 'ubuntu', 'rust', 'elixir', 'perl'];
  if (official.includes(ref.repo)) {
    if (/slim/.test(tag) || ['debian', 'ubuntu', 'eclipse-temurin', 'php'].includes(ref.repo)) return { curl: false, wget: false };
    // Full official language images are built on buildpack-deps: curl and wget are there.
    return { curl: true, wget: true };
  }
  return {};
}

/** nginx images before 1.19 stopped on SIGTERM. */
const oldNginx = (tag: string | undefined) => { const m = /^1\.(\d+)/.exec(tag ?? ''); return m !== null && Number(m[1]) < 19; };

const tableCache = new Map<string, ImageFacts | undefined>();

/** What berth's table knows about an image by name; undefined when it is not a popular image berth knows. */
export function tableFacts(image: string): ImageFacts | undefined {
  if (tableCache.has(image)) return tableCache.get(image);
  if (tableCache.size > 1000) tableCache.clear();
  const facts = lookUpTable(image);
  tableCache.set(image, facts);
  return facts;
}

function lookUpTable(image: string): ImageFacts | undefined {
  const ref = imageRef(image);
  if (!ref) return undefined;
  const facts: Partial<ImageFacts> = {};
  let known = false;
  for (const e of TABLE) {
    if (!e.repo.test(ref.repo) || (e.tag && !e.tag.test(ref.tag ?? 'latest'))) continue;
    for (const [k, v] of Object.entries(e.facts)) if ((facts as Record<string, unknown>)[k] === undefined) (facts as Record<string, unknown>)[k] = v;
    known = true;
  }
  // The base image family's probe binaries, where the table says nothing.
  for (const [k, v] of Object.entries(baseImageFacts(image))) if ((facts as Record<string, unknown>)[k] === undefined) (facts as Record<string, unknown>)[k] = v;
  if (ref.repo === 'nginx' && oldNginx(ref.tag)) delete facts.stopSignal;
  if (!known) return Object.keys(facts).length ? { ...facts, checked: false, basis: `image ${image} (not inspected)` } : undefined;
  return { ...facts, checked: true, basis: `berth's table of popular images (${ref.repo})` };
}

/** Whether an image (by name) is known to run as a non-root user; undefined when not known. */
export function knownNonRoot(image: string): boolean | undefined {
  const ref = imageRef(image);
  if (!ref) return undefined;
  if (tableFacts(image)?.nonRootUser || /:nonroot$|-nonroot$/.test(`${ref.repo}:${ref.tag ?? ''}`)) return true;
  return undefined;
}

/** The facts of an image reference: its local config when present, else the table, else "not checked". */
export function factsOfImage(ref: string, configs: ImageConfigs | undefined): ImageFacts {
  const config = configs?.get(ref);
  if (config) return factsFromConfig(ref, config);
  const table = tableFacts(ref);
  if (table?.checked) return table;
  const why = configs === undefined ? 'the engine was not asked' : 'not present locally and not in berth\'s table';
  return { ...(table ?? {}), checked: false, basis: `image ${ref} not checked: ${why}` };
}

const INSTALL = /\b(apk\s+add|apt-get\s+install|apt\s+install|yum\s+install|dnf\s+install|microdnf\s+install)\b([^;&|]*)/g;

/** The root image a stage chain builds FROM (ARGs substituted), or undefined for scratch or an unresolved ARG. */
export function baseImageOf(dockerfile: Dockerfile, stageIndex: number): string | undefined {
  const chain = stageChain(dockerfile, stageIndex);
  const root = chain[chain.length - 1];
  const base = root ? substitute(root.image, dockerfile.globalArgs) : '';
  return base && !base.includes('$') && base.toLowerCase() !== 'scratch' ? base : undefined;
}

/**
 * Facts of the image a Dockerfile stage builds: what the Dockerfile says, filled in from its base
 * image's facts (`base`, from the local image or the table) where the Dockerfile is silent.
 */
export function dockerfileFacts(dockerfile: Dockerfile, stageIndex: number, base?: ImageFacts): ImageFacts {
  const chain = stageChain(dockerfile, stageIndex);
  const root = chain[chain.length - 1];
  const baseName = root ? substitute(root.image, dockerfile.globalArgs) : '';
  const fromBase = base ?? (baseName && !baseName.includes('$') ? { ...baseImageFacts(baseName), checked: false, basis: '' } : undefined);
  const facts: ImageFacts = {
    ...pick(fromBase, ['curl', 'wget', 'init', 'nonRootUser', 'user', 'healthcheck', 'stopSignal', 'entrypoint', 'cmd', 'exposedPorts', 'env', 'volumes']),
    checked: true,
    basis: `Dockerfile (FROM ${baseName || '?'}${base?.checked ? `; base: ${base.basis}` : ''})`,
  };
  const scratch = baseName.toLowerCase() === 'scratch';
  if (scratch) Object.assign(facts, { curl: false, wget: false });
  for (const stage of chain) {
    for (const i of stage.instructions) {
      if (i.keyword !== 'RUN') continue;
      const text = [i.args, ...i.heredocs].join('\n');
      for (const m of text.matchAll(INSTALL)) {
        const pkgs = m[2]!.split(/\s+/);
        if (pkgs.includes('curl')) facts.curl = true;
        if (pkgs.includes('wget') || pkgs.includes('busybox')) facts.wget = true;
      }
      if (/\b(apk\s+del|apt-get\s+(purge|remove))\b[^;&|]*\bcurl\b/.test(text)) facts.curl = false;
    }
  }
  const entrypoint = effective(dockerfile, stageIndex, 'ENTRYPOINT');
  if (entrypoint) {
    const words = entrypoint.exec ?? entrypoint.rest.split(/\s+/);
    facts.entrypoint = words;
    facts.init = runsInit(words) ?? false;
  } else if (scratch) facts.init = false;
  if (chain.some((st) => st.instructions.some((i) => i.keyword === 'ENV' && /(^|\s)S6_[A-Z_]+[= ]/.test(i.rest)))) facts.init = true;
  const user = effective(dockerfile, stageIndex, 'USER');
  if (user) { facts.user = user.rest.trim(); facts.nonRootUser = !isRootUser(user.rest); } else if (scratch) facts.nonRootUser = false;
  const hc = effective(dockerfile, stageIndex, 'HEALTHCHECK');
  if (hc) facts.healthcheck = !/^NONE\b/i.test(hc.rest);
  else if (scratch) facts.healthcheck = false;
  const stop = effective(dockerfile, stageIndex, 'STOPSIGNAL');
  if (stop) facts.stopSignal = stop.rest.trim();
  return facts;
}
