/**
 * What produces the bytes of a backup: database dumps run inside the db container (Engine API
 * exec, no TTY) and volume archives read through the engine's archive API from a read-only
 * helper container. Each writes NAME.partial files into a staging directory and verifies them.
 */
import { PassThrough, Transform, type Readable } from 'node:stream';
import { createReadStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Engine } from '../engine/client.js';
import { BerthError } from '../lib/errors.js';
import { PARTIAL_SUFFIX, ParallelGzip, readHead, readTail, TarLister, writePartial, type TarListing, type WrittenFile } from './artifact.js';
import { execChecked, execInContainer } from './exec.js';
import { startHelper } from './helpers.js';
import type { TargetFacts } from './plan.js';
import type { BackupTarget } from './types.js';

export interface StagedFile extends WrittenFile {
  role: 'dump' | 'globals' | 'volume';
  verifiedBy: string;
  encrypted?: boolean;
  plaintextSha256?: string;
  plaintextSizeBytes?: number;
  volume?: { name: string; mountPaths: string[]; entries: number };
  /** Volume archives: the listing of the tar as read from the engine, and of the written bytes decompressed. */
  listings?: { source: TarListing; verifiedBlocks: number };
}

export interface SourceContext {
  engine: Engine;
  target: BackupTarget;
  facts: TargetFacts;
  /** Staging directory on the destination's file system (local) or in the state dir (remote). */
  dir: string;
  progress(file: string, bytes: number, elapsedMs: number): void;
  /** Extra labels for helper containers (tests label theirs). */
  helperLabels?: Record<string, string>;
  /** Aborts the stream in progress (Ctrl-C): the run fails cleanly, stopped containers are started. */
  signal?: AbortSignal;
}

export interface SourceResult {
  files: StagedFile[];
  server?: { version: string; image: string };
  databaseOwner?: string;
  notes?: string[];
}

/**
 * The password never passes through berth: it is read inside the container, from the
 * configured file or from the variables the official images use.
 */
const PG_WRAPPER = [
  'if [ -n "${BERTH_PASSWORD_FILE:-}" ]; then PGPASSWORD="$(cat "$BERTH_PASSWORD_FILE")"; export PGPASSWORD;',
  'elif [ -z "${PGPASSWORD:-}" ] && [ -n "${POSTGRES_PASSWORD:-}" ]; then PGPASSWORD="$POSTGRES_PASSWORD"; export PGPASSWORD;',
  'elif [ -z "${PGPASSWORD:-}" ] && [ -n "${POSTGRES_PASSWORD_FILE:-}" ]; then PGPASSWORD="$(cat "$POSTGRES_PASSWORD_FILE")"; export PGPASSWORD; fi;',
  'exec "$@"',
].join(' ');

const MYSQL_WRAPPER = [
  'if [ -n "${BERTH_PASSWORD_FILE:-}" ]; then MYSQL_PWD="$(cat "$BERTH_PASSWORD_FILE")"; export MYSQL_PWD;',
  'elif [ -z "${MYSQL_PWD:-}" ]; then',
  '  if [ "$BERTH_DB_USER" = root ]; then p="${MARIADB_ROOT_PASSWORD:-${MYSQL_ROOT_PASSWORD:-}}"; f="${MARIADB_ROOT_PASSWORD_FILE:-${MYSQL_ROOT_PASSWORD_FILE:-}}";',
  '  else p="${MARIADB_PASSWORD:-${MYSQL_PASSWORD:-}}"; f="${MARIADB_PASSWORD_FILE:-${MYSQL_PASSWORD_FILE:-}}"; fi;',
  '  if [ -z "$p" ] && [ -n "$f" ]; then p="$(cat "$f")"; fi;',
  '  if [ -n "$p" ]; then MYSQL_PWD="$p"; export MYSQL_PWD; fi;',
  'fi;',
  'tool="$1"; shift;',
  'case "$tool" in',
  '  dump) if command -v mariadb-dump >/dev/null 2>&1; then exec mariadb-dump "$@"; else exec mysqldump "$@"; fi;;',
  '  client) if command -v mariadb >/dev/null 2>&1; then exec mariadb "$@"; else exec mysql "$@"; fi;;',
  'esac',
].join(' ');

export function postgresCommand(...args: string[]): string[] {
  return ['sh', '-c', PG_WRAPPER, 'berth-pg', ...args];
}

