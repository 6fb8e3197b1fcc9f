/**
 * `berth secrets rotate NAME`: collect what uses the secret, plan (plan.ts), then carry the plan out
 * under the project's deploy lock, undoing what was done when a step fails.
 */
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import { chown, readdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import type { ComposeRunner } from '../../compose/cli.js';
import { listServiceContainers } from '../../compose/containers.js';
import type { ComposeProject } from '../../compose/types.js';
import type { Engine } from '../../engine/client.js';
import { BerthError, ExitCode, errorMessage } from '../../lib/errors.js';
import type { StateStore } from '../../state/store.js';
import { databaseOf, describeRotateStep, planRotation, secretFile, serviceSecretTarget, type DatabaseKind, type RotatePlan, type RotateStep, type SecretConsumer, type SecretState } from './plan.js';

export interface RotateDeps {
  engine: Engine;
  project: ComposeProject;
  store: StateStore;
  compose: () => Promise<ComposeRunner>;
  /** Loads the compose model again (after the reference was edited). */
  reload: () => Promise<ComposeProject>;
}

export async function collectSecretState(engine: Engine, project: ComposeProject, name: string): Promise<SecretState> {
  const { fileRaw, file } = secretFile(project, name);
  const dir = dirname(file);
  const unwritable = await probeWritable(dir);
  const siblings = await readdir(dir).catch(() => [] as string[]);
  const consumers: SecretConsumer[] = [];
  const running = await listServiceContainers(engine, project.name, { includeStopped: false });
  for (const service of Object.values(project.services)) {
    const target = serviceSecretTarget(service.raw, name);
    if (!target) continue;
    consumers.push({
      service: service.name,
      target,
      containers: running.filter((c) => c.service === service.name && c.state === 'running').map((c) => ({ id: c.id, name: c.name })),
      database: databaseOf(service.environment, target),
    });
  }
  const composeFile = project.locate(['secrets', name, 'file'])?.file ?? project.files[0]!;
  const all = (project.model.services ?? {}) as Record<string, Record<string, unknown>>;
  const inactiveUsers = project.inactiveServices.filter((s) => all[s] && serviceSecretTarget(all[s]!, name));
  return { name, fileRaw, file, composeFile, unwritable, siblings, consumers, inactiveUsers };
}

/** Whether a new file can be created in dir: tried for real (root passes access() checks that writes still fail). */
async function probeWritable(dir: string): Promise<string | undefined> {
  const probe = join(dir, `.berth-write-probe-${randomBytes(4).toString('hex')}`);
  try {
    await writeFile(probe, '', { flag: 'wx', mode: 0o600 });
    await unlink(probe);
    return undefined;
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    return e.code === 'ENOENT' ? `${dir} does not exist` : `${e.code ?? 'error'}: ${e.message.replace(/^\w+: /, '').split(',')[0]}`;
  }
}

export async function planSecretRotation(deps: Pick<RotateDeps, 'engine' | 'project'>, name: string, services?: string[]): Promise<RotatePlan> {
  return planRotation(deps.project, await collectSecretState(deps.engine, deps.project, name), { services });
}

/** A new random value: URL-safe base64 of `bytes` random bytes (no quotes or slashes to escape anywhere). */
export function generateSecret(bytes = 32): Buffer {
  return Buffer.from(randomBytes(bytes).toString('base64url'));
}

/** The password a database sees in a secret file: without the trailing newline, as the images' $(cat file) reads it. */
export function passwordOf(value: Buffer): string {
  return value.toString('utf8').replace(/\r?\n$/, '');
}

/**
 * Postgres' SCRAM-SHA-256 verifier of a password (RFC 5802/7677 as Postgres stores it), so the
 * plaintext never reaches the server's statement log. ASCII passwords only (SASLprep is identity there).
 */
export function scramVerifier(password: string, salt = randomBytes(16), iterations = 4096): string {
  const salted = pbkdf2Sync(Buffer.from(password, 'utf8'), salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

export interface RotateEvent {
  step: RotateStep;
  phase: 'start' | 'done' | 'failed' | 'undone';
  detail?: string;
}

export interface RotateResult {
  ok: boolean;
  exitCode: number;
  plan: RotatePlan;
  done: Array<{ step: string; detail?: string }>;
  error?: string;
  undone: string[];
}

async function psql(engine: Engine, containerId: string, user: string, sql: string, env: string[] = [], host?: string) {
  const { execInContainer } = await import('../../backup/exec.js');
  const cmd = ['psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-U', user, '-d', 'postgres', ...(host ? ['-h', host] : [])];
  return execInContainer(engine, containerId, cmd, { stdin: Readable.from([sql]), env });
}

async function mysql(engine: Engine, containerId: string, user: string, password: string, sql: string, host?: string) {
  const { execInContainer } = await import('../../backup/exec.js');
  const client = `exec "$(command -v mariadb || command -v mysql)" -u"$BERTH_DB_USER"${host ? ` -h ${host}` : ''}`;
  return execInContainer(engine, containerId, ['sh', '-c', client], { stdin: Readable.from([sql]), env: [`MYSQL_PWD=${password}`, `BERTH_DB_USER=${user}`] });
}

const sqlString = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;

export async function setDatabasePassword(engine: Engine, step: { containerId: string; database: DatabaseKind; user: string }, password: string, current: string): Promise<void> {
  const r = step.database === 'postgres'
    ? await psql(engine, step.containerId, step.user, `ALTER ROLE "${step.user.replace(/"/g, '""')}" PASSWORD ${sqlString(/^[\x20-\x7e]*$/.test(password) ? scramVerifier(password) : password)};\n`)
    : await mysql(engine, step.containerId, step.user, current, await selfPasswordSql(engine, step, current, password));
  if (r.exitCode !== 0) throw new BerthError(`changing the password of ${step.user} failed: ${r.stderr.split('\n').filter(Boolean).slice(-1)[0] ?? `exit ${r.exitCode}`}`, { exitCode: ExitCode.engine });
}

/**
 * The statement a MariaDB/MySQL user changes its own password with, needing no privilege:
 * MariaDB `SET PASSWORD = PASSWORD(...)` (its ALTER USER needs CREATE USER), MySQL 8
 * `ALTER USER USER() IDENTIFIED BY` (it has no PASSWORD()).
 */
async function selfPasswordSql(engine: Engine, step: { containerId: string; user: string }, current: string, password: string): Promise<string> {
  const version = await mysql(engine, step.containerId, step.user, current, 'SELECT VERSION();\n');
  if (version.exitCode !== 0) throw new BerthError(`cannot log in as ${step.user} with the current password: ${version.stderr.split('\n').filter(Boolean).slice(-1)[0] ?? `exit ${version.exitCode}`}`, { exitCode: ExitCode.engine });
  return /mariadb/i.test(version.stdout) ? `SET PASSWORD = PASSWORD(${sqlString(password)});\n` : `ALTER USER USER() IDENTIFIED BY ${sqlString(password)};\n`;
}

/** Whether a password opens a connection over TCP (not the local socket, which may trust). */
export async function connects(engine: Engine, step: { containerId: string; database: DatabaseKind; user: string }, password: string): Promise<{ ok: boolean; message: string }> {
  const r = step.database === 'postgres'
    ? await psql(engine, step.containerId, step.user, 'SELECT 1;\n', [`PGPASSWORD=${password}`, 'PGCONNECT_TIMEOUT=5'], '127.0.0.1')
    : await mysql(engine, step.containerId, step.user, password, 'SELECT 1;\n', '127.0.0.1');
  return { ok: r.exitCode === 0, message: r.stderr.split('\n').filter(Boolean).slice(-1)[0] ?? '' };
}

/** The compose file's reference edited in place (only the value's characters change), written by rename. */
async function editReference(project: ComposeProject, secret: string, to: string): Promise<{ file: string; before: string }> {
  const [{ planFixes, fixedFiles }, { readTextFile }] = await Promise.all([import('../../check/fix.js'), import('../../check/run.js')]);
  const finding = { rule: 'secrets-rotate', family: 'compose', severity: 'info', message: '', fix: [{ kind: 'replace-scalar', path: ['secrets', secret, 'file'], value: to }] } as never;
  const fix = planFixes(project, [finding], readTextFile);
  if (fix.refused.length) throw new BerthError(`cannot edit secrets.${secret}.file in the compose file: it ${fix.refused[0]!.reason}`, { exitCode: ExitCode.usage });
  const [[file, { before, after }]] = [...fixedFiles(fix, readTextFile)] as [[string, { before: string; after: string }]];
  const tmp = `${file}.berth-${randomBytes(3).toString('hex')}`;
  const mode = (await stat(file)).mode & 0o7777;
  await writeFile(tmp, after, { mode });
  await rename(tmp, file);
  return { file, before };
}

async function restoreFile(file: string, text: string): Promise<void> {
  const tmp = `${file}.berth-${randomBytes(3).toString('hex')}`;
  await writeFile(tmp, text, { mode: (await stat(file)).mode & 0o7777 });
  await rename(tmp, file);
}

export async function runRotation(deps: RotateDeps, plan: RotatePlan, value: Buffer, onEvent: (e: RotateEvent) => void = () => undefined, rolloutFlags: Record<string, unknown> = {}): Promise<RotateResult> {
  const { lockProject, runRollout } = await import('../../rollout/run.js');
  const lock = await lockProject(deps, `secrets rotate ${plan.secret}`);
  const undo: Array<{ what: string; run: () => Promise<void> }> = [];
  const done: RotateResult['done'] = [];
  const password = passwordOf(value);
  let oldPassword = '';
  try {
    const oldStat = await stat(plan.oldFile).catch(() => undefined);
    if (plan.steps.some((s) => s.kind === 'db-password')) {
      // Needed to undo a database password change: read it before anything changes.
      oldPassword = passwordOf(await readFile(plan.oldFile).catch((error) => { throw new BerthError(`cannot read the current version ${plan.oldFile}: ${errorMessage(error)}`, { exitCode: ExitCode.usage }); }));
    }
    for (const step of plan.steps) {
      onEvent({ step, phase: 'start' });
      let detail: string | undefined;
      try {
        switch (step.kind) {
          case 'write-file': {
            await writeFile(step.path, value, { flag: 'wx', mode: oldStat ? oldStat.mode & 0o777 : 0o600 });
            undo.push({ what: `removed ${step.path}`, run: () => unlink(step.path) });
            if (oldStat && process.getuid?.() === 0) await chown(step.path, oldStat.uid, oldStat.gid);
            break;
          }
          case 'edit-compose': {
            const { file, before } = await editReference(deps.project, plan.secret, step.to);
            detail = file;
            undo.push({ what: `restored ${file}`, run: () => restoreFile(file, before) });
            break;
          }
          case 'db-password': {
            await setDatabasePassword(deps.engine, step, password, oldPassword);
            undo.push({ what: `restored the password of ${step.user} in ${step.container}`, run: () => setDatabasePassword(deps.engine, step, oldPassword, password) });
            break;
          }
          case 'verify-db': {
            const fresh = await connects(deps.engine, step, password);
            if (!fresh.ok) throw new BerthError(`the new password of ${step.user} does not open a connection: ${fresh.message}`, { exitCode: ExitCode.engine });
            const stale = await connects(deps.engine, step, oldPassword);
            if (stale.ok) throw new BerthError(`the old password of ${step.user} still opens a connection over TCP: ${step.service} does not check passwords there (trust in pg_hba.conf?)`, { exitCode: ExitCode.degraded });
            detail = `new password connects; old refused (${stale.message})`;
            break;
          }
          case 'rollout': {
            const project = await deps.reload();
            const result = await runRollout({ ...deps, project }, { ...rolloutFlags, services: step.services, kind: 'rollout', force: true, lockHeld: true, rebind: step.rebind });
            const failed = result.services.find((s) => s.result !== 'succeeded' && s.result !== 'unchanged');
            if (!result.ok || failed) throw new BerthError(`the rollout of ${failed?.service ?? step.services.join(', ')} failed: ${failed?.error ?? `exit ${result.exitCode}`}`, { exitCode: result.exitCode || ExitCode.degraded });
            detail = result.services.map((s) => `${s.service} deploy #${s.deployId}`).join(', ');
            break;
          }
          case 'remove-old': {
            const users = await mountedBy(deps.engine, deps.project.name, step.path);
            if (users.length) detail = `kept: still mounted by ${users.join(', ')}`;
            else {
              await unlink(step.path).catch((error: NodeJS.ErrnoException) => { if (error.code !== 'ENOENT') throw error; });
              detail = 'removed';
            }
            break;
          }
        }
      } catch (error) {
        onEvent({ step, phase: 'failed', detail: errorMessage(error) });
        const undone: string[] = [];
        for (const u of undo.reverse()) {
          try {
            await u.run();
            undone.push(u.what);
          } catch (undoError) {
            undone.push(`FAILED to undo (${u.what.replace(/^\w+ /, '')}): ${errorMessage(undoError)}`);
          }
        }
        deps.store.audit({ project: deps.project.name, action: 'secrets rotate', detail: { secret: plan.secret, result: 'failed', step: step.kind, error: errorMessage(error), undone } });
        return { ok: false, exitCode: error instanceof BerthError ? error.exitCode : ExitCode.degraded, plan, done, error: `${describeRotateStep(step)}: ${errorMessage(error)}`, undone };
      }
      done.push({ step: describeRotateStep(step), detail });
      onEvent({ step, phase: 'done', detail });
    }
    deps.store.audit({ project: deps.project.name, action: 'secrets rotate', detail: { secret: plan.secret, result: 'succeeded', newFile: plan.newFile } });
    return { ok: true, exitCode: ExitCode.ok, plan, done, undone: [] };
  } finally {
    lock.release();
  }
}

/** Containers of the project (stopped ones too) that bind-mount a host path. */
export async function mountedBy(engine: Engine, project: string, path: string): Promise<string[]> {
  const containers = await listServiceContainers(engine, project, { includeStopped: true, includeOneoff: true });
  const users: string[] = [];
  for (const c of containers) {
    const info = await engine.inspectContainer(c.id).catch(() => undefined);
    if (info?.Mounts?.some((m) => m.Source === path)) users.push(c.name);
  }
  return users;
}
