import { readFileSync } from 'node:fs';
import type { IncomingHttpHeaders, RequestOptions } from 'node:http';
import { createRequire } from 'node:module';
import type Docker from 'dockerode';
import { BerthError, ExitCode } from '../lib/errors.js';
import { deferHeavyDockerodeModules } from './lazy-deps.js';

const require = createRequire(import.meta.url);

/**
 * The one Docker Engine client of berth. Every capability talks to the engine through
 * an Engine; nothing else constructs dockerode.
 */
export interface EngineOptions {
  /** DOCKER_HOST-style address: unix:///path, tcp://host:port, ssh://user@host. Default: DOCKER_HOST or the local socket. */
  host?: string;
  /** Pin an API version; by default the client negotiates with the daemon. */
  apiVersion?: string;
  /**
   * Read the daemon's version details (GET /version, which asks containerd and runc and takes
   * ~10 ms on Engine 20.10) for `engine.version`. With false only the API version is negotiated,
   * from the headers of GET /_ping (<1 ms) as the docker CLI does; `engine.version` then throws
   * and `engine.apiVersion` is what is known. Default true.
   */
  details?: boolean;
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
  readonly host: string;
  private readonly options: Docker.DockerOptions;
  private dockerode: Docker | undefined;
  private negotiated: EngineVersion | undefined;
  private negotiatedApiVersion: string | undefined;

  private constructor(host: string, options: Docker.DockerOptions) {
    this.host = host;
    this.options = options;
  }

  /**
   * The dockerode client for everything beyond the few reads below, created on first use:
   * loading dockerode (and docker-modem, tar-fs, ...) is the largest part of a cold start that
   * `berth status` would otherwise pay without needing it.
   */
  get docker(): Docker {
    if (!this.dockerode) {
      deferHeavyDockerodeModules();
      const Dockerode = require('dockerode') as typeof Docker;
      this.dockerode = new Dockerode(this.options);
    }
    return this.dockerode;
  }

  /** Connects and negotiates the API version (min of the daemon's and ours). */
  static async connect(options: EngineOptions = {}): Promise<Engine> {
    const host = options.host ?? process.env.DOCKER_HOST ?? 'unix:///var/run/docker.sock';
    const probe = new Engine(host, dockerodeOptions(host));
    const pinged = options.details === false ? await probe.call('read the engine version', () => probe.pingApiVersion()) : undefined;
    const version = pinged === undefined ? await probe.call('read the engine version', () => probe.get<Docker.DockerVersion>('/version', VERSION_STATUS, () => probe.docker.version())) : undefined;
    const apiVersion = options.apiVersion ?? minVersion((pinged ?? version!.ApiVersion), MAX_API_VERSION);
    const engine = new Engine(host, { ...probe.options, version: `v${apiVersion}` });
    engine.negotiatedApiVersion = apiVersion;
    if (version) {
      engine.negotiated = {
        version: version.Version,
        apiVersion,
        minApiVersion: version.MinAPIVersion ?? apiVersion,
        os: version.Os,
        arch: version.Arch,
      };
    }
    return engine;
  }

  get version(): EngineVersion {
    if (!this.negotiated) throw new BerthError(this.negotiatedApiVersion ? 'engine version details not read (connected with details: false)' : 'engine not connected');
    return this.negotiated;
  }

  /** The API version every request is sent under. */
  get apiVersion(): string {
    if (!this.negotiatedApiVersion) throw new BerthError('engine not connected');
    return this.negotiatedApiVersion;
  }