export function mysqlCommand(tool: 'dump' | 'client', ...args: string[]): string[] {
  return ['sh', '-c', MYSQL_WRAPPER, 'berth-mysql', tool, ...args];
}

export function dbEnv(target: BackupTarget): string[] {
  return [`BERTH_DB_USER=${target.user ?? ''}`, ...(target.passwordFile ? [`BERTH_PASSWORD_FILE=${target.passwordFile}`] : [])];
}

/**
 * Passes a stream on unchanged and copies its first bytes to `output`, for a reader that needs
 * only the head (pg_restore --list reads the archive's header and table of contents, then exits).
 * Never holds the stream back: once the reader is gone, or `limit` bytes wait unread, copying
 * stops (`truncated` says the reader may not have had all it needed).
 */
export class TeeHead extends Transform {
  readonly output = new PassThrough({ highWaterMark: 1 << 20 });
  truncated = false;

  constructor(private readonly limit = 64 << 20) {
    super();
    this.output.on('error', () => undefined);
  }

  private get open(): boolean {
    return !this.output.destroyed && !this.output.writableEnded;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: (error?: Error | null, data?: Buffer) => void): void {
    if (this.open) {
      if (this.output.readableLength + chunk.length > this.limit) {
        this.truncated = true;
        this.output.end();
      } else {

        this.output.write(chunk);
      }
    }
    done(null, chunk);
  }

  override _flush(done: (error?: Error | null) => void): void {
    if (this.open) this.output.end();
    done();
  }

  override _destroy(error: Error | null, done: (error?: Error | null) => void): void {
    if (this.open) this.output.end();
    done(error);
  }
}

/** Streams a command's stdout into NAME.partial; fails when the command exits non-zero. */
async function dumpToFile(ctx: SourceContext, name: string, cmd: string[], what: string, transforms: Transform[] = []): Promise<WrittenFile> {
  const containerId = ctx.facts.container!.id;
  const pipe = new PassThrough({ highWaterMark: 1 << 20 });
  pipe.on('error', () => undefined);
  const writing = writePartial(ctx.dir, name, pipe, transforms, (bytes, ms) => ctx.progress(name, bytes, ms), ctx.signal);
  writing.catch(() => undefined);
  let execError: unknown;
  let exitCode = 0;
  let stderr = '';
  try {
    const result = await execInContainer(ctx.engine, containerId, cmd, { stdout: pipe, env: dbEnv(ctx.target) });
    exitCode = result.exitCode;
    stderr = result.stderr;
  } catch (error) {
    execError = error;
  }
  pipe.end();
  const written = await writing.catch((error: NodeJS.ErrnoException) => {
    if (ctx.signal?.aborted) throw new BerthError('interrupted', { cause: error });
    throw new BerthError(`cannot write ${name}: ${error.code === 'ENOSPC' ? 'no space left on the destination' : error.message}`, { cause: error });
  });
  if (execError) throw execError;
  if (exitCode !== 0) {
    const last = stderr.split('\n').filter(Boolean).slice(-2).join(' / ');
    throw new BerthError(`${what} in ${ctx.facts.container!.name} failed (exit ${exitCode})${last ? `: ${last}` : ''}`);
  }
  return written;
}

