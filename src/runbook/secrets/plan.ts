/**
 * `berth secrets rotate NAME`, planned (pure): compose model + what uses the secret on the engine
 * + options -> steps with reasons. Refusals (bad input) are thrown before anything changes.
 *
 * The order, for a database password (Postgres keeps one password per role, and checks it only
 * when a connection opens; sessions already open stay):
 *   1. write the new value as a new version of the secret file (compose secrets are immutable once
 *      a container starts, so a new file, not an edit of the old one);
 *   2. point the compose file's `secrets.NAME.file` at it;
 *   3. change the database's own password (ALTER ROLE with a SCRAM verifier computed by berth, over
 *      the container's local socket): the old replicas keep their open connections;
 *   4. check that the new password opens a connection and the old one no longer does;
 *   5. roll out every other running service that uses the secret, zero-downtime: new replicas start
 *      with the new file and connect with the new password; the old ones drain on the connections
 *      they already hold, then stop;
 *   6. remove the old file once no container mounts it (the database's own container keeps it
 *      mounted until it is recreated: kept, and said).
 * A failure at 3-5 undoes what was done, in reverse: the old password, the old reference, no new file.
 */
import { unknownServiceError } from '../../compose/select.js';
import { basename, dirname, extname, isAbsolute, join, resolve } from 'node:path';
import type { ComposeProject } from '../../compose/types.js';
import { BerthError, ExitCode } from '../../lib/errors.js';

export type DatabaseKind = 'postgres' | 'mysql';

export interface SecretConsumer {
  service: string;
  /** Where the secret appears inside the container. */
  target: string;
  /** Running containers of the service. */
  containers: Array<{ id: string; name: string }>;
  /** The service is the database that takes this secret as its own password. */
  database?: { kind: DatabaseKind; user: string; variable: string };
}

export interface SecretState {
  name: string;
  /** As written in the compose file, and resolved. */
  fileRaw: string;
  file: string;
  /** The compose file that defines secrets.NAME.file. */
  composeFile: string;
  /** The file's directory cannot take a new file: why. */
  unwritable?: string;
  /** Names of existing files next to it (to pick a free version name). */
  siblings: string[];
  consumers: SecretConsumer[];
  /** Services under profiles not enabled that use it (they read the new version when they next run). */
  inactiveUsers?: string[];
}

export type RotateStep =
  | { kind: 'write-file'; path: string; reason: string }
  | { kind: 'edit-compose'; file: string; from: string; to: string; reason: string }
  | { kind: 'db-password'; service: string; container: string; containerId: string; database: DatabaseKind; user: string; reason: string }
  | { kind: 'verify-db'; service: string; container: string; containerId: string; database: DatabaseKind; user: string; reason: string }
  | { kind: 'rollout'; services: string[]; rebind: Record<string, string>; reason: string }
  | { kind: 'remove-old'; path: string; reason: string };

export interface RotatePlan {
  project: string;
  secret: string;
  oldFile: string;
  newFile: string;
  newFileRaw: string;
  steps: RotateStep[];
  /** Consumers that need nothing now (no running container), and why. */
  notes: string[];
}

/** The secret's entry of a service (`- name` or `- { source: name, target: ... }`), with its target path. */
export function serviceSecretTarget(raw: Record<string, unknown>, secret: string): string | undefined {
  for (const entry of (raw.secrets as unknown[] | undefined) ?? []) {
    if (entry === secret) return `/run/secrets/${secret}`;
    if (entry && typeof entry === 'object' && (entry as { source?: unknown }).source === secret) {
      const target = (entry as { target?: unknown }).target;
      return typeof target === 'string' ? (target.startsWith('/') ? target : `/run/secrets/${target}`) : `/run/secrets/${secret}`;
    }
  }
  return undefined;
}

