/**
 * The Docker Engine API endpoints (API 1.41, Engine 20.10) as the daemon's router defines them.
 * Strict mode allows endpoints from this list only; anything else is denied as unknown.
 */

/** Body kinds the body policy inspects. */
export type BodyKind = 'container-create' | 'container-update' | 'exec-create' | 'service' | 'volume-create' | 'plugin-privileges' | 'swarm-join' | 'network-connect';
/** Query rules (query string, and form bodies): see judgeQuery in body.ts. */
export type QueryKind = 'image-create' | 'build' | 'registry-name';

/** A gate in strict env mode that must be named explicitly (these stay closed with their section on). */
export type ClosedGate = 'ALLOW_ARCHIVE' | 'ALLOW_EXPORT' | 'ALLOW_ATTACH' | 'ALLOW_IMAGES_GET' | 'ALLOW_UNLOCKKEY' | 'DEBUG';

export interface Endpoint {
  /** `METHOD /pattern`, e.g. `POST /containers/{id}/start`: the name policy files use. */
  id: string;
  method: string;
  pattern: string;
  /** First route segment: the Tecnativa section (`_ping` for /_ping). */
  section: string;
  regex: RegExp;
  /** Closed unless named explicitly. */
  closed?: ClosedGate;
  body?: BodyKind;
  /** May hijack the connection (Upgrade: tcp / raw stream). */
  hijack?: boolean;
  /** Long-lived streaming responses. */
  stream?: boolean;
  /** Parameters judged by the query rules. */
  query?: QueryKind;
  /** The body is an upload (tar archive, image): may be streamed past the bounded read. */
  upload?: boolean;
  /** Removes things: a right of its own in strict mode (DELETE=1). */
  removes?: boolean;
}

type Spec = [method: string, pattern: string, extra?: Partial<Pick<Endpoint, 'closed' | 'body' | 'hijack' | 'stream' | 'query' | 'upload' | 'removes'>>];

