/**
 * A request head and everything the proxy derives from its bytes alone: the parsed head, the
 * canonical target, the head forwarded for a body-less request, and the audit line's fields.
 * All of it is a pure function of the bytes, so identical heads (a client polls the same endpoint
 * on keep-alive, each request byte for byte the same) are parsed once: a bounded cache keyed by
 * the exact bytes. Nothing that depends on the client or the policy is cached: every request is
 * still judged. The cached objects are frozen, so no request can change what another one sees.
 */
import { auditHeaders, auditQuery } from './audit.js';
import { parseRequestHeadText, serializeRequestHead, type RequestHead } from './http.js';
import { canonicalTarget, type PathResult } from './path.js';

export interface ParsedRequest {
  head: RequestHead;
  target: PathResult;
  /** The path as sent, without the query (what the audit logs for a refused target). */
  rawPath: string;
  /** The query as the audit logs it, credentials redacted. */
  query: string | undefined;
  headersForLog: Record<string, string> | undefined;
  /** The head to forward when there is no body and no upgrade (canonical target, our framing). */
  forwardWithoutBody: Buffer | undefined;
}

/** Heads longer than this are parsed every time (a real client's are a few hundred bytes). */
const CACHED_HEAD_BYTES = 2048;
/** Entries; when full the cache starts over (bounded memory whatever heads arrive). */
const CACHE_ENTRIES = 512;
const cache = new Map<string, ParsedRequest>();

/** Parses a request head (throws HttpError as parseRequestHead does); identical heads once. */
export function parseRequest(buf: Buffer, headLength: number): ParsedRequest {
  const text = buf.toString('latin1', 0, headLength - 4);
  const hit = cache.get(text);
  if (hit) return hit;
  const head = parseRequestHeadText(text, headLength);
  const q = head.target.indexOf('?');
  const target = canonicalTarget(head.target);
  const parsed: ParsedRequest = {
    head,
    target,
    rawPath: q < 0 ? head.target : head.target.slice(0, q),
    query: q < 0 ? undefined : auditQuery(head.target.slice(q + 1)),
    headersForLog: auditHeaders(head.headers),
    forwardWithoutBody: target.ok && head.framing.kind === 'none' && head.upgrade === undefined ? serializeRequestHead(head, target.target, { length: 0 }) : undefined,
  };
  deepFreeze(parsed);
  if (headLength <= CACHED_HEAD_BYTES) {
    if (cache.size >= CACHE_ENTRIES) cache.clear();
    cache.set(text, parsed);
  }
  return parsed;
}

/** Entries now (for the tests). */
export function parsedRequestCacheSize(): number { return cache.size; }

function deepFreeze(value: unknown): void {
  if (value === null || typeof value !== 'object' || Object.isFrozen(value) || Buffer.isBuffer(value)) return;
  Object.freeze(value);
  for (const v of Object.values(value)) deepFreeze(v);
}