/** Whether a service is a database that reads this secret as a password it owns (the official images' variables). */
export function databaseOf(environment: Record<string, string | null>, target: string): SecretConsumer['database'] {
  const env = (k: string) => environment[k] ?? undefined;
  if (env('POSTGRES_PASSWORD_FILE') === target) return { kind: 'postgres', user: env('POSTGRES_USER') || 'postgres', variable: 'POSTGRES_PASSWORD_FILE' };
  for (const prefix of ['MARIADB', 'MYSQL']) {
    if (env(`${prefix}_PASSWORD_FILE`) === target && env(`${prefix}_USER`)) return { kind: 'mysql', user: env(`${prefix}_USER`)!, variable: `${prefix}_PASSWORD_FILE` };
    if (env(`${prefix}_ROOT_PASSWORD_FILE`) === target) return { kind: 'mysql', user: 'root', variable: `${prefix}_ROOT_PASSWORD_FILE` };
  }
  return undefined;
}

/** The secret as the model defines it; bad input (unknown, external, not a file) refused with one line. */
export function secretFile(project: ComposeProject, name: string): { fileRaw: string; file: string } {
  const secrets = (project.model.secrets ?? {}) as Record<string, { file?: unknown; external?: unknown; environment?: unknown } | null>;
  const secret = secrets[name];
  if (!secret) {
    const known = Object.keys(secrets);
    throw new BerthError(`no secret "${name}" in project ${project.name}`, { exitCode: ExitCode.usage, hint: known.length ? `secrets: ${known.join(', ')}` : 'the compose file defines no secrets' });
  }
  if (secret.external) throw new BerthError(`secret "${name}" is external: it is managed outside the compose file (docker secret), berth cannot write it`, { exitCode: ExitCode.usage });
  if (typeof secret.environment === 'string') throw new BerthError(`secret "${name}" comes from the environment variable ${secret.environment}: set a new value there and roll out its users`, { exitCode: ExitCode.usage });
  if (typeof secret.file !== 'string') throw new BerthError(`secret "${name}" has no file`, { exitCode: ExitCode.usage });
  return { fileRaw: secret.file, file: isAbsolute(secret.file) ? secret.file : resolve(project.workingDir, secret.file) };
}

/** The other versions of a secret file among its siblings: name.ext and name.vN.ext, the file itself left out. */
export function earlierVersions(file: string, siblings: string[]): string[] {
  const ext = extname(file);
  const stem = basename(file, ext);
  const base = /^(.*)\.v\d+$/.exec(stem)?.[1] ?? stem;
  const escape = (t: string) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const family = new RegExp(`^${escape(base)}(\\.v\\d+)?${escape(ext)}$`);
  return siblings.filter((n) => family.test(n) && n !== basename(file)).sort().map((n) => join(dirname(file), n));
}

/** name.txt -> name.v2.txt, name.v2.txt -> name.v3.txt (skipping names that exist). */
export function nextVersionName(file: string, existing: string[]): string {
  const ext = extname(file);
  const stem = basename(file, ext);
  const m = /^(.*)\.v(\d+)$/.exec(stem);
  const base = m ? m[1]! : stem;
  let version = m ? Number(m[2]) + 1 : 2;
  const taken = new Set(existing);
  while (taken.has(`${base}.v${version}${ext}`)) version++;
  return `${base}.v${version}${ext}`;
}