export async function backupPostgres(ctx: SourceContext): Promise<SourceResult> {
  const { target, engine } = ctx;
  const containerId = ctx.facts.container!.id;
  const env = dbEnv(target);
  const dumpName = `${target.database}.pgdump`;
  // The archive is checked while it is written: its first bytes (header and table of contents)
  // also go to `pg_restore --list`, which exits once it has read them.
  const tee = new TeeHead();
  const listing = execInContainer(engine, containerId, ['pg_restore', '--list'], { stdin: tee.output, env }).catch((error: Error) => error);
  // The version query and the globals run alongside the dump: they are small, the dump is not.
  const [versionResult, dumpResult, globalsResult] = await Promise.allSettled([
    execChecked(engine, containerId, postgresCommand('psql', '-U', target.user!, '-d', target.database!, '-Atc', "SELECT current_setting('server_version') || '|' || pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()"), 'reading the Postgres version', { env }),
    dumpToFile(ctx, dumpName, postgresCommand('pg_dump', '-Fc', '-U', target.user!, '-d', target.database!), `pg_dump of ${target.database}`, [tee]),
    dumpToFile(ctx, 'globals.sql', postgresCommand('pg_dumpall', '--globals-only', '-U', target.user!, '-l', target.database!), 'pg_dumpall --globals-only'),
  ]);
  for (const result of [dumpResult, globalsResult, versionResult]) if (result.status === 'rejected') throw result.reason;
  const [version, owner] = (versionResult as PromiseFulfilledResult<{ stdout: string }>).value.stdout.trim().split('|');
  const dump = (dumpResult as PromiseFulfilledResult<WrittenFile>).value;
  const globals = (globalsResult as PromiseFulfilledResult<WrittenFile>).value;
  const listed = await listing;
  // Should the listing have been cut short (a TOC beyond TeeHead's limit), the file is listed after the fact.
  const dumpCheck = !(listed instanceof Error) && !tee.truncated ? await checkPostgresListing(dump.partialPath, listed, { allowEmpty: true }) : await verifyPostgresDump(engine, containerId, dump.partialPath, env, { allowEmpty: true });
  const tail = (await readTail(globals.partialPath, 256)).toString('utf8');
  if (!tail.includes('PostgreSQL database cluster dump complete')) throw new BerthError('globals.sql is incomplete: no "dump complete" line');
  return {
    server: { version: `PostgreSQL ${version}`, image: ctx.facts.container!.image },
    ...(owner ? { databaseOwner: owner } : {}),
    ...(dumpCheck.entries === 0 ? { notes: [`database ${target.database} is empty (no tables or other objects): the backup holds an empty database, which restores as one`] } : {}),
    files: [
      { ...dump, role: 'dump', verifiedBy: dumpCheck.detail },
      { ...globals, role: 'globals', verifiedBy: 'ends with "PostgreSQL database cluster dump complete"' },
    ],
  };
}

/**
 * pg_restore --list of the file, streamed into a container that has pg_restore. An empty
 * database gives a valid archive without entries (its header still lists): with `allowEmpty`
 * that is a backup too.
 */
export async function verifyPostgresDump(engine: Engine, containerId: string, path: string, env: string[] = [], options: { allowEmpty?: boolean } = {}): Promise<{ detail: string; entries: number }> {
  const result = await execInContainer(engine, containerId, ['pg_restore', '--list'], { stdin: createReadStream(path), env });
  return checkPostgresListing(path, result, options);
}

/** Judges a `pg_restore --list` of the archive at `path` (its header is read from the file). */
async function checkPostgresListing(path: string, result: { exitCode: number; stdout: string; stderr: string }, options: { allowEmpty?: boolean }): Promise<{ detail: string; entries: number }> {
  const head = await readHead(path, 5);
  if (head.toString('latin1') !== 'PGDMP') throw new BerthError('the dump is not a pg_dump custom-format archive (no PGDMP header)');
  if (result.exitCode !== 0) throw new BerthError(`pg_restore --list rejects the dump: ${result.stderr.split('\n').slice(-1)[0] ?? `exit ${result.exitCode}`}`);
  const entries = result.stdout.split('\n').filter((l) => l.trim() && !l.startsWith(';')).length;
  if (entries === 0 && !options.allowEmpty) throw new BerthError('pg_restore --list shows no entries: the dump is empty');
  if (entries === 0 && !/Archive created at/.test(result.stdout)) throw new BerthError('pg_restore --list shows neither entries nor an archive header');
  return { detail: entries === 0 ? 'pg_restore --list: archive header, 0 entries (empty database)' : `pg_restore --list: ${entries} entries`, entries };
}

