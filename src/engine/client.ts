import { readFileSync } from 'node:fs';
import './defer.js';
import Docker from 'dockerode';
import { BerthError, ExitCode } from '../lib/errors.js';

/**
 * The one Docker Engine client of berth. Every capability talks to the engine through
 * an Engine; nothing else constructs dockerode.
 */
export interface EngineOptions {
  /** DOCKER_HOST-style address: unix:///path, tcp://host:port, ssh://user@host. Default: DOCKER_HOST or the local socket. */
  host?: string;
  /** Pin an API version; by default the client negotiates with the daemon. */
  apiVersion?: string;
}

export interface EngineVersion {
  version: string;
  apiVersion: string;
  minApiVersion: string;
  os: string;
  arch: string;
}

/** The API version berth speaks at most; older daemons (20.10 = 1.41) get their own. */
export const MAX_API_VERSION = '1.47';

export class Engine {
  readonly docker: Docker;
  readonly host: string;
  private negotiated: EngineVersion | undefined;

  private constructor(docker: Docker, host: string) {
    this.docker = docker;
    this.host = host;
  }

  /** Connects and negotiates the API version (min of the daemon's and ours). */
  static async connect(options: EngineOptions = {}): Promise<Engine> {
    const host = options.host ?? process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock';
    const probe = new Engine(new Docker(dockerodeOptions(host)), host);
    const version = await probe.call('read the engine version', () => probe.docker.version());
    const apiVersion = options.apiVersion ?? minVersion(version.ApiVersion, MAX_API_VERSION);
    const engine = new Engine(new Docker({ ...dockerodeOptions(host), version: `v${apiVersion}` }), host);
    engine.negotiated = {
      version: version.Version,
      apiVersion,
      minApiVersion: version.MinAPIVersion ?? apiVersion,
      os: version.Os,
      arch: version.Arch,
    };
    return engine;
  }

  get version(): EngineVersion {
    if (!this.negotiated) throw new BerthError('engine not connected');
    return this.negotiated;
  }

  /** Runs an engine call, turning failures into one-line BerthErrors that say what was attempted. */
  async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      throw explainEngineError(error, this.host, what);
    }
  }

  async ping(): Promise<void> {
    await this.call('ping the engine', () => this.docker.ping());
  }

  /** Containers with the given labels (key or key=value), stopped ones included. */
  async listContainers(labels: string[], all = true): Promise<Docker.ContainerInfo[]> {
    return this.call('list containers', () => this.docker.listContainers({ all, filters: { label: labels } }));
  }

  async inspectContainer(id: string): Promise<Docker.ContainerInspectInfo> {
    return this.call(`inspect container ${shortId(id)}`, () => this.docker.getContainer(id).inspect());
  }

  /** Inspects an image; undefined when it does not exist. */
  async inspectImage(ref: string): Promise<Docker.ImageInspectInfo | undefined> {
    try {
      return await this.docker.getImage(ref).inspect();
    } catch (error) {
      if (statusCode(error) === 404) return undefined;
      throw explainEngineError(error, this.host, `inspect image ${ref}`);
    }
  }
}

export function dockerodeOptions(host: string): Docker.DockerOptions {
  const url = parseHost(host);
  switch (url.protocol) {
    case 'unix:':
      return { socketPath: url.pathname };
    case 'tcp:':
    case 'http:':
    case 'https:': {
      const tls = url.protocol === 'https:' || process.env.DOCKER_TLS_VERIFY === '1';
      const certPath = process.env.DOCKER_CERT_PATH;
      return {
        host: url.hostname,
        port: Number(url.port || (tls ? 2376 : 2375)),
        protocol: tls ? 'https' : 'http',
        ...(tls && certPath ? tlsFiles(certPath) : {}),
      };
    }
    case 'ssh:':
      return {
        host: url.hostname,
        port: Number(url.port || 22),
        protocol: 'ssh',
        username: url.username || undefined,
        sshOptions: { agent: process.env.SSH_AUTH_SOCK },
      } as Docker.DockerOptions;
    default:
      throw new BerthError(`unsupported DOCKER_HOST "${host}": use unix://, tcp:// or ssh://`);
  }
}

function parseHost(host: string): URL {
  try {
    return new URL(host.includes('://') ? host : `unix://${host}`);
  } catch {
    throw new BerthError(`invalid DOCKER_HOST "${host}"`);
  }
}

function tlsFiles(certPath: string): Partial<Docker.DockerOptions> {
  // Read lazily so a plain unix socket never touches the file system here.
  const read = (name: string) => readFileSyncSafe(`${certPath}/${name}`);
  return { ca: read('ca.pem'), cert: read('cert.pem'), key: read('key.pem') };
}

function readFileSyncSafe(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function minVersion(a: string, b: string): string {
  const [a1 = 0, a2 = 0] = a.split('.').map(Number);
  const [b1 = 0, b2 = 0] = b.split('.').map(Number);
  return a1 < b1 || (a1 === b1 && a2 <= b2) ? a : b;
}

/** Container ids are shortened as docker ps does; names are kept. */
export function shortId(id: string): string {
  return /^[0-9a-f]{64}$/.test(id) ? id.slice(0, 12) : id;
}

export function statusCode(error: unknown): number | undefined {
  const code = (error as { statusCode?: unknown })?.statusCode;
  return typeof code === 'number' ? code : undefined;
}

/** Turns a dockerode or socket failure into one line a person can act on. */
export function explainEngineError(error: unknown, host: string, what: string): BerthError {
  if (error instanceof BerthError) return error;
  const err = error as NodeJS.ErrnoException & { statusCode?: number; json?: { message?: string } };
  const where = `the Docker engine at ${host}`;
  switch (err?.code) {
    case 'EACCES':
    case 'EPERM':
      return new BerthError(`cannot reach ${where}: permission denied (is this user in the docker group?)`, { exitCode: ExitCode.engine, cause: error });
    case 'ENOENT':
      return new BerthError(`cannot reach ${where}: no such socket (is dockerd running?)`, { exitCode: ExitCode.engine, cause: error });
    case 'ECONNREFUSED':
      return new BerthError(`cannot reach ${where}: connection refused (is dockerd running and listening there?)`, { exitCode: ExitCode.engine, cause: error });
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new BerthError(`cannot reach ${where}: ${err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN' ? 'host not found' : 'timed out'}`, { exitCode: ExitCode.engine, cause: error });
  }
  if (typeof err?.statusCode === 'number') {
    const message = err.json?.message ?? String(err.message ?? '').replace(/^\(HTTP code \d+\)\s*\S+\s*-\s*/, '');
    return new BerthError(`cannot ${what}: ${message.trim().split('\n')[0]} (engine answered ${err.statusCode})`, { exitCode: ExitCode.engine, cause: error });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new BerthError(`cannot ${what} via ${where}: ${message.split('\n')[0]}`, { exitCode: ExitCode.engine, cause: error });
}
