/**
 * Compose rules: pure functions over the merged, interpolated model. Each returns hits with a
 * model path; the runner maps paths to file:line:column with project.locate().
 */
import type { ServiceModel, SourceLocation } from '../../compose/types.js';
import { formatDuration } from '../../lib/duration.js';
import { baseImageOf, dockerfileFacts, factsOfImage, runsInit, type ImageFacts } from '../image-facts.js';
import type { CheckContext, ComposeRule, FixIntent, RuleHit } from '../types.js';
import { serviceNames, shortConnectTimeouts, staticUpstreams } from '../proxy-config.js';
import {
  asArray, commandWords, deployLimits, imageRef, isCache, isDatastore, isDockerSocket, isEdgePort, isFloatingTag, isInternalNetwork, isOneOff, isProxy,
  isSocketProxy, isTraefik, isTruthy, isWebService, mounts, scriptExecs, shellScript, svc, type Mount,
} from './util.js';
import { isPackageManager } from '../../lib/commands.js';

type Check = (ctx: CheckContext) => RuleHit[];

/** Runs `fn` for each active service and collects its hits. */
function eachService(fn: (s: ServiceModel, ctx: CheckContext) => RuleHit[] | RuleHit | undefined): Check {
  return (ctx) => Object.values(ctx.project.services).flatMap((s) => {
    const hits = fn(s, ctx);
    return (hits === undefined ? [] : Array.isArray(hits) ? hits : [hits]).map((h) => ({ service: s.name, ...h }));
  });
}

/** Long-running services: one-off jobs (profiles + no restart, berth's migrate) are not held to runtime rules. */
function longRunning(fn: (s: ServiceModel, ctx: CheckContext) => RuleHit[] | RuleHit | undefined): Check {
  return eachService((s, ctx) => (isOneOff(s, ctx.project) ? undefined : fn(s, ctx)));
}

const factsCache = new WeakMap<CheckContext, Map<string, ImageFacts>>();

/** What the service's image does on its own (local image config, its Dockerfile, berth's table), once per service. */
export function imageFacts(s: ServiceModel, ctx: CheckContext): ImageFacts {
  let cache = factsCache.get(ctx);
  if (!cache) factsCache.set(ctx, (cache = new Map()));
  let facts = cache.get(s.name);
  if (!facts) {
    const df = ctx.dockerfiles.get(s.name);
    if (df) {
      const base = baseImageOf(df.dockerfile, df.stageIndex);
      facts = dockerfileFacts(df.dockerfile, df.stageIndex, base ? factsOfImage(base, ctx.images) : undefined);
    } else if (s.image && !s.hasBuild) facts = factsOfImage(s.image, ctx.images);
    else facts = { checked: false, basis: `service "${s.name}" builds from a Dockerfile berth could not read` };
    cache.set(s.name, facts);
  }
  return facts;
}

/** ", not checked: WHY" when the image facts could not say; '' otherwise. */
const notChecked = (facts: ImageFacts) => (facts.checked ? '' : ` (${facts.basis})`);

const datastoreCache = new WeakMap<CheckContext, Map<string, boolean>>();
/** isDatastore with the image's facts, once per service and run. */
function datastore(s: ServiceModel, ctx: CheckContext): boolean {
  let cache = datastoreCache.get(ctx);
  if (!cache) datastoreCache.set(ctx, (cache = new Map()));
  let answer = cache.get(s.name);
  if (answer === undefined) cache.set(s.name, (answer = isDatastore(s, imageFacts(s, ctx))));
  return answer;
}

/** Whether PID 1 is an init: compose's own entrypoint (which replaces the image's), s6 settings, or the image's entrypoint. */
function bringsInit(s: ServiceModel, ctx: CheckContext): boolean | undefined {
  if (Object.keys(s.environment).some((k) => k.startsWith('S6_'))) return true;
  const own = commandWords(s.raw.entrypoint);
  if (own) return runsInit(own.words) ?? false;
  return imageFacts(s, ctx).init;
}

/**
 * Container ports of protocols that are public by design (mail, SSH for git, DNS, VPN, TURN,
 * BitTorrent, game servers): binding them to loopback or moving them behind the HTTP proxy is
 * not the fix, so port-all-interfaces and fixed-host-port leave them alone.
 */
const PUBLIC_PORTS = new Set([22, 25, 53, 110, 143, 465, 587, 993, 995, 3478, 5349, 6881, 51820, 25565, 19132, 27015, 7777, 2456, 2457, 2458]);
const isPublicByDesign = (s: ServiceModel, target: number) => PUBLIC_PORTS.has(target) || GAME_SERVERS.test(imageRef(s.image)?.repo ?? '');

/** Images whose own documentation requires a fixed container_name (they find themselves by it). */
const REQUIRES_CONTAINER_NAME = /^(nextcloud\/all-in-one|nextcloud-releases\/all-in-one)$/;
const requiresContainerName = (s: ServiceModel) => REQUIRES_CONTAINER_NAME.test(imageRef(s.image)?.repo ?? '');

const WORKER_COMMAND = /\b(sidekiq|celery\b.*\bworker|rq\s+worker|rqworker|queue:work|horizon|jobs:work|good_job|solid_queue|resque|delayed_job|jobs:work|qcluster|dramatiq|huey|arq|faktory|temporal.*worker|bullmq|worker)\b/i;
const GAME_SERVERS = /^(itzg\/minecraft-(server|bedrock-server)|factoriotools\/factorio|lloesche\/valheim-server|cm2network\/.+|ich777\/.+|ryshe\/terraria|thijsvanloef\/palworld-server-docker|didstopia\/rust-server)$/;

/** "worker" or "game server" for long-running non-web services that need time to finish or save; undefined otherwise. */
function workerKind(s: ServiceModel, facts: ImageFacts): string | undefined {
  if (GAME_SERVERS.test(imageRef(s.image)?.repo ?? '')) return 'game server';
  const words = [...(commandWords(s.raw.entrypoint)?.words ?? []), ...(commandWords(s.raw.command)?.words ?? facts.cmd ?? [])].join(' ');
  if (WORKER_COMMAND.test(words) || /^(worker|workers|sidekiq|celery|celery-worker|queue|jobs)(-\w+)?$/i.test(s.name)) return 'worker';
  return undefined;
}

/** "nginx" or "php-fpm" when the service runs one (by image, its Dockerfile's base, or its command). */
function gracefulOnQuit(s: ServiceModel, ctx: CheckContext, facts: ImageFacts): string | undefined {
  const df = ctx.dockerfiles.get(s.name);
  const image = df ? baseImageOf(df.dockerfile, df.stageIndex) : s.image;
  const ref = imageRef(image);
  const words = (commandWords(s.raw.command)?.words ?? facts.cmd ?? []).concat(commandWords(s.raw.entrypoint)?.words ?? facts.entrypoint ?? []);
  const exe = words.map((w) => w.split('/').pop() ?? '');
  if (ref && /^(nginx|openresty|nginx-unprivileged)$/.test(ref.base)) return 'nginx';
  if (ref && /^(php|wordpress|nextcloud|drupal|matomo)$/.test(ref.base) && /fpm/.test(ref.tag ?? '')) return 'php-fpm';
  if (exe.includes('nginx')) return 'nginx';
  if (exe.some((w) => /^php-fpm[\d.]*$/.test(w))) return 'php-fpm';
  return undefined;
}

// ── backups: what else already backs a volume up ─────────────────────────────────
const BACKUP_IMAGES = /(^|\/|-)(backup|backups|restic|borg|borgmatic|kopia|duplicati|duplicacy|rclone|resticker|autorestic|mc-backup|volume-backup|db-backup|pgbackrest|wal-g)(-|\/|$)/;
const DUMP_COMMAND = /\b(pg_dump|pg_dumpall|pg_basebackup|pgbackrest|wal-g|mysqldump|mariadb-dump|mariadb-backup|mariabackup|xtrabackup|mongodump|redis-cli\s+.*--rdb)\b/;

/** A service definition as written, active or not: backup jobs often sit in a `backup` profile. */
interface RawService { name: string; image?: string; words: string; env: string[]; dependsOn: string[]; volumes: Mount[]; xBackupVolume: boolean }

const rawCache = new WeakMap<CheckContext, RawService[]>();

function rawServices(ctx: CheckContext): RawService[] {
  let cached = rawCache.get(ctx);
  if (!cached) rawCache.set(ctx, (cached = readRawServices(ctx)));
  return cached;
}

