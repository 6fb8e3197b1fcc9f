/**
 * The reverse proxy's own configuration, as far as a rollout depends on it: the nginx and HAProxy
 * config files a proxy service bind-mounts, read for the two settings docs/proxies.md measured.
 * - An upstream named by a service name and never re-resolved (nginx `proxy_pass http://app:3000`,
 *   an `upstream` server without `resolve`; HAProxy `server` without `resolvers`) keeps the old
 *   replicas' addresses after a rollout: every request fails once they are gone.
 * - A connect timeout of 1 s or less gives up before the SYN's retransmit (1 s) that reaches a
 *   replica during its ~50 ms reconnect when it leaves DNS.
 * Parsing is line by line and pure; collecting reads the files through the injected reader.
 */
import { isAbsolute, resolve } from 'node:path';
import type { ComposeProject } from '../compose/types.js';
import { imageRef, mounts } from './rules/util.js';

export interface ProxyConfig {
  service: string;
  kind: 'nginx' | 'haproxy';
  file: string;
  text: string;
}

/** What a proxy config line does that a rollout cannot work with. */
export interface ProxyConfigIssue {
  line: number;
  /** The service name it resolves only once, or the connect timeout in ms. */
  host?: string;
  timeoutMs?: number;
}

const KINDS: Record<string, ProxyConfig['kind']> = { nginx: 'nginx', openresty: 'nginx', haproxy: 'haproxy' };

/**
 * The config files nginx and HAProxy services bind-mount (files only; a directory mount is not read).
 * One that cannot be read goes into `unread`, as an unreadable Dockerfile does.
 */
export function collectProxyConfigs(project: ComposeProject, read: (path: string) => string | undefined, unread: string[] = []): ProxyConfig[] {
  const out: ProxyConfig[] = [];
  for (const s of Object.values(project.services)) {
    const kind = KINDS[imageRef(s.image)?.base.replace(/-.*$/, '') ?? ''];
    if (!kind) continue;
    for (const m of mounts(s)) {
      if (m.type !== 'bind' || !m.source || !/\.(conf|cfg)$/.test(m.source)) continue;
      const file = isAbsolute(m.source) ? m.source : resolve(project.workingDir, m.source);
      const text = read(file);
      if (text !== undefined) out.push({ service: s.name, kind, file, text });
      else unread.push(`service "${s.name}": cannot read ${file}, proxy config rules skipped`);
    }
  }
  return out;
}

/** Lines without comments, numbered from 1. */
function lines(text: string): Array<{ line: number; code: string }> {
  return text.split('\n').map((raw, i) => ({ line: i + 1, code: raw.replace(/#.*$/, '').trim() }));
}

/** The host of an upstream address: `http://app:3000/x` → app, `app:3000` → app. */
function hostOf(address: string): string {
  return address.replace(/^[a-z]+:\/\//i, '').replace(/[:/].*$/, '');
}

/** Upstreams named by one of `services` that the proxy resolves once, at start. */
export function staticUpstreams(config: ProxyConfig, services: Set<string>): ProxyConfigIssue[] {
  const out: ProxyConfigIssue[] = [];
  if (config.kind === 'nginx') {
    // `proxy_pass http://NAME;` naming an `upstream NAME {}` block goes to that block's servers (judged there).
    const upstreamNames = new Set([...lines(config.text)].map(({ code }) => /^upstream\s+(\S+)\s*\{/.exec(code)?.[1]).filter((n): n is string => n !== undefined));
    let inUpstream = false;
    let depth = 0;
    for (const { line, code } of lines(config.text)) {
      if (/^upstream\s+\S+\s*\{/.test(code)) { inUpstream = true; depth = 0; }
      const server = inUpstream ? /^server\s+(\S+?)(\s[^;]*)?;/.exec(code) : null;
      if (server && services.has(hostOf(server[1]!)) && !/\bresolve\b/.test(server[2] ?? '')) out.push({ line, host: hostOf(server[1]!) });
      // A URL with a variable is resolved per request through `resolver`; a literal one once.
      const pass = /^proxy_pass\s+([^;\s]+)\s*;/.exec(code);
      if (pass && !pass[1]!.includes('$') && services.has(hostOf(pass[1]!)) && !upstreamNames.has(hostOf(pass[1]!))) out.push({ line, host: hostOf(pass[1]!) });
      if (inUpstream) {
        depth += (code.match(/\{/g) ?? []).length - (code.match(/\}/g) ?? []).length;
        if (depth <= 0) inUpstream = false;
      }
    }
  } else {
    for (const { line, code } of lines(config.text)) {
      // server NAME ADDR [params] | server-template PREFIX NUM ADDR [params]
      const tokens = code.split(/\s+/);
      const at = tokens[0] === 'server' ? 2 : tokens[0] === 'server-template' ? 3 : -1;
      const host = at > 0 && tokens[at] ? hostOf(tokens[at]!) : undefined;
      if (host && services.has(host) && !tokens.slice(at + 1).includes('resolvers')) out.push({ line, host });
    }
  }
  return out;
}

/** Connect timeouts of 1 s or less (nginx: seconds unless a unit says otherwise; HAProxy: milliseconds). */
export function shortConnectTimeouts(config: ProxyConfig): ProxyConfigIssue[] {
  const out: ProxyConfigIssue[] = [];
  const pattern = config.kind === 'nginx' ? /^proxy_connect_timeout\s+(\d+)(ms|s|m)?\s*;/ : /^timeout\s+connect\s+(\d+)(us|ms|s|m)?\s*$/;
  const scale: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };
  for (const { line, code } of lines(config.text)) {
    const m = pattern.exec(code);
    if (!m) continue;
    const timeoutMs = Number(m[1]) * scale[m[2] ?? (config.kind === 'nginx' ? 's' : 'ms')]!;
    if (timeoutMs <= 1000) out.push({ line, timeoutMs });
  }
  return out;
}

/** The names a proxy could reach services by: every service but the proxy itself. */
export function serviceNames(project: ComposeProject, except: string): Set<string> {
  return new Set(Object.keys(project.services).filter((name) => name !== except));
}