const SPECS: Spec[] = [
  ['GET', '/_ping'], ['HEAD', '/_ping'],
  ['GET', '/version'], ['GET', '/info'], ['GET', '/events', { stream: true }], ['GET', '/system/df'],
  ['POST', '/auth'],
  ['GET', '/containers/json'],
  ['POST', '/containers/create', { body: 'container-create' }],
  ['POST', '/containers/prune', { removes: true }],
  ['GET', '/containers/{id}/json'],
  ['GET', '/containers/{id}/top'],
  ['GET', '/containers/{id}/changes'],
  ['GET', '/containers/{id}/logs', { stream: true }],
  ['GET', '/containers/{id}/stats', { stream: true }],
  ['GET', '/containers/{id}/export', { closed: 'ALLOW_EXPORT' }],
  ['GET', '/containers/{id}/archive', { closed: 'ALLOW_ARCHIVE' }],
  ['HEAD', '/containers/{id}/archive', { closed: 'ALLOW_ARCHIVE' }],
  ['PUT', '/containers/{id}/archive', { closed: 'ALLOW_ARCHIVE', upload: true }],
  ['GET', '/containers/{id}/attach/ws', { closed: 'ALLOW_ATTACH', hijack: true }],
  ['POST', '/containers/{id}/attach', { hijack: true }],
  ['POST', '/containers/{id}/start'],
  ['POST', '/containers/{id}/stop'],
  ['POST', '/containers/{id}/restart'],
  ['POST', '/containers/{id}/kill'],
  ['POST', '/containers/{id}/pause'],
  ['POST', '/containers/{id}/unpause'],
  ['POST', '/containers/{id}/wait', { stream: true }],
  ['POST', '/containers/{id}/resize'],
  ['POST', '/containers/{id}/rename'],
  ['POST', '/containers/{id}/update', { body: 'container-update' }],
  ['POST', '/containers/{id}/exec', { body: 'exec-create' }],
  ['DELETE', '/containers/{id}', { removes: true }],
  ['GET', '/exec/{id}/json'],
  ['POST', '/exec/{id}/start', { hijack: true, stream: true }],
  ['POST', '/exec/{id}/resize'],
  ['POST', '/commit'],
  ['GET', '/images/json'],
  ['GET', '/images/search'],
  ['GET', '/images/get', { closed: 'ALLOW_IMAGES_GET' }],
  ['GET', '/images/{name}/get', { closed: 'ALLOW_IMAGES_GET' }],
  ['GET', '/images/{name}/history'],
  ['GET', '/images/{name}/json'],
  ['POST', '/images/create', { stream: true, query: 'image-create', upload: true }],
  ['POST', '/images/load', { stream: true, upload: true }],
  ['POST', '/images/prune', { removes: true }],
  ['POST', '/images/{name}/push', { stream: true, query: 'registry-name' }],
  ['POST', '/images/{name}/tag'],
  ['DELETE', '/images/{name}', { removes: true }],
  ['POST', '/build', { stream: true, query: 'build', upload: true }], ['POST', '/build/prune', { removes: true }], ['POST', '/build/cancel'],
  ['POST', '/session', { hijack: true }],
  ['POST', '/grpc', { hijack: true }],
  ['GET', '/distribution/{name}/json', { query: 'registry-name' }],
  ['GET', '/volumes'],
  ['GET', '/volumes/{id}'],
  ['POST', '/volumes/create', { body: 'volume-create' }],
  ['POST', '/volumes/prune', { removes: true }],
  ['DELETE', '/volumes/{id}', { removes: true }],
  ['GET', '/networks'],
  ['GET', '/networks/{id}'],
  ['POST', '/networks/create'],
  ['POST', '/networks/{id}/connect', { body: 'network-connect' }],
  ['POST', '/networks/{id}/disconnect'],
  ['POST', '/networks/prune', { removes: true }],
  ['DELETE', '/networks/{id}', { removes: true }],
  ['GET', '/swarm'],
  ['GET', '/swarm/unlockkey', { closed: 'ALLOW_UNLOCKKEY' }],
  ['POST', '/swarm/init'],
  ['POST', '/swarm/join', { body: 'swarm-join' }],
  ['POST', '/swarm/leave'],
  ['POST', '/swarm/update'],
  ['POST', '/swarm/unlock'],
  ['GET', '/services'],
  ['GET', '/services/{id}'],
  ['GET', '/services/{id}/logs', { stream: true }],
  ['POST', '/services/create', { body: 'service' }],
  ['POST', '/services/{id}/update', { body: 'service' }],
  ['DELETE', '/services/{id}', { removes: true }],
  ['GET', '/tasks'],
  ['GET', '/tasks/{id}'],
  ['GET', '/tasks/{id}/logs', { stream: true }],
  ['GET', '/nodes'],
  ['GET', '/nodes/{id}'],
  ['POST', '/nodes/{id}/update'],
  ['DELETE', '/nodes/{id}', { removes: true }],
  ['GET', '/secrets'], ['GET', '/secrets/{id}'], ['POST', '/secrets/create'], ['POST', '/secrets/{id}/update'], ['DELETE', '/secrets/{id}', { removes: true }],
  ['GET', '/configs'], ['GET', '/configs/{id}'], ['POST', '/configs/create'], ['POST', '/configs/{id}/update'], ['DELETE', '/configs/{id}', { removes: true }],
  ['GET', '/plugins'],
  ['GET', '/plugins/privileges'],
  ['GET', '/plugins/{name}/json'],
  ['POST', '/plugins/pull', { body: 'plugin-privileges', stream: true }],
  ['POST', '/plugins/create', { upload: true }],
  ['POST', '/plugins/{name}/enable'],
  ['POST', '/plugins/{name}/disable'],
  ['POST', '/plugins/{name}/push', { stream: true }],
  ['POST', '/plugins/{name}/upgrade', { body: 'plugin-privileges', stream: true }],
  ['POST', '/plugins/{name}/set', { body: 'plugin-privileges' }],
  ['DELETE', '/plugins/{name}', { removes: true }],
  ['GET', '/debug/pprof/{name}', { closed: 'DEBUG' }],
  ['GET', '/debug/vars', { closed: 'DEBUG' }],
];

function compile(pattern: string): RegExp {
  // {id}: one segment. {name}: image/plugin references, which contain slashes (the daemon's {name:.*}).
  const source = pattern
    .split('/')
    .map((part) => (part === '{id}' ? '[^/]+' : part === '{name}' ? '[^/]+(?:/[^/]+)*' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('/');
  return new RegExp(`^${source}$`);
}

export const ENDPOINTS: readonly Endpoint[] = SPECS.map(([method, pattern, extra]) => ({
  id: `${method} ${pattern}`,
  method,
  pattern,
  section: pattern.split('/')[1]!,
  regex: compile(pattern),
  ...extra,
}));

const BY_ID = new Map(ENDPOINTS.map((e) => [e.id, e]));

export function endpointById(id: string): Endpoint | undefined {
  return BY_ID.get(id.trim().replace(/\s+/, ' '));
}

// Index by method and first segment, keeping the table's order within each bucket.
const INDEX = new Map<string, Endpoint[]>();
for (const e of ENDPOINTS) {
  const key = `${e.method} ${e.section}`;
  INDEX.set(key, [...(INDEX.get(key) ?? []), e]);
}

/** The endpoint a canonical route (no version prefix) and method address, if any. */
export function matchEndpoint(method: string, route: string): Endpoint | undefined {
  const slash = route.indexOf('/', 1);
  const section = slash < 0 ? route.slice(1) : route.slice(1, slash);
  for (const e of INDEX.get(`${method} ${section}`) ?? []) if (e.regex.test(route)) return e;
  return undefined;
}

/** Same as matchEndpoint but ignores the method: which endpoint the route names (for HEAD→GET etc). */
export function matchRoute(route: string): Endpoint[] {
  return ENDPOINTS.filter((e) => e.regex.test(route));
}