export async function backupMysql(ctx: SourceContext): Promise<SourceResult> {
  const { target, engine } = ctx;
  const containerId = ctx.facts.container!.id;
  const env = dbEnv(target);
  const version = (await execChecked(engine, containerId, mysqlCommand('client', '-u', target.user!, '-N', '-B', '-e', 'SELECT VERSION()'), 'reading the MySQL/MariaDB version', { env })).stdout.trim();
  const name = `${target.database ?? 'all-databases'}.sql`;
  const scope = target.database ? ['--databases', target.database] : ['--all-databases'];
  const dump = await dumpToFile(ctx, name, mysqlCommand('dump', '-u', target.user!, '--single-transaction', '--routines', '--triggers', '--hex-blob', ...scope), `dump of ${target.database ?? 'all databases'}`);
  const verifiedBy = await verifyMysqlDump(dump.partialPath);
  const files: StagedFile[] = [{ ...dump, role: 'dump', verifiedBy }];
  const notes: string[] = [];
  // Users and grants live outside any database: MariaDB dumps them as CREATE USER IF NOT EXISTS + GRANT.
  if (/mariadb/i.test(version)) {
    const users = await dumpToFile(ctx, 'users.sql', mysqlCommand('dump', '-u', target.user!, '--system=users', '--insert-ignore'), 'dump of users and grants').catch((error: Error) => error);
    if (users instanceof Error) {
      await rm(join(ctx.dir, `users.sql${PARTIAL_SUFFIX}`), { force: true });
      notes.push(`users and grants not backed up: ${users.message}`);
    }
    else files.push({ ...users, role: 'globals', verifiedBy: await verifyMysqlDump(users.partialPath) });
  } else notes.push('MySQL: users and grants are not part of this backup (mysqldump has no --system=users)');
  return { server: { version: /mariadb/i.test(version) ? `MariaDB ${version}` : `MySQL ${version}`, image: ctx.facts.container!.image }, files, ...(notes.length ? { notes } : {}) };
}

export async function verifyMysqlDump(path: string): Promise<string> {
  // Newer MariaDB dumps open with a "sandbox mode" comment line before the header.
  const head = (await readHead(path, 256)).toString('utf8');
  if (!/^(\/\*M![^\n]*\n)?-- (MariaDB|MySQL) dump/.test(head)) throw new BerthError('the dump does not start with a mysqldump/mariadb-dump header');
  const tail = (await readTail(path, 512)).toString('utf8');
  if (!tail.includes('-- Dump completed')) throw new BerthError('the dump is truncated: no "-- Dump completed" line');
  return 'header and "-- Dump completed" line present';
}

/** Archives every volume of the target (the caller stops and restarts containers around this). */
export async function backupVolumes(ctx: SourceContext, compressionLevel = 6): Promise<SourceResult> {
  const files: StagedFile[] = [];
  for (const volume of ctx.facts.volumes) {
    const name = `${volume.name}.tar.gz`;
    const helper = await startHelper(ctx.engine, ctx.target.project, volume.name, true, ctx.helperLabels);
    let written: WrittenFile;
    const sourceLister = new TarLister();
    const gzip = new ParallelGzip(compressionLevel, 1 << 20, 4, true);
    try {
      const tar = (await ctx.engine.call(`read volume ${volume.name}`, () => helper.container.getArchive({ path: '/volume' }))) as unknown as Readable;
      // Listed as it streams, and every compressed block decoded again and compared, instead of
      // reading the file back afterwards (which cost a quarter of the run).
      written = await writePartial(ctx.dir, name, tar, [sourceLister, gzip], (bytes, ms) => ctx.progress(name, bytes, ms), ctx.signal).catch((error: NodeJS.ErrnoException) => {
        if (ctx.signal?.aborted) throw new BerthError('interrupted', { cause: error });
        throw new BerthError(`cannot write ${name}: ${error.code === 'ENOSPC' ? 'no space left on the destination' : error.message}`, { cause: error });
      });
    } finally {
      await helper.dispose();
    }
    files.push({ ...written, role: 'volume', verifiedBy: '', volume: { name: volume.name, mountPaths: [...new Set(volume.users.map((u) => u.mountPath).filter(Boolean))], entries: 0 }, listings: { source: sourceLister.listing, verifiedBlocks: gzip.blocks } });
  }
  return { files };
}

/** Checks the listings taken while writing (or, without them, gunzips and lists the file). */
export async function verifyVolumeFiles(files: StagedFile[]): Promise<void> {
  const { listTarGz } = await import('./artifact.js');
  for (const file of files) {
    let listing: TarListing;
    if (file.listings) {
      const { source, verifiedBlocks } = file.listings;
      if (!source.complete) throw new BerthError(`the engine's archive of ${file.volume?.name} ended early (no tar end marker)`);
      if (verifiedBlocks < 1) throw new BerthError(`${file.name}: no compressed block was verified`);
      listing = source;
    } else listing = await listTarGz(file.partialPath);
    if (listing.entries < 1) throw new BerthError(`${file.name} holds no entries`);
    file.verifiedBy = `tar listing: ${listing.entries} entries (${listing.files} files, ${listing.dirs} directories, ${listing.bytes} bytes)${file.listings ? `; ${file.listings.verifiedBlocks} gzip blocks decoded back to their input` : ''}`;
    if (file.volume) file.volume.entries = listing.entries;
  }
}