export function planRotation(project: ComposeProject, state: SecretState, options: { services?: string[] }): RotatePlan {
  if (state.unwritable) throw new BerthError(`secret "${state.name}" is the file ${state.file}, and berth cannot write next to it: ${state.unwritable}`, { exitCode: ExitCode.usage, hint: 'move the file into a directory berth may write (and point secrets.' + state.name + '.file at it)' });
  const users = state.consumers.map((c) => c.service);
  for (const s of options.services ?? []) {
    if (!project.services[s]) throw unknownServiceError(project, s);
    if (!users.includes(s)) throw new BerthError(`service "${s}" does not use secret "${state.name}"`, { exitCode: ExitCode.usage, hint: users.length ? `used by: ${users.join(', ')}` : 'no service uses it' });
  }
  const newName = nextVersionName(state.file, state.siblings);
  const newFile = join(dirname(state.file), newName);
  const newFileRaw = state.fileRaw.slice(0, state.fileRaw.length - basename(state.fileRaw).length) + newName;
  const databases = state.consumers.filter((c) => c.database);
  const selected = options.services?.length ? state.consumers.filter((c) => options.services!.includes(c.service)) : state.consumers;
  if (databases.length && options.services?.length) {
    const left = state.consumers.filter((c) => !c.database && c.containers.length && !options.services!.includes(c.service)).map((c) => c.service);
    if (left.length) throw new BerthError(`secret "${state.name}" is ${databases[0]!.service}'s own password: every running user of it must move to the new one, also ${left.join(', ')}`, { exitCode: ExitCode.usage });
  }
  const steps: RotateStep[] = [
    { kind: 'write-file', path: newFile, reason: 'compose secrets are immutable once a container starts: a new version of the file, the old one stays for the running replicas' },
    { kind: 'edit-compose', file: state.composeFile, from: state.fileRaw, to: newFileRaw, reason: `secrets.${state.name}.file: new containers (and Compose) get the new version` },
  ];
  const notes: string[] = [];
  for (const db of databases) {
    const container = db.containers[0];
    if (!container) {
      notes.push(`${db.service} (the database) is not running: its password cannot be changed now; it reads ${db.database!.variable} only when it initialises an empty data directory`);
      throw new BerthError(`secret "${state.name}" is the password of ${db.service}, which is not running: start it first (berth up ${db.service})`, { exitCode: ExitCode.usage });
    }
    steps.push({ kind: 'db-password', service: db.service, container: container.name, containerId: container.id, database: db.database!.kind, user: db.database!.user, reason: `${db.service} reads ${db.database!.variable} only when it initialises: berth changes the password of ${db.database!.user} itself, before the users roll (open connections keep working; new ones need the new password)` });
    steps.push({ kind: 'verify-db', service: db.service, container: container.name, containerId: container.id, database: db.database!.kind, user: db.database!.user, reason: 'the new password opens a connection over TCP, the old one is refused' });
  }
  const roll = selected.filter((c) => !c.database && c.containers.length).map((c) => c.service);
  for (const c of selected) if (!c.database && !c.containers.length) notes.push(`${c.service}: no running container; it gets the new version when it next starts`);
  if (state.inactiveUsers?.length) notes.push(`${state.inactiveUsers.join(', ')} (profiles not enabled): the new version when they next run`);
  if (roll.length) steps.push({ kind: 'rollout', services: roll, rebind: { [state.file]: newFile }, reason: 'zero-downtime: new replicas with the new version of the secret, health gate, then the old ones drain and stop' });
  const mounting = databases.filter((d) => d.containers.length).map((d) => d.service);
  steps.push({ kind: 'remove-old', path: state.file, reason: mounting.length ? `only if no container mounts it any more (${mounting.join(', ')} keeps it mounted until it is recreated: then kept)` : 'no container mounts it once the users rolled' });
  for (const path of earlierVersions(state.file, state.siblings)) {
    if (path !== newFile) steps.push({ kind: 'remove-old', path, reason: 'an earlier version (a previous rotation kept it while a container mounted it): removed if none does now' });
  }
  return { project: project.name, secret: state.name, oldFile: state.file, newFile, newFileRaw, steps, notes };
}

export function describeRotateStep(step: RotateStep): string {
  switch (step.kind) {
    case 'write-file': return `write the new value to ${step.path} (mode 0600 or the old file's)`;
    case 'edit-compose': return `point the secret at ${step.to} (was ${step.from}) in ${step.file}`;
    case 'db-password': return `change the ${step.database} password of ${step.user} in ${step.container}`;
    case 'verify-db': return `verify in ${step.container}: the new password connects, the old one is refused`;
    case 'rollout': return `roll out ${step.services.join(', ')}`;
    case 'remove-old': return `remove ${step.path} when unused`;
  }
}