  /** The daemon's API version from the Api-Version header of GET /_ping; undefined when it sends none. */
  private async pingApiVersion(): Promise<string | undefined> {
    const transport = directTransport(this.options);
    if (!transport) return undefined;
    const { headers } = await this.send('/_ping', PING_STATUS, transport);
    const header = headers['api-version'];
    return typeof header === 'string' && /^\d+\.\d+$/.test(header) ? header : undefined;
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
  /**
   * Engine events of these containers as they happen, each JSON line parsed; close() ends the
   * subscription. Rejects when the engine (or a socket proxy) refuses events.
   */
  async containerEvents(ids: string[], onEvent: (event: EngineEvent) => void): Promise<{ close(): void }> {
    const stream = (await this.call('subscribe to engine events', () => this.docker.getEvents({ filters: { type: ['container'], container: ids } }))) as NodeJS.ReadableStream & { destroy?: () => void };
    let buffer = '';
    stream.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      let nl: number;
      while ((nl = buffer.indexOf('\n')) !== -1) {
        const line = buffer.slice(0, nl).trim();
        buffer = buffer.slice(nl + 1);
        if (!line) continue;
        try {
          onEvent(JSON.parse(line) as EngineEvent);
        } catch {
          // A partial or foreign line: events are whole JSON objects.
        }
      }
    });
    stream.on('error', () => undefined);
    return { close: () => stream.destroy?.() };
  }

  async listContainers(labels: string[], all = true): Promise<Docker.ContainerInfo[]> {
    const query = { all, filters: { label: labels } };
    return this.call('list containers', () =>
      this.get<Docker.ContainerInfo[]>(`/containers/json?all=${all}&filters=${encodeURIComponent(JSON.stringify(query.filters))}`, LIST_STATUS, () => this.docker.listContainers(query)),
    );
  }

  async inspectContainer(id: string): Promise<Docker.ContainerInspectInfo> {
    return this.call(`inspect container ${shortId(id)}`, () => this.get<Docker.ContainerInspectInfo>(`/containers/${id}/json`, CONTAINER_STATUS, () => this.docker.getContainer(id).inspect()));
  }

  /** Inspects an image; undefined when it does not exist. */
  async inspectImage(ref: string): Promise<Docker.ImageInspectInfo | undefined> {
    try {
      return await this.get<Docker.ImageInspectInfo>(`/images/${ref}/json`, IMAGE_STATUS, () => this.docker.getImage(ref).inspect());
    } catch (error) {
      if (statusCode(error) === 404) return undefined;
      throw explainEngineError(error, this.host, `inspect image ${ref}`);
    }
  }

  /**
   * A GET whose JSON answer is the result, sent directly (node:net on a unix socket, node:http(s)
   * on tcp; the same request and the same error shape as dockerode's), so the read-only paths
   * never load dockerode; ssh:// hosts go through dockerode (`viaDockerode`).
   */
  private async get<T>(path: string, reasons: Record<number, string>, viaDockerode: () => Promise<T>): Promise<T> {
    const transport = directTransport(this.options);
    if (!transport) return viaDockerode();
    const { json, text } = await this.send(this.options.version ? `/${this.options.version}${path}` : path, reasons, transport);
    return (json ?? text) as T;
  }

  private async send(path: string, reasons: Record<number, string>, transport: DirectTransport): Promise<{ json: unknown; text: string; headers: IncomingHttpHeaders }> {
    const { status, headers, body } = transport.options.socketPath !== undefined ? await getOverUnixSocket(transport.options.socketPath, path) : await getOverHttp(transport, path);
    const text = body.toString();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (status >= 200 && status < 300) return { json, text, headers };
    // As docker-modem words it: "(HTTP code 404) no such container - No such container: x ".
    const cause = (json as { message?: string } | undefined)?.message ?? text;
    throw Object.assign(new Error(`(HTTP code ${status}) ${reasons[status] ?? 'unexpected'} - ${cause} `), { reason: reasons[status], statusCode: status, json: json ?? body });
  }
}

interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