function readRawServices(ctx: CheckContext): RawService[] {
  return Object.entries((ctx.project.model.services ?? {}) as Record<string, Record<string, unknown> | null>).map(([name, raw]) => {
    const r = raw ?? {};
    const env = r.environment;
    const envValues = Array.isArray(env) ? env.map(String) : env && typeof env === 'object' ? Object.values(env as Record<string, unknown>).map((v) => String(v ?? '')) : [];
    const deps = r.depends_on;
    return {
      name,
      image: typeof r.image === 'string' ? r.image : undefined,
      words: [...(commandWords(r.command)?.words ?? []), ...(commandWords(r.entrypoint)?.words ?? [])].join(' '),
      env: envValues,
      dependsOn: Array.isArray(deps) ? deps.map(String) : deps && typeof deps === 'object' ? Object.keys(deps) : [],
      volumes: mounts({ raw: r } as ServiceModel),
      xBackupVolume: ((r['x-berth'] as { backup?: { type?: string } } | undefined)?.backup?.type) === 'volume',
    };
  });
}

/** A backup sidecar or dump job (by image, or by the command it runs). */
function isBackupTool(s: { image?: string; words: string }): boolean {
  if (BACKUP_IMAGES.test(imageRef(s.image)?.repo ?? '')) return true;
  return DUMP_COMMAND.test(s.words) || /\b(restic|borg|borgmatic|kopia|rclone)\s+(backup|create|snapshot|sync|copy)\b/.test(s.words);
}

const asRaw = (s: ServiceModel) => ({ image: s.image, words: [...(commandWords(s.raw.command)?.words ?? []), ...(commandWords(s.raw.entrypoint)?.words ?? [])].join(' ') });

/** A bind-mounted directory that holds user content or app state (not a config file, not a system path, not logs or cache). */
function isDataBind(m: Mount, datastoreService: boolean): boolean {
  const source = m.source ?? '';
  if (/\.[a-z0-9]{1,5}$/i.test(source.split('/').pop() ?? '') || /^\/(var\/run|run|sys|proc|dev|etc|usr|lib|bin|boot)(\/|$)|docker\.sock/.test(source) || /^\/(etc|sys|proc|dev|run|var\/run)(\/|$)/.test(m.target)) return false;
  if (datastoreService) return true;
  return /(^|\/)(data|media|library|librar(y|ies)|uploads?|photos|pictures|music|movies|tv|books|files|documents|storage|public\/system|config|appdata|userdata|db|database|vault|gitea|git|repositories|mail|maildata|vmail|attachments)(\/|$)/i.test(`${source} ${m.target}`.replace(/\s/, '/'));
}

/** Logs, caches and scratch space: rebuildable, nothing to back up. */
const isScratch = (m: Mount) => /(^|[/_-])(cache|caches|tmp|temp|node_modules|logs?)([/_-]|$)/i.test(`${m.source ?? ''}/${m.target}`.replace(/\/+$/, ''));

