/**
 * Where backups live. Every destination gets NAME.partial files first, renames them only after
 * verification and writes manifest.json last. Layout: ROOT/PROJECT/TARGET/ID/{files, manifest.json}.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, stat } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { BackupDestinationConfig } from '../compose/types.js';
import { BerthError } from '../lib/errors.js';
import { commitFile, PARTIAL_SUFFIX, removeQuietly, writeFileDurably, type WrittenFile } from './artifact.js';
import { manifestProblem } from './manifest.js';
import type { BackupManifest, NamedDestination } from './types.js';

export const MANIFEST = 'manifest.json';

export interface Destination {
  readonly name: string;
  readonly type: BackupDestinationConfig['type'];
  /** Human description, never with secrets. */
  readonly describe: string;
  /** A local directory for this backup's NAME.partial files (the final directory for local). */
  stage(relDir: string): Promise<string>;
  /** Makes verified files final (fsync, rename), then writes the manifest last. Returns the location. */
  commit(relDir: string, files: WrittenFile[], manifest: BackupManifest): Promise<string>;
  /** Removes a backup (failed or pruned) and its staging. */
  remove(relDir: string): Promise<void>;
  /** A local path to read one file of a backup from. */
  fetch(relDir: string, name: string): Promise<{ path: string; cleanup(): Promise<void> }>;
  readManifest(relDir: string): Promise<BackupManifest | undefined>;
  /** Every backup directory under PROJECT/TARGET/ID (of one project, or of all), with its manifest. */
  scan(project?: string): Promise<ScannedBackup[]>;
  close(): Promise<void>;
}

/** A backup directory found at a destination: complete (with its manifest) or not. */
export interface ScannedBackup {
  relDir: string;
  manifest?: BackupManifest;
  /** No manifest (incomplete or being written), or one that fails its own checksum. */
  problem?: string;
}

/** Walks PROJECT/TARGET/ID below a root with the given directory lister (local or SFTP). */
async function scanTree(list: (relDir: string) => Promise<string[]>, read: (relDir: string) => Promise<unknown>, project?: string): Promise<ScannedBackup[]> {
  const found: ScannedBackup[] = [];
  const projects = project ? [project] : (await list('')).filter((n) => !n.startsWith('.'));
  for (const p of projects) {
    for (const target of await list(p)) {
      for (const id of await list(posix.join(p, target))) {
        const relDir = posix.join(p, target, id);
        const manifest = await read(relDir).catch(() => undefined);
        if (manifest === undefined) {
          found.push({ relDir, problem: 'no manifest.json: incomplete, or still being written' });
          continue;
        }
        const problem = manifestProblem(manifest, id);
        found.push(problem ? { relDir, problem } : { relDir, manifest: manifest as BackupManifest });
      }
    }
  }
  return found;
}

export function backupRelDir(project: string, target: string, id: string): string {
  return posix.join(project, target, id);
}

export class LocalDestination implements Destination {
  readonly type = 'local' as const;
  readonly describe: string;

  constructor(readonly name: string, readonly root: string) {
    this.describe = `local directory ${root}`;
  }

  async stage(relDir: string): Promise<string> {
    const dir = join(this.root, relDir);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    return dir;
  }

