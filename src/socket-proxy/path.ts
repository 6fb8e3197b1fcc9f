/**
 * Canonical request targets. The proxy decodes the target once, rejects every form the daemon
 * (Go net/url + gorilla/mux) could read differently from us, and forwards the canonical bytes it
 * judged, never the raw ones.
 */

export type PathResult =
  | { ok: true; path: string; version: string | undefined; route: string; query: string; target: string }
  | { ok: false; reason: string };

/** Characters that stay byte-identical through Go's url parsing and need no escaping in a path. */
const SAFE_PATH_CHAR = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/]$/;
const HEX = /^[0-9A-Fa-f]{2}$/;
/** SAFE_PATH_CHAR as a table over ASCII (the hot loop tests every byte of every path). */
const SAFE = new Uint8Array(128);
for (let c = 0; c < 128; c++) SAFE[c] = SAFE_PATH_CHAR.test(String.fromCharCode(c)) ? 1 : 0;

/**
 * Parses a request target (raw bytes as latin1) into its canonical form:
 * `path` the decoded path, `version` the API version prefix (`1.41`) if any, `route` the path
 * without the prefix (what routes match), `target` what is forwarded (path + `?query`).
 */
export function canonicalTarget(raw: string): PathResult {
  if (raw.length === 0) return { ok: false, reason: 'empty request target' };
  if (raw.length > 8192) return { ok: false, reason: 'request target too long' };
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) return { ok: false, reason: 'control, space or non-ASCII byte in request target' };
  }
  if (raw[0] !== '/') return { ok: false, reason: 'only origin-form request targets are accepted (absolute-form, authority-form and * are not)' };
  if (raw.includes('#')) return { ok: false, reason: 'fragment in request target' };
  if (raw.includes('\\')) return { ok: false, reason: 'backslash in request target' };
  const q = raw.indexOf('?');
  const rawPath = q < 0 ? raw : raw.slice(0, q);
  const query = q < 0 ? '' : raw.slice(q + 1);

  let path = '';
  // Without escapes the path is its own decoding: check the bytes, no rebuilding.
  if (!rawPath.includes('%')) {
    for (let i = 0; i < rawPath.length; i++) {
      if (!SAFE[rawPath.charCodeAt(i)]) return { ok: false, reason: `character ${JSON.stringify(rawPath[i])} is not allowed in a path` };
    }
    path = rawPath;
  } else for (let i = 0; i < rawPath.length; i++) {
    const ch = rawPath[i]!;
    if (ch === '%') {
      const hex = rawPath.slice(i + 1, i + 3);
      if (!HEX.test(hex)) return { ok: false, reason: 'stray % in path' };
      const decoded = String.fromCharCode(parseInt(hex, 16));
      if (decoded === '/') return { ok: false, reason: 'encoded slash in path' };
      if (decoded === '%') return { ok: false, reason: 'encoded % in path (double encoding)' };
      if (!SAFE_PATH_CHAR.test(decoded)) return { ok: false, reason: `encoded byte %${hex.toUpperCase()} is not allowed in a path` };
      path += decoded;
      i += 2;
    } else {
      if (!SAFE_PATH_CHAR.test(ch)) return { ok: false, reason: `character ${JSON.stringify(ch)} is not allowed in a path` };
      path += ch;
    }
  }
  const segments = path.split('/').slice(1);
  if (path !== '/') {
    for (const segment of segments) {
      if (segment === '') return { ok: false, reason: 'empty path segment (// or trailing /)' };
      if (segment === '.' || segment === '..') return { ok: false, reason: 'dot segment in path' };
    }
  }
  for (let i = 0; i < query.length; i++) {
    if (query[i] === '%' && !HEX.test(query.slice(i + 1, i + 3))) return { ok: false, reason: 'stray % in query' };
  }

  // The daemon's router: `/v{version:[0-9.]+}` + route. We accept only well-formed versions.
  let version: string | undefined;
  let route = path;
  const m = /^\/v([0-9.]+)(\/.*)$/.exec(path);
  if (m) {
    if (!/^[0-9]+\.[0-9]+$/.test(m[1]!)) return { ok: false, reason: `malformed API version ${m[1]}` };
    version = m[1];
    route = m[2]!;
  } else if (/^\/v[0-9.]+$/.test(path)) {
    return { ok: false, reason: 'API version prefix without a route' };
  }
  return { ok: true, path, version, route, query, target: query ? `${path}?${query}` : path };
}