const normalizePath = (p: string) => p.replace(/\/+$/, '').replace(/^\.\//, '');
/** The same volume, or the same host directory or one of its parents. */
const covers = (backup: Mount, m: Mount) => backup.source !== undefined && m.source !== undefined && backup.type === m.type
  && (normalizePath(m.source) === normalizePath(backup.source) || (m.type === 'bind' && normalizePath(m.source).startsWith(`${normalizePath(backup.source)}/`)));

/** The volume or directory, mounted by a backup sidecar (active or in a profile). */
function mountedByBackup(m: Mount, owner: ServiceModel, ctx: CheckContext): boolean {
  return rawServices(ctx).some((o) => o.name !== owner.name && (isBackupTool(o) || o.xBackupVolume) && o.volumes.some((x) => covers(x, m)));
}

/** A dump job (active or in a backup profile) that names this datastore as its host, depends on it, or shares its volume. */
function dumpedBy(db: ServiceModel, ctx: CheckContext): boolean {
  const host = new RegExp(`(^|[\\s=@/:'"])${db.name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}([\\s:/'"]|$)`);
  return rawServices(ctx).some((o) => o.name !== db.name && isBackupTool(o)
    && (o.dependsOn.includes(db.name) || host.test([...o.env, o.words].join(' ')) || o.volumes.some((x) => mounts(db).some((y) => covers(x, y)))));
}

// ── secrets: which variables hold one ───────────────────────────────────────────────
const SECRET_KEY = /(PASSWORD|PASSWD|PASS$|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|ACCESS_?KEY|CREDENTIALS?|MASTER_?KEY|APP_KEY|(ENCRYPTION|SIGNING|DES|HMAC|JWT|SESSION|COOKIE|CSRF|AES|CIPHER|PRIMARY|DETERMINISTIC|LICENSE|SERVER)_?KEY|KEY_DERIVATION_SALT|_SALT|SECRET_KEY_BASE)(_|$)/i;
/** Settings about passwords, not passwords: policies, algorithms, switches, paths. */
const POLICY_KEY = /(MIN|MAX)_?(LENGTH|LEN|AGE)|LENGTH$|COMPLEXITY|HASH_?ALGO(RITHM)?|ALGORITHM|POLICY|EXPIR|_TTL$|LIFETIME|ROUNDS|ITERATIONS|_COST$|STRENGTH|_REQUIRED?$|_ENABLED?$|_DISABLED?$|_RESET|_PROMPT|_AUTH_METHOD$|_HEADER$|_FIELD$|_PATH$|_DIR$|_FORMAT$|_TYPE$|_MODE$|_PROVIDER$|_BACKEND$|_LOCATION$|_ENDPOINT$|_LOGIN$|_HINT$|_LABEL$|_NAME$|_ID$|_USER(NAME)?$|_HOST$|_PORT$|_FILE$/i;
const NOT_A_SECRET_VALUE = /^(true|false|yes|no|on|off|0|1|none|null|bcrypt|argon2(i|d|id)?|scrypt|pbkdf2(_sha\d+)?|sha-?(1|256|512)|md5|plain|plaintext|disabled|enabled|required|optional|strong|medium|weak|low|high)$/i;
/** A password inside a connection URL (`scheme://user:pass@host`, `redis://:pass@host`). */
const URL_CREDENTIALS = /^[a-z][a-z0-9+.-]*:\/\/[^/:@\s]*:[^@\s/]+@/i;

/** "a secret" or "a password inside a URL" when the variable holds one in plain text; undefined otherwise. */
function secretKind(key: string, value: string | null): string | undefined {
  if (value === null || value === '' || /_FILE$/i.test(key) || value.startsWith('/run/secrets/')) return undefined;
  if (URL_CREDENTIALS.test(value)) return 'a password inside a URL';
  if (!SECRET_KEY.test(key) || POLICY_KEY.test(key) || NOT_A_SECRET_VALUE.test(value.trim())) return undefined;
  return 'a secret';
}

const inComposeEnvironment = (s: ServiceModel, key: string) => {
  const env = s.raw.environment;
  return Array.isArray(env) ? env.some((e) => String(e) === key || String(e).startsWith(`${key}=`)) : env !== null && typeof env === 'object' && key in env;
};

/** Where an env_file of the service sets `key` (the last file wins, as Compose reads them). */
function envFileLocation(s: ServiceModel, key: string, ctx: CheckContext): SourceLocation | undefined {
  const refs = asArray(s.raw.env_file).map((r) => String(r && typeof r === 'object' ? (r as { path?: unknown }).path : r));
  for (const ref of refs.reverse()) {
    const file = ref.startsWith('/') ? ref : `${ctx.project.workingDir.replace(/\/$/, '')}/${ref.replace(/^\.\//, '')}`;
    const lines = (ctx.read(file) ?? '').split('\n');
    const line = lines.findIndex((l) => new RegExp(`^\\s*(export\\s+)?${key}\\s*=`).test(l));
    if (line >= 0) return { file, line: line + 1, column: 1 };
  }
  return undefined;
}

const has = (s: ServiceModel, key: string) => s.raw[key] !== undefined && s.raw[key] !== null;
const securityOpts = (s: ServiceModel) => asArray(s.raw.security_opt).map((o) => String(o).replace(/\s+/g, ''));

export const composeRules: ComposeRule[] = [
  // ── compose validity ─────────────────────────────────────────────────────────────
  {
    id: 'compose-refused', family: 'validity', severity: 'error', scope: 'compose',
    title: 'Compose accepts the project',
    rationale: 'Compose refuses a project with, for example, container_name on a service with several replicas, or a reference to an undefined network, volume or service: `up` and every deploy fail before anything starts. berth reports it here and lints the rest.',
    advice: 'Fix what the message says (drop container_name or the replicas, define the network, ...).',
    check: (ctx) => (ctx.project.refusals ?? []).map((r) => ({ message: r.message, path: r.path, ...(r.path[0] === 'services' && typeof r.path[1] === 'string' ? { service: r.path[1] } : {}) })),
  },
  // ── process lifecycle ────────────────────────────────────────────────────────────
  {
    id: 'init', family: 'lifecycle', severity: 'warning', scope: 'compose', fixable: true,
    title: 'Run an init as PID 1',
    rationale: 'Without an init, the app is PID 1: the kernel gives it no default signal handlers and nobody reaps zombie processes, so SIGTERM may be ignored and the container is SIGKILLed after the grace period.',
    advice: 'Set `init: true` (Docker runs tini as PID 1), or use tini/dumb-init as the image ENTRYPOINT.',
    check: longRunning((s, ctx) => {
      if (s.init === true || isSocketProxy(s)) return;
      const init = bringsInit(s, ctx);
      if (init) return;
      return { message: `service "${s.name}" runs without an init (init: true)${init === undefined ? `; whether its image brings one is not checked${notChecked(imageFacts(s, ctx))}` : ''}`, path: s.init === false ? svc(s.name, 'init') : svc(s.name), fix: s.init === false ? { kind: 'replace-scalar', path: svc(s.name, 'init'), value: true } : { kind: 'add-key', path: svc(s.name), key: 'init', value: true } };
    }),
  },
  {
    id: 'init-double', family: 'lifecycle', severity: 'info', scope: 'compose',
    title: 'One init is enough',
    rationale: 'With `init: true` and tini/dumb-init as the image ENTRYPOINT, two inits run; harmless but confusing, and tini warns that it is not PID 1.',
    advice: 'Keep one: drop `init: true` or drop tini from the ENTRYPOINT.',
    check: eachService((s, ctx) => (s.init === true && bringsInit(s, ctx) ? { message: `service "${s.name}" sets init: true and its image already runs an init in ENTRYPOINT`, path: svc(s.name, 'init') } : undefined)),
  },
  {
    id: 'stop-grace-period', family: 'lifecycle', severity: 'error', scope: 'compose', fixable: true,
    title: 'stop_grace_period must outlast the app\'s shutdown deadline',
    rationale: 'Docker sends SIGTERM, waits stop_grace_period (default 10s), then SIGKILLs. If the app needs longer to drain (its own deadline, x-berth shutdown_deadline), in-flight requests are cut off.',
    advice: 'Set stop_grace_period a few seconds above the app\'s shutdown deadline (e.g. deadline 25s → stop_grace_period: 30s).',
    check: longRunning((s) => {
      const deadline = s.berth.shutdownDeadlineMs;
      if (deadline === undefined) return;
      if (s.stopGracePeriodMs > deadline) return;
      const want = `${Math.ceil((deadline + 5000) / 1000)}s`;
      const explicit = has(s, 'stop_grace_period');
      return {
        message: `service "${s.name}": stop_grace_period ${formatDuration(s.stopGracePeriodMs)}${explicit ? '' : ' (default)'} does not exceed its shutdown deadline ${formatDuration(deadline)}`,
        path: explicit ? svc(s.name, 'stop_grace_period') : svc(s.name),
        fix: explicit ? { kind: 'replace-scalar', path: svc(s.name, 'stop_grace_period'), value: want } : { kind: 'add-key', path: svc(s.name), key: 'stop_grace_period', value: want },
      };
    }),
  },
  {
    id: 'stop-grace-period-default', family: 'lifecycle', severity: 'info', scope: 'compose',
    title: 'Choose a stop_grace_period for web services and workers',
    rationale: 'The default 10s is often too short to drain long requests and close connections (the reference recommends 30s for web apps), and too short for a worker (Sidekiq, Celery, a queue consumer) or a game server to finish its job or save its state: it is SIGKILLed mid-way.',
    advice: 'Set `stop_grace_period: 30s` on web services and at least the longest job\'s duration on workers (and declare the app\'s deadline as x-berth shutdown_deadline so berth can check them together).',
    check: longRunning((s, ctx) => {
      if (has(s, 'stop_grace_period') || s.berth.shutdownDeadlineMs !== undefined) return;
      const role = isWebService(s, ctx.project) ? 'web service' : workerKind(s, imageFacts(s, ctx));
      return role ? { message: `${role} "${s.name}" uses the default 10s stop_grace_period`, path: svc(s.name) } : undefined;
    }),
  },
  {
    id: 'stop-grace-period-short', family: 'lifecycle', severity: 'warning', scope: 'compose',
    title: 'stop_grace_period of at least 10s',
    rationale: 'A stop_grace_period under Docker\'s default 10s SIGKILLs the service sooner than Docker would: in-flight requests, jobs and a database\'s checkpoint are cut off. The value that counts is the merged one: an interpolation default, an override file or an `extends` child can shorten the base\'s value.',
    advice: 'Raise stop_grace_period to 10s or more (30s for web apps and workers, longer for databases).',
    check: longRunning((s) => {
      if (!has(s, 'stop_grace_period') || !(s.stopGracePeriodMs < 10_000)) return;
      return { message: `service "${s.name}": stop_grace_period ${formatDuration(s.stopGracePeriodMs)} is shorter than Docker's default 10s; it is SIGKILLed before it can shut down`, path: svc(s.name, 'stop_grace_period') };
    }),
  },
  {
    id: 'shell-exec', family: 'lifecycle', severity: 'warning', scope: 'compose',
    title: '`sh -c` must exec the app',
    rationale: 'With `sh -c "..."` the shell is PID 1; it does not forward SIGTERM to the app, which is killed after the grace period instead of shutting down cleanly.',
    advice: 'End the script with `exec your-app ...`, or use exec form without a shell.',
    check: longRunning((s) => (['entrypoint', 'command'] as const).flatMap((key) => {
      const cmd = commandWords(s.raw[key]);
      const script = cmd && shellScript(cmd.words);
      if (script === undefined || scriptExecs(script)) return [];
      // `sh -c 'one command'` without shell syntax: sh execs it itself (dash/bash optimise the last command) — still flag loops and lists.
      if (!/[;&|\n]|\bwhile\b|\bfor\b|\bif\b|\$\(/.test(script)) return [];
      return [{ message: `service "${s.name}": ${key} runs a shell script that does not exec the app; the shell stays PID 1 and swallows SIGTERM`, path: svc(s.name, key) }];
    })),
  },
  {
    id: 'string-command-shell-syntax', family: 'lifecycle', severity: 'warning', scope: 'compose',
    title: 'String commands are split, not run by a shell',
    rationale: 'Compose splits a string command into words; `&&`, `|`, `;`, `$(...)` and redirections are passed as literal arguments, not interpreted.',
    advice: 'Use exec form (a list) for one program; if you need a shell, write `["sh", "-c", "... && exec app"]`.',
    check: eachService((s) => (['entrypoint', 'command'] as const).flatMap((key) => {
      const cmd = commandWords(s.raw[key]);
      if (!cmd?.shell || shellScript(cmd.words) !== undefined) return [];
      const bad = cmd.words.find((w) => /^(&&|\|\||\||;|>|>>|<|2>&1)$/.test(w));
      return bad ? [{ message: `service "${s.name}": ${key} contains shell syntax "${bad}" but is not run by a shell`, path: svc(s.name, key) }] : [];
    })),
  },
  {
    id: 'npm-command', family: 'lifecycle', severity: 'error', scope: 'compose',
    title: 'Do not run the app through npm/yarn/pnpm',
    rationale: 'npm, yarn and pnpm do not forward SIGTERM to the node process reliably; the app never shuts down gracefully and is SIGKILLed.',
    advice: 'Run node directly: `command: ["node", "dist/server.js"]`.',
    check: eachService((s) => (['entrypoint', 'command'] as const).flatMap((key) => {
      const cmd = commandWords(s.raw[key]);
      const script = cmd && shellScript(cmd.words);
      const words = script !== undefined ? script.split(/&&|;|\n/).pop()!.trim().replace(/^exec\s+/, '').split(/\s+/) : cmd?.words ?? [];
      const exe = words[0]?.split('/').pop();
      if (!exe || !isPackageManager(exe)) return [];
      return [{ message: `service "${s.name}": ${key} runs the app through ${exe} (${words.slice(0, 3).join(' ')})`, path: svc(s.name, key) }];
    })),
  },
  {
    id: 'stop-signal', family: 'lifecycle', severity: 'info', scope: 'compose',
    title: 'nginx and php-fpm stop gracefully on SIGQUIT',
    rationale: 'nginx and php-fpm treat SIGTERM as "fast shutdown" and drop open connections; SIGQUIT makes them finish in-flight requests. The official nginx and php-fpm images already set STOPSIGNAL SIGQUIT; berth reads the image (or its table of popular images) before it judges.',
    advice: 'Set `stop_signal: SIGQUIT` on nginx and php-fpm services (or STOPSIGNAL SIGQUIT in their Dockerfile).',
    check: longRunning((s, ctx) => {
      const facts = imageFacts(s, ctx);
      const kind = gracefulOnQuit(s, ctx, facts);
      if (!kind) return;
      const signal = s.stopSignal ?? facts.stopSignal;
      if ((signal ?? '').toUpperCase().replace(/^SIG/, '') === 'QUIT') return;
      const from = s.stopSignal ? '' : facts.stopSignal ? ` (STOPSIGNAL of its image, ${facts.basis})` : facts.checked ? ` (its image sets no STOPSIGNAL: ${facts.basis})` : `; its image's STOPSIGNAL is not checked${notChecked(facts)}`;
      return { message: `service "${s.name}" (${kind}) stops on ${signal ?? 'SIGTERM'}${from}, which drops in-flight requests`, path: s.stopSignal ? svc(s.name, 'stop_signal') : svc(s.name) };
    }),
  },

  // ── rollout readiness ────────────────────────────────────────────────────────────
  {
    id: 'healthcheck', family: 'rollout', severity: 'warning', scope: 'compose',
    title: 'Long-running services need a healthcheck',
    rationale: 'Zero-downtime rollouts wait for the new container to be healthy before removing the old one; depends_on service_healthy needs it too. Without a healthcheck, "running" is all anyone knows.',
    advice: 'Add a healthcheck that probes the app itself (an HTTP /health endpoint, pg_isready, redis-cli ping).',
    check: longRunning((s, ctx) => {
      if (s.healthcheck && !s.healthcheck.disabled) return;
      if (s.healthcheck?.disabled) return { message: `service "${s.name}" disables its healthcheck`, path: svc(s.name, 'healthcheck') };
      const facts = imageFacts(s, ctx);
      if (facts.healthcheck) return;
      const image = facts.healthcheck === false ? `, nor does its image (${facts.basis})` : `; whether its image defines one is not checked${notChecked(facts)}`;
      const waited = Object.values(ctx.project.services).filter((o) => o.dependsOn[s.name]?.condition === 'service_started').map((o) => o.name);
      return { message: `service "${s.name}" has no healthcheck${image}${waited.length ? `; ${waited.map((n) => `"${n}"`).join(', ')} cannot wait for it to be healthy until it has one` : ''}`, path: svc(s.name) };
    }),
  },
  {
    id: 'healthcheck-start-period', family: 'rollout', severity: 'warning', scope: 'compose',
    title: 'Healthchecks need a start_period',
    rationale: 'Without start_period, failed probes during boot count towards retries and a slow-starting container is marked unhealthy (and restarted or rolled back) before it is ready.',
    advice: 'Set healthcheck.start_period to the app\'s worst-case boot time (e.g. 30s).',
    check: longRunning((s) => {
      const hc = s.raw.healthcheck as Record<string, unknown> | undefined;
      if (!hc || s.healthcheck?.disabled || hc.start_period !== undefined) return;
      return { message: `service "${s.name}": healthcheck has no start_period`, path: svc(s.name, 'healthcheck') };
    }),
  },
  {
    id: 'healthcheck-start-interval', family: 'rollout', severity: 'info', scope: 'compose',
    title: 'Probe quickly while starting (start_interval)',
    rationale: 'During start_period, probes run every `interval` (often 30s), so a rollout waits up to a whole interval to learn the new container is healthy. start_interval probes faster while starting (Docker 25+).',
    advice: 'Set healthcheck.start_interval (e.g. 2s–5s) next to start_period.',
    check: longRunning((s) => {
      const hc = s.raw.healthcheck as Record<string, unknown> | undefined;
      if (!hc || s.healthcheck?.disabled || hc.start_interval !== undefined) return;
      return { message: `service "${s.name}": healthcheck has no start_interval`, path: svc(s.name, 'healthcheck') };
    }),
  },
  {
    id: 'traffic-networks', family: 'rollout', severity: 'info', scope: 'compose',
    title: 'Name the network traffic comes through (traffic_networks)',
    rationale: 'A service the reverse proxy reaches on one network, with its own dependencies on another, gets the service name on every network only by a disconnect and reconnect of each (~85 ms apiece on the critical path of a rollout). Named, the new replica starts on the other networks and joins the proxy\'s by one connect once healthy; an unready replica is not even reachable from there.',
    advice: 'Add `x-berth: { rollout: { traffic_networks: [NETWORK] } }` with the network(s) the proxy shares with the service.',
    check: longRunning((s, ctx) => {
      if (s.networkMode || isProxy(s) || datastore(s, ctx) || s.berth.rollout.trafficNetworks) return;
      const mine = Object.keys(s.networks);
      const proxies = Object.values(ctx.project.services).filter((o) => o !== s && isProxy(o));
      const shared = mine.filter((n) => proxies.some((p) => n in p.networks));
      if (shared.length === 0 || shared.length === mine.length) return;
      return { message: `service "${s.name}" is reached by the proxy on ${shared.join(', ')} and also sits on ${mine.filter((n) => !shared.includes(n)).join(', ')}: set x-berth rollout.traffic_networks: [${shared.join(', ')}]`, path: svc(s.name, 'networks') };
    }),
  },
  {
    id: 'proxy-static-upstream', family: 'rollout', severity: 'warning', scope: 'compose',
    title: 'The proxy re-resolves the service name (nginx, HAProxy)',
    rationale: 'nginx resolves a literal `proxy_pass http://app:3000` (or an `upstream` server without `resolve`) once, at start; HAProxy a `server` without `resolvers` likewise. After any rollout or recreate the replicas have new addresses and every request fails until the proxy is reloaded.',
    advice: 'nginx: `resolver 127.0.0.11 valid=1s;` and the URL in a variable (`set $app http://app:3000; proxy_pass $app;`). HAProxy: a `resolvers` section on 127.0.0.11:53 and `server-template app 10 app:3000 check resolvers docker init-addr none`. See docs/proxies.md.',
    check: (ctx) => ctx.proxyConfigs.flatMap((c) => staticUpstreams(c, serviceNames(ctx.project, c.service)).map((i) => ({
      service: c.service,
      location: { file: c.file, line: i.line, column: 1 },
      message: `${c.kind} (service "${c.service}") resolves "${i.host}" only once, at start: after a rollout it keeps the old replicas' addresses`,
    }))),
  },
  {
    id: 'proxy-connect-timeout', family: 'rollout', severity: 'warning', scope: 'compose',
    title: 'Proxy connect timeout above 1 s',
    rationale: 'A replica leaving DNS is reconnected to its network and answers nothing for ~50 ms. A connect the proxy opens then is answered on the SYN\'s retransmit, 1 s later; with a connect timeout of 1 s or less the proxy gives up first and returns 504 (measured with nginx).',
    advice: 'nginx `proxy_connect_timeout 3s;` (the default is 60s); HAProxy `timeout connect 3s`.',
    check: (ctx) => ctx.proxyConfigs.flatMap((c) => shortConnectTimeouts(c).map((i) => ({
      service: c.service,
      location: { file: c.file, line: i.line, column: 1 },
      message: `${c.kind} (service "${c.service}") gives up connecting after ${formatDuration(i.timeoutMs!)}: a connect into a replica's reconnect while it leaves DNS needs just over 1 s`,
    }))),
  },
  {
    id: 'container-name', family: 'rollout', severity: 'warning', scope: 'compose',
    title: 'No container_name on services you roll out',
    rationale: 'A fixed container_name means only one container of the service can exist: scale-up rollouts (old and new side by side) are impossible.',
    advice: 'Remove container_name; address the service by its name on the network.',
    check: longRunning((s, ctx) => {
      if (s.containerName === undefined || datastore(s, ctx) || requiresContainerName(s)) return;
      // A comment on (or above) the line saying the name is required documents the exception.
      return { message: `service "${s.name}" sets container_name "${s.containerName}", which prevents running two replicas during a rollout`, path: svc(s.name, 'container_name'), unlessComment: /\b(required|must|not allowed|do not (change|rename|remove)|don't (change|rename|remove)|needs? (this|the) name|fixed name)\b/i };
    }),
  },
  {
    id: 'fixed-host-port', family: 'rollout', severity: 'warning', scope: 'compose',
    title: 'Web services should not publish fixed host ports',
    rationale: 'A fixed host port can be bound by one container only: the new replica of a rollout cannot start while the old one holds it.',
    advice: 'Put the service behind the reverse proxy and drop `ports`, or publish on 127.0.0.1 with an ephemeral port (`127.0.0.1::3000`).',
    check: longRunning((s, ctx) => {
      // A service whose image requires a fixed container_name is never rolled out side by side.
      if (!isWebService(s, ctx.project) || requiresContainerName(s)) return;
      return s.ports.flatMap((p, i) => (p.published !== undefined && p.published !== '' && p.published !== '0' && !isPublicByDesign(s, p.target) ? [{ message: `web service "${s.name}" publishes fixed host port ${p.published}->${p.target}`, path: svc(s.name, 'ports', i) }] : []));
    }),
  },
  {
    id: 'restart-policy', family: 'rollout', severity: 'warning', scope: 'compose', fixable: true,
    title: 'restart: unless-stopped',
    rationale: 'Without a restart policy a crashed service stays down and nothing comes back after a reboot; `always` also restarts containers you stopped on purpose (e.g. an old replica during a rollout) when the daemon restarts.',
    advice: 'Set `restart: unless-stopped` on long-running services.',
    check: longRunning((s) => {
      if (s.restart === undefined) return { message: `service "${s.name}" has no restart policy`, path: svc(s.name), fix: { kind: 'add-key', path: svc(s.name), key: 'restart', value: 'unless-stopped' } };
      if (s.restart === 'always' || s.restart === 'no') return { message: `service "${s.name}" uses restart: ${s.restart}`, path: svc(s.name, 'restart'), fix: { kind: 'replace-scalar', path: svc(s.name, 'restart'), value: 'unless-stopped' } };
      return undefined;
    }),
  },

  // ── socket safety ────────────────────────────────────────────────────────────────
  {
    id: 'docker-socket', family: 'socket', severity: 'error', scope: 'compose',
    title: 'Do not mount the Docker socket',
    rationale: 'The Docker socket is root on the host: anyone who controls the container can start a privileged container. `:ro` does not help — the API is still fully usable.',
    advice: 'Give the service a socket proxy (tecnativa/docker-socket-proxy with POST=0 on an internal network) instead of the socket.',
    check: eachService((s) => (isSocketProxy(s) || isTraefik(s) ? [] : mounts(s).filter((m) => m.type === 'bind' && (isDockerSocket(m.source) || /^\/(var\/)?run\/?$/.test(m.source ?? ''))).map((m) => ({ message: isDockerSocket(m.source) ? `service "${s.name}" mounts the Docker socket (${m.source})${m.readOnly ? '; :ro does not make the API read-only' : ''}` : `service "${s.name}" mounts ${m.source}, which contains the Docker socket`, path: svc(s.name, 'volumes', m.index) })))),
  },
  {
    id: 'traefik-socket', family: 'socket', severity: 'error', scope: 'compose',
    title: 'Traefik talks to a socket proxy, not the socket',
    rationale: 'Traefik is internet-facing; a compromise of it with the Docker socket mounted is root on the host.',
    advice: 'Run a socket proxy (CONTAINERS=1, NETWORKS=1, POST=0) on an internal network and set `--providers.docker.endpoint=tcp://socket-proxy:2375`.',
    check: eachService((s) => (isTraefik(s) ? mounts(s).filter((m) => isDockerSocket(m.source)).map((m) => ({ message: `Traefik service "${s.name}" mounts the Docker socket directly`, path: svc(s.name, 'volumes', m.index) })) : [])),
  },
  {
    id: 'use-api-socket', family: 'socket', severity: 'error', scope: 'compose',
    title: 'No use_api_socket',
    rationale: '`use_api_socket: true` mounts the engine API socket (and your registry credentials) into the container: root on the host.',
    advice: 'Remove use_api_socket; use a socket proxy with only the endpoints the service needs.',
    check: eachService((s) => (isTruthy(s.raw.use_api_socket) ? { message: `service "${s.name}" sets use_api_socket`, path: svc(s.name, 'use_api_socket') } : undefined)),
  },
  {
    id: 'socket-proxy-post', family: 'socket', severity: 'error', scope: 'compose',
    title: 'Socket proxy is read-only (POST=0)',
    rationale: 'With POST enabled the proxy forwards write calls (create/start containers, exec): the proxy no longer limits what a compromised client can do.',
    advice: 'Set POST: 0 and enable only the read sections the client needs (CONTAINERS, NETWORKS for Traefik).',
    check: eachService((s) => {
      if (!isSocketProxy(s)) return;
      const hits: RuleHit[] = [];
      if (isTruthy(s.environment.POST)) hits.push({ message: `socket proxy "${s.name}" allows POST (write) requests`, path: svc(s.name, 'environment', 'POST') });
      for (const key of ['EXEC', 'BUILD', 'COMMIT', 'SECRETS', 'SWARM', 'ALLOW_START', 'ALLOW_STOP', 'ALLOW_RESTARTS']) if (isTruthy(s.environment[key])) hits.push({ message: `socket proxy "${s.name}" enables ${key}`, path: svc(s.name, 'environment', key) });
      return hits;
    }),
  },
  {
    id: 'socket-proxy-network', family: 'socket', severity: 'error', scope: 'compose',
    title: 'Socket proxy only on an internal network',
    rationale: 'The socket proxy speaks the Docker API unauthenticated; it must be reachable only by its clients, on a network with `internal: true`, and never published.',
    advice: 'Attach the proxy to one network with `internal: true` shared only with its clients; remove its `ports`.',
    check: eachService((s, ctx) => {
      if (!isSocketProxy(s)) return;
      const hits: RuleHit[] = s.ports.map((p, i) => ({ message: `socket proxy "${s.name}" publishes port ${p.published ?? ''}:${p.target}`, path: svc(s.name, 'ports', i) }));
      if (s.networkMode === 'host') hits.push({ message: `socket proxy "${s.name}" uses the host network`, path: svc(s.name, 'network_mode') });
      for (const n of Object.keys(s.networks)) if (!isInternalNetwork(ctx.project, n)) hits.push({ message: `socket proxy "${s.name}" is on network "${n}", which is not internal`, path: Array.isArray(s.raw.networks) ? svc(s.name, 'networks', (s.raw.networks as string[]).indexOf(n)) : s.raw.networks ? svc(s.name, 'networks', n) : svc(s.name) });
      return hits;
    }),
  },
  {
    id: 'traefik-exposed-by-default', family: 'socket', severity: 'warning', scope: 'compose',
    title: 'Traefik: exposedByDefault=false',
    rationale: 'By default Traefik creates routes for every container it can see, including databases and admin tools.',
    advice: 'Pass `--providers.docker.exposedByDefault=false` and opt services in with `traefik.enable=true`.',
    check: eachService((s) => {
      if (!isTraefik(s)) return;
      const args = commandWords(s.raw.command)?.words ?? [];
      if (!args.some((a) => /^--providers\.docker(=true)?$|^--providers\.docker\./i.test(a))) return;
      if (args.some((a) => /^--providers\.docker\.exposedbydefault=false$/i.test(a))) return;
      return { message: `Traefik service "${s.name}" exposes every container by default`, path: svc(s.name, 'command') };
    }),
  },

  // ── hardening ────────────────────────────────────────────────────────────────────
  {
    id: 'read-only', family: 'hardening', severity: 'info', scope: 'compose',
    title: 'Read-only root filesystem',
    rationale: 'A read-only root filesystem stops an attacker (or a bug) from modifying the app\'s files or dropping tools into the container.',
    advice: 'Set `read_only: true` and give writable paths a tmpfs (`tmpfs: [/tmp]`) or a volume.',
    check: longRunning((s) => (s.raw.read_only === true ? undefined : { message: `service "${s.name}" has a writable root filesystem`, path: has(s, 'read_only') ? svc(s.name, 'read_only') : svc(s.name) })),
  },
  {
    id: 'read-only-tmpfs', family: 'hardening', severity: 'info', scope: 'compose',
    title: 'read_only with a tmpfs for scratch space',
    rationale: 'Most programs write to /tmp; with a read-only root and no tmpfs they fail at runtime, often only on a rare code path.',
    advice: 'Add `tmpfs: ["/tmp:noexec,nosuid,size=64m"]` (and /run if the image needs it).',
    check: longRunning((s) => (s.raw.read_only === true && s.raw.tmpfs === undefined && !mounts(s).some((m) => m.target === '/tmp' || m.type === 'tmpfs') ? { message: `service "${s.name}" is read_only without a tmpfs for /tmp`, path: svc(s.name, 'read_only') } : undefined)),
  },
  {
    id: 'cap-drop-all', family: 'hardening', severity: 'warning', scope: 'compose',
    title: 'Drop all capabilities',
    rationale: 'Containers get a default set of Linux capabilities (CHOWN, SETUID, NET_RAW, ...) that most apps never use and attackers like.',
    advice: 'Set `cap_drop: [ALL]` and add back only what is needed with cap_add (e.g. NET_BIND_SERVICE).',
    check: longRunning((s) => (asArray(s.raw.cap_drop).some((c) => String(c).toUpperCase() === 'ALL') ? undefined : { message: `service "${s.name}" does not drop capabilities (cap_drop: [ALL])`, path: has(s, 'cap_drop') ? svc(s.name, 'cap_drop') : svc(s.name) })),
  },
  {
    id: 'cap-add-dangerous', family: 'hardening', severity: 'error', scope: 'compose',
    title: 'No dangerous capabilities',
    rationale: 'SYS_ADMIN, SYS_MODULE, SYS_PTRACE, NET_ADMIN, DAC_READ_SEARCH or ALL give a container near-root powers over the host.',
    advice: 'Remove the capability; if truly needed, isolate the service and document why.',
    check: eachService((s) => asArray(s.raw.cap_add).flatMap((c, i) => (/^(CAP_)?(ALL|SYS_ADMIN|SYS_MODULE|SYS_RAWIO|SYS_PTRACE|NET_ADMIN|DAC_READ_SEARCH|SYS_BOOT|BPF|PERFMON)$/i.test(String(c)) ? [{ message: `service "${s.name}" adds capability ${c}`, path: svc(s.name, 'cap_add', i) }] : []))),
  },
  {
    id: 'no-new-privileges', family: 'hardening', severity: 'warning', scope: 'compose', fixable: true,
    title: 'no-new-privileges',
    rationale: 'Without it, setuid binaries in the image can raise a process\'s privileges inside the container.',
    advice: 'Add `security_opt: ["no-new-privileges:true"]`.',
    check: longRunning((s) => {
      if (securityOpts(s).some((o) => /^no-new-privileges(:true|=true)?$/.test(o))) return;
      const existing = Array.isArray(s.raw.security_opt);
      return { message: `service "${s.name}" does not set no-new-privileges`, path: existing ? svc(s.name, 'security_opt') : svc(s.name), fix: { kind: 'append-item', path: svc(s.name, 'security_opt'), value: 'no-new-privileges:true' } };
    }),
  },
  {
    id: 'unconfined-profile', family: 'hardening', severity: 'error', scope: 'compose',
    title: 'Keep seccomp and AppArmor on',
    rationale: 'seccomp:unconfined / apparmor:unconfined removes the syscall filter and MAC profile that contain container escapes.',
    advice: 'Remove the unconfined security_opt; write a custom profile if the default blocks something.',
    check: eachService((s) => securityOpts(s).flatMap((o, i) => (/^(seccomp|apparmor)[:=]unconfined$/.test(o) ? [{ message: `service "${s.name}" runs with ${o}`, path: svc(s.name, 'security_opt', i) }] : []))),
  },
  {
    id: 'user', family: 'hardening', severity: 'warning', scope: 'compose',
    title: 'Run as a non-root user',
    rationale: 'Root in the container is root on the host when anything goes wrong (a kernel bug, a mounted path, a misconfigured socket).',
    advice: 'Set `user: "1000:1000"` (or the image\'s unprivileged user), or USER in the Dockerfile.',
    check: longRunning((s, ctx) => {
      const user = s.raw.user === undefined ? undefined : String(s.raw.user);
      if (user !== undefined) return /^(root|0)(:.*)?$/.test(user) ? { message: `service "${s.name}" runs as root (user: ${user})`, path: svc(s.name, 'user') } : undefined;
      if (isSocketProxy(s) || datastore(s, ctx)) return; // these images drop privileges themselves
      const facts = imageFacts(s, ctx);
      if (facts.nonRootUser) return;
      return { message: `service "${s.name}" sets no user; it runs as the image's default user${facts.nonRootUser === false ? ` (root, per ${facts.basis})` : `, root for most images; not checked${notChecked(facts)}`}`, path: svc(s.name) };
    }),
  },
  {
    id: 'privileged', family: 'hardening', severity: 'error', scope: 'compose',
    title: 'No privileged containers',
    rationale: 'privileged: true gives the container every capability and all host devices: it is root on the host.',
    advice: 'Remove privileged; grant the one capability or device actually needed.',
    check: eachService((s) => (s.raw.privileged === true ? { message: `service "${s.name}" is privileged`, path: svc(s.name, 'privileged') } : undefined)),
  },
  {
    id: 'host-namespaces', family: 'hardening', severity: 'error', scope: 'compose',
    title: 'No host namespaces',
    rationale: 'network_mode/pid/ipc/uts/userns_mode: host share the host\'s namespace: the container sees host processes or binds host interfaces directly (bypassing the firewall rules for published ports).',
    advice: 'Remove the host namespace setting; publish ports or use a network instead.',
    check: eachService((s) => (['network_mode', 'pid', 'ipc', 'uts', 'userns_mode', 'cgroup'] as const).flatMap((k) => (s.raw[k] === 'host' ? [{ message: `service "${s.name}" uses the host ${k.replace(/_mode$/, '')} namespace (${k}: host)`, path: svc(s.name, k) }] : []))),
  },
  {
    id: 'devices', family: 'hardening', severity: 'warning', scope: 'compose',
    title: 'Avoid host devices',
    rationale: 'A host device in the container is a direct line to kernel drivers; some (block devices, /dev/mem) are a full escape.',
    advice: 'Remove devices unless the service needs the hardware (GPU, serial); document why when it does.',
    check: eachService((s) => asArray(s.raw.devices).map((d, i) => ({ message: `service "${s.name}" maps host device ${typeof d === 'string' ? d.split(':')[0] : JSON.stringify(d)}`, path: svc(s.name, 'devices', i) }))),
  },
  {
    id: 'sensitive-host-mount', family: 'hardening', severity: 'warning', scope: 'compose',
    title: 'No writable mounts of host system paths',
    rationale: 'Writable binds of /, /etc, /root, /var/lib/docker, /proc or /sys let the container change the host.',
    advice: 'Mount only the files needed, read-only (`:ro`).',
    check: eachService((s) => mounts(s).filter((m) => m.type === 'bind' && !m.readOnly && /^\/(etc|root|boot|proc|sys|var\/lib\/docker|usr|lib|bin|sbin|dev)?\/?$/.test(m.source ?? '')).map((m) => ({ message: `service "${s.name}" mounts host path ${m.source} writable`, path: svc(s.name, 'volumes', m.index) }))),
  },

  // ── resources ────────────────────────────────────────────────────────────────────
  {
    id: 'memory-limit', family: 'resources', severity: 'warning', scope: 'compose',
    title: 'Set a memory limit',
    rationale: 'Without a limit one leaking service can exhaust the host\'s memory; the OOM killer then picks a victim — maybe your database.',
    advice: 'Set `deploy.resources.limits.memory` (e.g. 512M) or `mem_limit`.',
    check: longRunning((s) => (deployLimits(s).memory === undefined && s.raw.mem_limit === undefined ? { message: `service "${s.name}" has no memory limit`, path: svc(s.name) } : undefined)),
  },
  {
    id: 'cpu-limit', family: 'resources', severity: 'info', scope: 'compose',
    title: 'Set a CPU limit',
    rationale: 'A runaway service can starve everything else on a single server, including the proxy and the database.',
    advice: 'Set `deploy.resources.limits.cpus` (e.g. "0.5") or `cpus`.',
    check: longRunning((s) => (deployLimits(s).cpus === undefined && s.raw.cpus === undefined ? { message: `service "${s.name}" has no CPU limit`, path: svc(s.name) } : undefined)),
  },
  {
    id: 'pids-limit', family: 'resources', severity: 'info', scope: 'compose',
    title: 'Set a pids limit',
    rationale: 'A fork bomb or thread leak in one container can exhaust the host\'s process table.',
    advice: 'Set `pids_limit` (e.g. 200) or `deploy.resources.limits.pids`.',
    check: longRunning((s) => (deployLimits(s).pids === undefined && s.raw.pids_limit === undefined ? { message: `service "${s.name}" has no pids limit`, path: svc(s.name) } : undefined)),
  },

  // ── logging ──────────────────────────────────────────────────────────────────────
  {
    id: 'log-rotation', family: 'logging', severity: 'warning', scope: 'compose', fixable: true,
    title: 'Rotate container logs',
    rationale: 'The default json-file driver keeps logs forever: a chatty service fills the disk and takes the host down.',
    advice: 'Set `logging: {driver: json-file, options: {max-size: "10m", max-file: "5"}}` (or use the `local` driver, or set log-opts in /etc/docker/daemon.json — berth check host reads those).',
    check: longRunning((s) => {
      const logging = s.raw.logging as Record<string, unknown> | undefined;
      if (!logging) return { message: `service "${s.name}" has no log rotation (logging.options max-size/max-file) unless the daemon sets log-opts`, path: svc(s.name), fix: { kind: 'add-key', path: svc(s.name), key: 'logging', value: { driver: 'json-file', options: { 'max-size': '10m', 'max-file': '5' } } } };
      const driver = String(logging.driver ?? 'json-file');
      if (driver !== 'json-file') return;
      const options = (logging.options ?? {}) as Record<string, unknown>;
      const defaults: Record<string, string> = { 'max-size': '10m', 'max-file': '5' };
      const missing = Object.keys(defaults).filter((k) => options[k] === undefined);
      if (!missing.length) return undefined;
      const fix: FixIntent[] = logging.options && typeof logging.options === 'object'
        ? missing.map((k) => ({ kind: 'add-key', path: svc(s.name, 'logging', 'options'), key: k, value: defaults[k] }))
        : [{ kind: 'add-key', path: svc(s.name, 'logging'), key: 'options', value: Object.fromEntries(missing.map((k) => [k, defaults[k]])) }];
      return { message: `service "${s.name}": json-file logging without ${missing.join(' and ')}`, path: svc(s.name, 'logging'), fix };
    }),
  },

  // ── secrets ──────────────────────────────────────────────────────────────────────
  {
    id: 'plaintext-secret', family: 'secrets', severity: 'error', scope: 'compose',
    title: 'No plaintext secrets in environment',
    rationale: 'Environment values are visible to anyone who can run `docker inspect`, end up in logs and crash reports, and are inherited by every child process. Secrets hide behind many names (ENCRYPTION_KEY, SECRET_KEY_BASE, *_SIGNING_KEY, a password inside a connection URL); password policy settings (PASSWORD_MIN_LENGTH) are not secrets.',
    advice: 'Use compose `secrets:` and the image\'s `_FILE` variables (POSTGRES_PASSWORD_FILE=/run/secrets/db_password).',
    check: eachService((s, ctx) => Object.entries(s.environment).flatMap(([k, v]): RuleHit[] => {
      const kind = secretKind(k, v);
      if (!kind) return [];
      const hit = { message: `service "${s.name}": ${k} holds ${kind} in plain text` };
      if (!inComposeEnvironment(s, k)) {
        const location = envFileLocation(s, k, ctx);
        if (location) return [{ ...hit, location, message: `${hit.message} (from env_file ${location.file.split('/').pop()})` }];
      }
      return [{ ...hit, path: svc(s.name, 'environment', Array.isArray(s.raw.environment) ? (s.raw.environment as string[]).findIndex((e) => String(e).startsWith(`${k}=`)) : k) }];
    })),
  },
  {
    id: 'datastore-no-auth', family: 'secrets', severity: 'error', scope: 'compose',
    title: 'Databases require a password',
    rationale: 'POSTGRES_HOST_AUTH_METHOD=trust, a pgbouncer with AUTH_TYPE trust, or MYSQL_ALLOW_EMPTY_PASSWORD let anyone who reaches the port in without a password: every container on the network, and the internet if the port is ever published.',
    advice: 'Remove the trust / empty-password setting and give the database a password from a secret (POSTGRES_PASSWORD_FILE=/run/secrets/db_password).',
    check: eachService((s) => Object.entries(s.environment).flatMap(([k, v]) => {
      const value = (v ?? '').trim();
      const trust = (/^(POSTGRES_HOST_AUTH_METHOD|(PGBOUNCER_)?AUTH_TYPE|POSTGRESQL_(PGHBA_)?AUTH_METHOD)$/.test(k) && /^trust$/i.test(value))
        || (/^(POSTGRES_INITDB_ARGS)$/.test(k) && /--auth(-host|-local)?=trust\b/.test(value))
        || (/^(MYSQL_ALLOW_EMPTY_PASSWORD|MARIADB_ALLOW_EMPTY_ROOT_PASSWORD|MARIADB_ALLOW_EMPTY_PASSWORD|ALLOW_EMPTY_PASSWORD)$/.test(k) && isTruthy(value));
      return trust ? [{ message: `service "${s.name}": ${k}=${value} lets clients in without a password`, path: svc(s.name, 'environment', Array.isArray(s.raw.environment) ? (s.raw.environment as string[]).findIndex((e) => String(e).startsWith(`${k}=`)) : k) }] : [];
    })),
  },
  {
    id: 'secret-file-reference', family: 'secrets', severity: 'error', scope: 'compose',
    title: '_FILE variables point at mounted secrets',
    rationale: 'A *_FILE variable naming /run/secrets/X when the service does not list secret X makes the app fail at startup (or silently fall back to a default password).',
    advice: 'Add the secret to the service\'s `secrets:` and define it at the top level.',
    check: eachService((s, ctx) => {
      const listed = new Set(asArray(s.raw.secrets).map((x) => (typeof x === 'string' ? x : String((x as { target?: string; source?: string }).target ?? (x as { source?: string }).source))));
      const defined = new Set(Object.keys((ctx.project.model.secrets ?? {}) as Record<string, unknown>));
      return Object.entries(s.environment).flatMap(([k, v]): RuleHit[] => {
        const m = /^\/run\/secrets\/([^/]+)$/.exec(v ?? '');
        if (!m || !/_FILE$/.test(k)) return [];
        if (listed.has(m[1]!)) return [];
        const message = `service "${s.name}": ${k} points at secret "${m[1]}", which the service does not mount${defined.has(m[1]!) ? '' : ' (nor is it defined at the top level)'}`;
        const location = inComposeEnvironment(s, k) ? undefined : envFileLocation(s, k, ctx);
        if (location) return [{ message, location }];
        return [{ message, path: svc(s.name, 'environment', Array.isArray(s.raw.environment) ? (s.raw.environment as string[]).findIndex((e) => String(e).startsWith(`${k}=`)) : k) }];
      });
    }),
  },

  // ── images ───────────────────────────────────────────────────────────────────────
  {
    id: 'image-tag', family: 'images', severity: 'warning', scope: 'compose',
    title: 'Pin image tags (no latest, no floating tag)',
    rationale: '`latest`, no tag, or a tag without a version number (`postgres:alpine`, `nextcloud:apache`, `:stable`, `:nightly`, `node:lts`) means a pull or a host rebuild silently changes what runs; rollbacks cannot name the previous version. A service with `build:` is no exception: `compose pull` fetches its `image:` from the registry.',
    advice: 'Use an explicit version tag (postgres:17.2-alpine), ideally with a digest; for an image you only build, tag it with your version or set `pull_policy: build`.',
    check: eachService((s) => {
      if (!s.image) return;
      const ref = imageRef(s.image)!;
      if (ref.digest || !isFloatingTag(ref.tag)) return;
      if (s.hasBuild && /^(build|never)$/.test(String(s.raw.pull_policy ?? ''))) return;
      const tag = ref.tag === undefined || ref.tag === '' ? 'has no tag (latest)' : ref.tag === 'latest' ? 'uses latest' : `uses the floating tag "${ref.tag}" (no version number)`;
      return { message: `service "${s.name}": image ${s.image} ${tag}${s.hasBuild ? '; the service builds it, but `compose pull` still fetches that tag from the registry' : ''}`, path: svc(s.name, 'image') };
    }),
  },
  {
    id: 'image-digest', family: 'images', severity: 'info', scope: 'compose',
    title: 'Pin images by digest',
    rationale: 'Tags are mutable: the registry can move `17-alpine` under you. A digest pins the exact bytes you tested.',
    advice: 'Append the digest: `postgres:17-alpine@sha256:...` (tools such as Renovate keep it updated).',
    check: eachService((s) => {
      if (!s.image || s.hasBuild) return;
      const ref = imageRef(s.image)!;
      if (ref.digest || isFloatingTag(ref.tag)) return; // image-tag says it louder
      return { message: `service "${s.name}": image ${s.image} is not pinned by digest`, path: svc(s.name, 'image') };
    }),
  },

  // ── networks ─────────────────────────────────────────────────────────────────────
  {
    id: 'datastore-internal-network', family: 'networks', severity: 'warning', scope: 'compose',
    title: 'Datastores only on internal networks',
    rationale: 'A database on a non-internal network can reach the internet (exfiltration) and is reachable from every service on that network, including the public proxy.',
    advice: 'Put databases and caches on a backend network with `internal: true`, shared only with the services that use them.',
    check: eachService((s, ctx) => {
      if (!datastore(s, ctx) || s.networkMode) return;
      const open = Object.keys(s.networks).filter((n) => !isInternalNetwork(ctx.project, n));
      if (open.length === 0) return;
      return { message: `datastore "${s.name}" is on ${open.map((n) => `"${n}"`).join(', ')}, not an internal network`, path: s.raw.networks ? svc(s.name, 'networks') : svc(s.name) };
    }),
  },
  {
    id: 'datastore-published-port', family: 'networks', severity: 'error', scope: 'compose',
    title: 'Do not publish datastore ports',
    rationale: 'A published database port is reachable from the internet: Docker\'s published ports bypass ufw/firewalld INPUT rules.',
    advice: 'Remove the port; for admin access bind it to loopback (`127.0.0.1:5432:5432`) and use an SSH tunnel.',
    check: eachService((s, ctx) => (datastore(s, ctx) ? s.ports.flatMap((p, i) => (isLoopback(p.hostIp) ? [] : [{ message: `datastore "${s.name}" publishes port ${p.published ?? '(ephemeral)'}->${p.target} on ${p.hostIp || 'all interfaces'}`, path: svc(s.name, 'ports', i) }])) : [])),
  },
  {
    id: 'port-all-interfaces', family: 'networks', severity: 'warning', scope: 'compose',
    title: 'Bind published ports to an address',
    rationale: 'Ports published without a host IP listen on 0.0.0.0 and are open to the internet even when ufw says otherwise: Docker inserts its own iptables rules before ufw\'s.',
    advice: 'Bind to loopback (`127.0.0.1:8080:8080`) unless the port is meant to be public (the proxy\'s 80/443).',
    check: eachService((s, ctx) => {
      if (datastore(s, ctx)) return []; // datastore-published-port says it louder
      return s.ports.flatMap((p, i) => {
        if (p.hostIp && !/^(0\.0\.0\.0|::|\[::\])$/.test(p.hostIp)) return [];
        // The edge proxy is meant to be public on 80/443; an admin UI on 8081:80 is not.
        if ((isProxy(s) && isEdgePort(p.published)) || isPublicByDesign(s, p.target)) return [];
        return [{ message: `service "${s.name}" publishes ${p.published ?? '(ephemeral)'}->${p.target}/${p.protocol} on all interfaces`, path: svc(s.name, 'ports', i) }];
      });
    }),
  },

  // ── backups ──────────────────────────────────────────────────────────────────────
  {
    id: 'backup-target', family: 'backups', severity: 'warning', scope: 'compose',
    title: 'Stateful volumes need a backup target',
    rationale: 'Data in a named volume, or in a bind-mounted directory of user content (uploads, media, a library, a /config holding keys and an app database), lives on one disk of one server. Without a backup, a disk failure or `docker compose down -v` is permanent.',
    advice: 'Declare `x-berth: {backup: {type: postgres|mysql|volume, schedule: ...}}` on the service (berth backup runs and verifies it). A backup sidecar that mounts the volume (offen/docker-volume-backup, restic, borgmatic) or a dump job against the database (pg_dump, mysqldump) counts too.',
    check: eachService((s, ctx) => {
      if (s.berth.backup || isOneOff(s, ctx.project) || isBackupTool(asRaw(s)) || isCache(s)) return;
      const ds = datastore(s, ctx);
      const state = mounts(s).filter((m) => !m.readOnly && m.source && (m.type === 'volume' || (m.type === 'bind' && isDataBind(m, ds))) && (ds || !isScratch(m)));
      if (state.length === 0) return;
      if (ds && dumpedBy(s, ctx)) return;
      // A volume or directory shared by several services (app and its cron) is reported once, at the first.
      const first = (m: Mount) => Object.values(ctx.project.services).find((o) => mounts(o).some((x) => x.type === m.type && x.source !== undefined && normalizePath(x.source) === normalizePath(m.source!) && !x.readOnly)) === s;
      const open = state.filter((m) => !mountedByBackup(m, s, ctx) && first(m));
      if (open.length === 0) return;
      const what = open.map((m) => (m.type === 'bind' ? `${m.source} (bind mount)` : m.source)).join(', ');
      return { message: `service "${s.name}" keeps state in ${what} with no backup target (x-berth backup, a backup sidecar or a dump job)`, path: svc(s.name, 'volumes', open[0]!.index) };
    }),
  },
  {
    id: 'datastore-volume', family: 'backups', severity: 'warning', scope: 'compose',
    title: 'Datastores keep their data in a volume',
    rationale: 'A database with no volume on its data directory keeps its data in the container\'s writable layer (or an anonymous volume of its image): `docker compose down`, or a recreate that does not carry the old container over, starts it empty.',
    advice: 'Mount a named volume on the data directory (postgres: /var/lib/postgresql/data, mysql/mariadb: /var/lib/mysql, mongo: /data/db) and back it up.',
    check: longRunning((s, ctx) => {
      if (!datastore(s, ctx) || isCache(s) || s.berth.backup) return;
      if (mounts(s).some((m) => !m.readOnly && m.type !== 'anonymous' && !(m.type === 'bind' && /\.[a-z0-9]+$/i.test(m.source ?? '')))) return;
      const facts = imageFacts(s, ctx);
      const anon = facts.volumes?.length ? `only in an anonymous volume of its image (VOLUME ${facts.volumes.join(', ')}), which \`compose down\` leaves behind` : 'in the container\'s writable layer';
      return { message: `datastore "${s.name}" keeps its data ${anon}: the next \`compose down\` and \`up\` starts it empty`, path: s.raw.volumes ? svc(s.name, 'volumes') : svc(s.name) };
    }),
  },

  // ── dependencies ─────────────────────────────────────────────────────────────────
  {
    id: 'depends-on-healthy', family: 'dependencies', severity: 'warning', scope: 'compose',
    title: 'Wait for dependencies to be healthy',
    rationale: 'depends_on without a condition only waits for the container to start, not for the database to accept connections: the app crashes or retries on first boot.',
    advice: 'Use `depends_on: {db: {condition: service_healthy}}` and give the dependency a healthcheck.',
    check: eachService((s, ctx) => Object.entries(s.dependsOn).flatMap(([dep, d]) => {
      const target = ctx.project.services[dep];
      if (d.condition !== 'service_started' || !target) return [];
      // A dependency with no healthcheck cannot be waited for: the advice is on it (rule healthcheck), not here.
      if (!(target.healthcheck && !target.healthcheck.disabled) && !imageFacts(target, ctx).healthcheck) return [];
      return [{ message: `service "${s.name}" depends on "${dep}" without condition: service_healthy`, path: Array.isArray(s.raw.depends_on) ? svc(s.name, 'depends_on', (s.raw.depends_on as string[]).indexOf(dep)) : svc(s.name, 'depends_on', dep) }];
    })),
  },
  {
    id: 'depends-on-no-healthcheck', family: 'dependencies', severity: 'error', scope: 'compose',
    title: 'service_healthy needs a healthcheck',
    rationale: 'depends_on condition service_healthy on a service without a healthcheck makes `up` fail ("container has no healthcheck configured").',
    advice: 'Add a healthcheck to the dependency (unless its image defines one).',
    check: eachService((s, ctx) => Object.entries(s.dependsOn).flatMap(([dep, d]) => {
      const target = ctx.project.services[dep];
      if (d.condition !== 'service_healthy' || !target) return [];
      if (target.healthcheck && !target.healthcheck.disabled) return [];
      const facts = imageFacts(target, ctx);
      if (facts.healthcheck || (facts.healthcheck === undefined && !target.hasBuild)) return []; // the image may define one
      return [{ message: `service "${s.name}" waits for "${dep}" to be healthy, but "${dep}" has no healthcheck${facts.healthcheck === false ? ` (nor does its image: ${facts.basis})` : ''}`, path: svc(s.name, 'depends_on', dep) }];
    })),
  },
  {
    id: 'healthcheck-probe-binary', family: 'rollout', severity: 'error', scope: 'compose',
    title: 'The healthcheck\'s probe exists in the image',
    rationale: 'A healthcheck running curl or wget in an image without them fails forever: the service never becomes healthy and rollouts time out.',
    advice: 'Install the probe (apk add curl / apt-get install curl), use the one the image has (busybox wget on alpine), or probe with the app\'s runtime (node -e fetch(...)).',
    check: eachService((s, ctx) => {
      const test = s.healthcheck?.test;
      if (!test || s.healthcheck?.disabled) return;
      const words = typeof test === 'string' ? test.split(/\s+/) : test[0] === 'CMD-SHELL' ? (test[1] ?? '').split(/\s+/) : test[0] === 'CMD' ? test.slice(1) : test;
      const probe = words.find((w) => /^(\S*\/)?(curl|wget)$/.test(w))?.split('/').pop() as 'curl' | 'wget' | undefined;
      if (!probe) return;
      const facts = imageFacts(s, ctx);
      if (facts[probe] !== false) return;
      return { message: `service "${s.name}": healthcheck uses ${probe}, which is not in the image (${facts.basis})`, path: svc(s.name, 'healthcheck', 'test') };
    }),
  },
];

function isLoopback(ip: string): boolean {
  return /^(127\.|::1$|\[::1\]$|localhost$)/.test(ip);
}