  async commit(relDir: string, files: WrittenFile[], manifest: BackupManifest): Promise<string> {
    const dir = join(this.root, relDir);
    for (const file of files) await commitFile(file.partialPath, join(dir, file.name));
    await writeFileDurably(join(dir, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
    return dir;
  }

  async remove(relDir: string): Promise<void> {
    await removeQuietly(join(this.root, relDir));
  }

  async fetch(relDir: string, name: string) {
    return { path: join(this.root, relDir, name), cleanup: async () => undefined };
  }

  async readManifest(relDir: string): Promise<BackupManifest | undefined> {
    try {
      return JSON.parse(await readFile(join(this.root, relDir, MANIFEST), 'utf8')) as BackupManifest;
    } catch {
      return undefined;
    }
  }

  async scan(project?: string): Promise<ScannedBackup[]> {
    const list = async (relDir: string) => {
      const entries = await readdir(join(this.root, relDir), { withFileTypes: true }).catch((error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return [];
        throw new BerthError(`cannot list ${join(this.root, relDir)}: ${error.message}`);
      });
      return entries.filter((e) => e.isDirectory()).map((e) => e.name).sort();
    };
    return scanTree(list, async (relDir) => JSON.parse(await readFile(join(this.root, relDir, MANIFEST), 'utf8')) as unknown, project);
  }

  async close(): Promise<void> {}
}

/**
 * SFTP to an OpenSSH server: files are staged and verified locally (in the state directory),
 * then uploaded as NAME.partial, fsynced (fsync@openssh.com), size-checked and renamed;
 * the manifest goes last.
 */
export class SftpDestination implements Destination {
  readonly type = 'sftp' as const;
  readonly describe: string;
  private connection: Promise<{ client: import('ssh2').Client; sftp: import('ssh2').SFTPWrapper }> | undefined;

  constructor(
    readonly name: string,
    private readonly config: Extract<BackupDestinationConfig, { type: 'sftp' }>,
    private readonly stagingRoot: string,
  ) {
    this.describe = `sftp://${config.user}@${config.host}:${config.port}${config.path}`;
  }

  private async connect() {
    this.connection ??= (async () => {
      const { Client } = await import('ssh2');
      const privateKey = this.config.identityFile ? await readFile(this.config.identityFile) : undefined;
      const password = this.config.passwordFile ? (await readFile(this.config.passwordFile, 'utf8')).trim() : undefined;
      const client = new Client();
      // ssh2 may emit more than one error (e.g. "connection lost" after a failed handshake).
      client.on('error', () => undefined);
      await new Promise<void>((resolve, reject) => {
        client.once('ready', resolve).once('error', reject).connect({ host: this.config.host, port: this.config.port, username: this.config.user, privateKey, password, readyTimeout: 15_000 });
      }).catch((error: Error) => {
        this.connection = undefined;
        client.end();
        throw new BerthError(`cannot connect to ${this.describe}: ${error.message}`);
      });
      const sftp = await new Promise<import('ssh2').SFTPWrapper>((resolve, reject) => client.sftp((error, s) => (error ? reject(error) : resolve(s))));
      return { client, sftp };
    })();
    return this.connection;
  }

  private remote(relDir: string, name = ''): string {
    return posix.join(this.config.path, relDir, name);
  }

  async stage(relDir: string): Promise<string> {
    const dir = join(this.stagingRoot, relDir);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    return dir;
  }

  private async mkdirp(sftp: import('ssh2').SFTPWrapper, dir: string): Promise<void> {
    let path = dir.startsWith('/') ? '/' : '';
    for (const part of dir.split('/').filter(Boolean)) {
      path = posix.join(path, part);
      await new Promise<void>((resolve) => sftp.mkdir(path, () => resolve()));
    }
  }

  private async upload(sftp: import('ssh2').SFTPWrapper, localPath: string, remotePath: string): Promise<void> {
    const partial = remotePath + PARTIAL_SUFFIX;
    await pipeline(createReadStream(localPath), sftp.createWriteStream(partial, { mode: 0o600 }));
    const { size } = await stat(localPath);
    const remoteSize = await new Promise<number>((resolve, reject) => sftp.stat(partial, (error, s) => (error ? reject(error) : resolve(s.size))));
    if (remoteSize !== size) throw new BerthError(`upload of ${posix.basename(remotePath)} is incomplete: ${remoteSize} of ${size} bytes`);
    await new Promise<void>((resolve, reject) =>
      sftp.open(partial, 'r+', (error, handle) => {
        if (error) return reject(error);
        sftp.ext_openssh_fsync(handle, (syncError) => sftp.close(handle, () => (syncError ? reject(syncError) : resolve())));
      }),
    );
    await new Promise<void>((resolve, reject) => sftp.ext_openssh_rename(partial, remotePath, (error) => (error ? reject(error) : resolve())));
  }

  async commit(relDir: string, files: WrittenFile[], manifest: BackupManifest): Promise<string> {
    const { sftp } = await this.connect();
    const dir = this.remote(relDir);
    try {
      await this.mkdirp(sftp, dir);
      for (const file of files) await this.upload(sftp, file.partialPath, posix.join(dir, file.name));
      const manifestPath = join(this.stagingRoot, relDir, MANIFEST);
      await writeFileDurably(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
      await this.upload(sftp, manifestPath, posix.join(dir, MANIFEST));
    } catch (error) {
      throw error instanceof BerthError ? error : new BerthError(`cannot upload to ${this.describe}: ${(error as Error).message}`, { cause: error });
    }
    await removeQuietly(join(this.stagingRoot, relDir));
    return `${this.describe.replace(this.config.path, '')}${dir}`;
  }

  async remove(relDir: string): Promise<void> {
    await removeQuietly(join(this.stagingRoot, relDir));
    const { sftp } = await this.connect();
    const dir = this.remote(relDir);
    const names = await new Promise<string[]>((resolve) => sftp.readdir(dir, (error, list) => resolve(error ? [] : list.map((e) => e.filename))));
    // The manifest goes first: a half-removed backup must not look complete.
    for (const name of [...names].sort((a, b) => (a === MANIFEST ? -1 : b === MANIFEST ? 1 : 0))) {
      await new Promise<void>((resolve) => sftp.unlink(posix.join(dir, name), () => resolve()));
    }
    await new Promise<void>((resolve) => sftp.rmdir(dir, () => resolve()));
  }

  async fetch(relDir: string, name: string) {
    const { sftp } = await this.connect();
    const local = join(this.stagingRoot, 'fetch', relDir, name);
    await mkdir(join(this.stagingRoot, 'fetch', relDir), { recursive: true, mode: 0o700 });
    await pipeline(sftp.createReadStream(this.remote(relDir, name)), createWriteStream(local, { mode: 0o600 }));
    return { path: local, cleanup: () => removeQuietly(local) };
  }

  async readManifest(relDir: string): Promise<BackupManifest | undefined> {
    try {
      const { path, cleanup } = await this.fetch(relDir, MANIFEST);
      try {
        return JSON.parse(await readFile(path, 'utf8')) as BackupManifest;
      } finally {
        await cleanup();
      }
    } catch {
      return undefined;
    }
  }

  async scan(project?: string): Promise<ScannedBackup[]> {
    const { sftp } = await this.connect();
    // A directory that does not exist holds nothing; any other error (permissions, a lost
    // connection) must not read as "empty", or the catalog would mark every backup missing.
    const list = (relDir: string) =>
      new Promise<string[]>((resolve, reject) =>
        sftp.readdir(this.remote(relDir), (error: (Error & { code?: number }) | undefined, entries) => {
          if (error) return error.code === 2 ? resolve([]) : reject(new BerthError(`cannot list ${this.remote(relDir)} at ${this.describe}: ${error.message}`));
          resolve(entries.filter((e) => e.attrs.isDirectory()).map((e) => e.filename).sort());
        }),
      );
    const read = async (relDir: string) => {
      const manifest = await new Promise<Buffer>((resolve, reject) => sftp.readFile(this.remote(relDir, MANIFEST), (error, data) => (error ? reject(error) : resolve(data))));
      return JSON.parse(manifest.toString('utf8')) as unknown;
    };
    return scanTree(list, read, project);
  }

  async close(): Promise<void> {
    if (!this.connection) return;
    const { client } = await this.connection.catch(() => ({ client: undefined }));
    client?.end();
    this.connection = undefined;
  }
}

export function openDestination(destination: NamedDestination, stateDir: string): Destination {
  const { config } = destination;
  switch (config.type) {
    case 'local':
      return new LocalDestination(destination.name, config.path);
    case 'sftp':
      return new SftpDestination(destination.name, config, join(stateDir, 'staging', destination.name));
    case 'restic':
      throw new BerthError(`destination ${destination.name}: restic is not supported yet; use local or sftp`);
  }
}