function getOverHttp(transport: DirectTransport, path: string): Promise<RawResponse> {
  const { request } = require(transport.https ? 'node:https' : 'node:http') as typeof import('node:http');
  return new Promise((resolve, reject) => {
    const req = request({ ...transport.options, path, method: 'GET', headers: {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * One GET on the engine's unix socket as HTTP/1.0: the engine answers and closes, so the body is
 * everything up to the end. node:net instead of node:http: a cold process's first request
 * through node:http costs ~10 ms of loading and warming its client, this ~3 ms.
 */
function getOverUnixSocket(socketPath: string, path: string): Promise<RawResponse> {
  if (/[^\x21-\x7e]/.test(path)) return Promise.reject(Object.assign(new TypeError('Request path contains unescaped characters'), { code: 'ERR_UNESCAPED_CHARACTERS' }));
  const { connect } = require('node:net') as typeof import('node:net');
  return new Promise((resolve, reject) => {
    const socket = connect(socketPath);
    const chunks: Buffer[] = [];
    let settled = false;
    const settle = (fn: () => void) => {
      if (!settled) {
        settled = true;
        fn();
      }
    };
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', (error) => settle(() => reject(error)));
    socket.on('end', () => settle(() => {
      try {
        resolve(parseHttpResponse(Buffer.concat(chunks)));
      } catch (error) {
        reject(error);
      }
    }));
    socket.on('close', () => settle(() => reject(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }))));
    socket.write(`GET ${path} HTTP/1.0\r\nHost: localhost\r\n\r\n`);
  });
}

/** Status, headers (lower-case names) and body of a complete HTTP/1.x response. */
export function parseHttpResponse(raw: Buffer): RawResponse {
  const end = raw.indexOf('\r\n\r\n');
  const [statusLine = '', ...lines] = (end < 0 ? '' : raw.subarray(0, end).toString('latin1')).split('\r\n');
  const match = /^HTTP\/\d\.\d (\d{3})/.exec(statusLine);
  if (!match) throw Object.assign(new Error('malformed HTTP response from the engine'), { code: 'HPE_INVALID_CONSTANT' });
  const headers: IncomingHttpHeaders = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  let body = raw.subarray(end + 4);
  if (/\bchunked\b/i.test(String(headers['transfer-encoding'] ?? ''))) body = dechunk(body);
  else if (headers['content-length'] !== undefined) body = body.subarray(0, Number(headers['content-length']));
  return { status: Number(match[1]), headers, body };
}

function dechunk(data: Buffer): Buffer {
  const parts: Buffer[] = [];
  for (let at = 0; at < data.length; ) {
    const lineEnd = data.indexOf('\r\n', at);
    if (lineEnd < 0) break;
    const size = parseInt(data.subarray(at, lineEnd).toString('latin1'), 16);
    if (!(size > 0)) break;
    parts.push(data.subarray(lineEnd + 2, lineEnd + 2 + size));
    at = lineEnd + 2 + size + 2;
  }
  return Buffer.concat(parts);
}

const VERSION_STATUS = { 500: 'server error' };
const PING_STATUS = { 500: 'server error' };
const LIST_STATUS = { 400: 'bad parameter', 500: 'server error' };
const CONTAINER_STATUS = { 404: 'no such container', 500: 'server error' };
const IMAGE_STATUS = { 404: 'no such image', 500: 'server error' };

/** How to reach the engine without dockerode: unix socket, http or https (with the TLS files); undefined for ssh. */
interface DirectTransport {
  https: boolean;
  options: RequestOptions & { ca?: unknown; cert?: unknown; key?: unknown };
}

function directTransport(options: Docker.DockerOptions): DirectTransport | undefined {
  if (options.socketPath !== undefined) return { https: false, options: { socketPath: String(options.socketPath) } };
  if (options.protocol === 'http' || options.protocol === 'https') {
    return { https: options.protocol === 'https', options: { host: options.host, port: options.port, ca: options.ca, cert: options.cert, key: options.key } };
  }
  return undefined;
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

/** One engine event (GET /events), the fields berth reads. */
export interface EngineEvent {
  Action?: string;
  status?: string;
  timeNano?: number;
  time?: number;
  Actor?: { ID?: string; Attributes?: Record<string, string> };
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
