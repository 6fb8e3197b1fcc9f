/**
 * Request policy as pure functions: (request facts) → verdict. Three sources of rules:
 * - compat: Tecnativa's HAProxy rules from env variables (section prefixes, POST gate);
 * - strict env: the same variables mapped onto the endpoint list, dangerous endpoints closed;
 * - a policy file: named rules of endpoints per client network.
 */
import { BlockList, isIP } from 'node:net';
import { SECTION_VARS, type EnvConfig, type FlagVar, type SectionVar } from './config.js';
import { ENDPOINTS, endpointById, matchEndpoint, type BodyKind, type Endpoint } from './endpoints.js';
import type { BodyRules } from './body.js';

export interface RequestFacts {
  method: string;
  /** Canonical route without the version prefix, e.g. /containers/json. */
  route: string;
  /** Client address (IP) or 'unix'. */
  client: string;
}

export interface Verdict {
  allow: boolean;
  /** The rule that decided (for the audit log and metrics). */
  rule: string;
  reason: string;
  /** Body policy to run before forwarding, when allowed. */
  inspect?: BodyKind;
  endpoint?: Endpoint;
}

export interface Policy {
  mode: 'compat' | 'strict';
  decide(facts: RequestFacts): Verdict;
  /** Body rules; undefined disables body inspection (compat default). */
  body?: BodyRules;
}

const READ = new Set(['GET', 'HEAD']);

/** Tecnativa's rules, evaluated in HAProxy's order. Routes are canonical and matched case-sensitively. */
export function compatPolicy(env: EnvConfig, body?: BodyRules): Policy {
  const f = env.flags;
  const lifecycle: [RegExp, FlagVar][] = [
    [/^\/containers\/[a-zA-Z0-9_.-]+\/(stop|restart|kill)$/, 'ALLOW_RESTARTS'],
    [/^\/containers\/[a-zA-Z0-9_.-]+\/start$/, 'ALLOW_START'],
    [/^\/containers\/[a-zA-Z0-9_.-]+\/stop$/, 'ALLOW_STOP'],
  ];
  // Granted sections only, in HAProxy's order, with their route and prefix built once.
  const sections = (Object.entries(SECTION_VARS) as [SectionVar, string][]).sort((a, b) => a[0].localeCompare(b[0]))
    .filter(([name]) => f[name]).map(([name, section]) => ({ name, route: `/${section}`, prefix: `/${section}/`, verdict: { rule: name, reason: `${name}=1` } }));
  return {
    mode: 'compat',
    body,
    decide({ method, route }) {
      const endpoint = matchEndpoint(method === 'HEAD' && !matchEndpoint('HEAD', route) ? 'GET' : method, route);
      const inspect = body ? endpoint?.body : undefined;
      if (!READ.has(method) && !f.POST) return { allow: false, rule: 'POST', reason: `${method} needs POST=1` };
      for (const [re, flag] of lifecycle) {
        if (f[flag] && re.test(route)) return { allow: true, rule: flag, reason: `${flag}=1`, inspect, endpoint };
      }
      for (const s of sections) {
        if (route === s.route || route.startsWith(s.prefix)) return { allow: true, ...s.verdict, inspect, endpoint };
      }
      return { allow: false, rule: 'default', reason: 'no variable grants this path' };
    },
  };
}

/** Which env variable grants an endpoint in strict mode (besides its section). */
function strictGate(e: Endpoint): { vars: (SectionVar | FlagVar)[]; noPost?: boolean }[] {
  const gates: { vars: (SectionVar | FlagVar)[]; noPost?: boolean }[] = [];
  if (e.closed) {
    if (e.closed === 'DEBUG') return [];
    gates.push({ vars: [sectionVar(e.section)!, e.closed].filter(Boolean) as (SectionVar | FlagVar)[] });
    return gates;
  }
  if (e.id === 'POST /containers/{id}/exec') return [{ vars: ['CONTAINERS', 'EXEC'] }];
  // Removing (DELETE, prune) is a right of its own in strict mode: DELETE=1 with the section, POST not needed.
  if (e.removes) return sectionVar(e.section) ? [{ vars: [sectionVar(e.section)!, 'DELETE'], noPost: true }] : [];
  if (e.id === 'POST /containers/{id}/start') gates.push({ vars: ['ALLOW_START'], noPost: true });
  if (e.id === 'POST /containers/{id}/stop') gates.push({ vars: ['ALLOW_STOP'], noPost: true }, { vars: ['ALLOW_RESTARTS'], noPost: true });
  if (e.id === 'POST /containers/{id}/restart' || e.id === 'POST /containers/{id}/kill') gates.push({ vars: ['ALLOW_RESTARTS'], noPost: true });
  const section = sectionVar(e.section);
  if (section) gates.push({ vars: [section] });
  return gates;
}

function sectionVar(section: string): SectionVar | undefined {
  return (Object.entries(SECTION_VARS) as [SectionVar, string][]).find(([, s]) => s === section)?.[0];
}

/**
 * Tecnativa's variables mapped onto the endpoint list: sections grant their known endpoints;
 * archive, export, attach, images/get, swarm/unlockkey need their ALLOW_* as well; debug never;
 * exec create needs EXEC; ALLOW_START/STOP/RESTARTS work without POST; removing (DELETE
 * endpoints and prunes) needs DELETE=1 with the section, and POST alone does not grant it.
 */
export function strictEnvPolicy(env: EnvConfig, body?: BodyRules): Policy {
  const f = env.flags;
  // The verdict depends on the endpoint alone (the flags are fixed): decided once per endpoint.
  const verdicts = new Map<Endpoint, Verdict>();
  const decideEndpoint = (method: string, endpoint: Endpoint): Verdict => {
    for (const gate of strictGate(endpoint)) {
      if (!gate.vars.every((v) => f[v])) continue;
      if (!READ.has(endpoint.method) && !gate.noPost && !f.POST) continue;
      return { allow: true, rule: gate.vars.join('+'), reason: `${endpoint.id} granted by ${gate.vars.join('+')}`, inspect: body ? endpoint.body : undefined, endpoint };
    }
    if (endpoint.removes) return { allow: false, rule: 'DELETE', reason: `${endpoint.id} removes things: strict mode needs DELETE=1 (with ${sectionVar(endpoint.section) ?? 'its section'}=1)`, endpoint };
    // Not a read endpoint, so `method` is the endpoint's own (HEAD maps only to GET endpoints).
    if (!READ.has(endpoint.method) && !f.POST) return { allow: false, rule: 'POST', reason: `${method} needs POST=1`, endpoint };
    return { allow: false, rule: endpoint.closed ?? 'default', reason: endpoint.closed ? `${endpoint.id} stays closed unless ${endpoint.closed} is set` : `no variable grants ${endpoint.id}`, endpoint };
  };
  return {
    mode: 'strict',
    body,
    decide({ method, route }) {
      const endpoint = resolveEndpoint(method, route);
      if (!endpoint) return { allow: false, rule: 'unknown-endpoint', reason: `${method} ${route} is not a known Docker API endpoint` };
      let verdict = verdicts.get(endpoint);
      if (!verdict) verdicts.set(endpoint, (verdict = Object.freeze(decideEndpoint(method, endpoint))));
      return verdict;
    },
  };
}

/** HEAD is served by GET routes in the daemon only where a HEAD route exists; we map HEAD to GET for policy (read-only either way). */
export function resolveEndpoint(method: string, route: string): Endpoint | undefined {
  return matchEndpoint(method, route) ?? (method === 'HEAD' ? matchEndpoint('GET', route) : undefined);
}

/** A policy file (YAML or JSON). */
export interface PolicyFile {
  version?: 1;
  /** Default strict. compat evaluates `env` with Tecnativa's rules. */
  mode?: 'strict' | 'compat';
  /** Clients allowed at all (CIDR, IP, or "unix"); default: everyone. */
  clients?: string[];
  /** Tecnativa-style variables as a base layer (strict: mapped to endpoint lists). */
  env?: Record<string, string | number | boolean>;
  rules?: PolicyRule[];
  body?: Partial<BodyRules> | false;
}

export interface PolicyRule {
  name: string;
  /** CIDRs/IPs/"unix" this rule applies to; default: all clients. */
  clients?: string[];
  /** Endpoint ids (`GET /containers/{id}/json`); `*` as method means every method of the pattern. */
  endpoints?: string[];
  /** Whole sections (e.g. networks): their endpoints except closed ones. */
  sections?: string[];
  /** Restrict `sections` to these methods (default: all). */
  methods?: string[];
  /** deny rules win over allow rules. Default allow. */
  action?: 'allow' | 'deny';
}

export class PolicyError extends Error {}

export function clientMatcher(entries: string[] | undefined): ((client: string) => boolean) | undefined {
  if (!entries) return undefined;
  const list = new BlockList();
  let unix = false;
  for (const entry of entries) {
    if (entry === 'unix') { unix = true; continue; }
    const [addr, bits] = entry.split('/');
    const type = isIP(addr ?? '');
    if (!type) throw new PolicyError(`client ${JSON.stringify(entry)} is not an IP, CIDR or "unix"`);
    const family = type === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) list.addAddress(addr!, family);
    else {
      const prefix = Number(bits);
      if (!/^\d+$/.test(bits) || prefix > (type === 6 ? 128 : 32)) throw new PolicyError(`bad prefix length in ${entry}`);
      list.addSubnet(addr!, prefix, family);
    }
  }
  return (client) => {
    if (client === 'unix') return unix;
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(client)?.[1];
    const address = mapped ?? client;
    const type = isIP(address);
    return type !== 0 && list.check(address, type === 6 ? 'ipv6' : 'ipv4');
  };
}

/** Builds a policy from a parsed policy file. Unknown endpoint ids are errors, not silent no-ops. */
export function filePolicy(file: PolicyFile, base: Policy | undefined, body: BodyRules | undefined): Policy {
  if (file.version !== undefined && file.version !== 1) throw new PolicyError(`unsupported policy version ${file.version}`);
  const allowed = clientMatcher(file.clients);
  const rules = (file.rules ?? []).map((rule, index) => {
    if (!rule || typeof rule !== 'object') throw new PolicyError(`rules[${index}] is not an object`);
    const name = rule.name ?? `rules[${index}]`;
    const ids = new Set<string>();
    for (const id of rule.endpoints ?? []) {
      const [method, pattern] = id.trim().split(/\s+/);
      if (method === '*') {
        const found = ENDPOINTS.filter((e) => e.pattern === pattern);
        if (!found.length) throw new PolicyError(`${name}: unknown endpoint ${JSON.stringify(id)}`);
        found.forEach((e) => ids.add(e.id));
      } else {
        const e = endpointById(id);
        if (!e) throw new PolicyError(`${name}: unknown endpoint ${JSON.stringify(id)} (write it as the API reference does, e.g. "GET /containers/{id}/json")`);
        ids.add(e.id);
      }
    }
    const methods = rule.methods?.map((m) => m.toUpperCase());
    for (const section of rule.sections ?? []) {
      const found = ENDPOINTS.filter((e) => e.section === section.replace(/^\//, ''));
      if (!found.length) throw new PolicyError(`${name}: unknown section ${JSON.stringify(section)}`);
      for (const e of found) if (!e.closed && (!methods || methods.includes(e.method))) ids.add(e.id);
    }
    if (rule.action !== undefined && rule.action !== 'allow' && rule.action !== 'deny') throw new PolicyError(`${name}: action must be allow or deny`);
    return { name, action: rule.action ?? 'allow', ids, clients: clientMatcher(rule.clients) };
  });
  const mode = file.mode ?? 'strict';
  return {
    mode,
    body,
    decide(facts) {
      if (allowed && !allowed(facts.client)) return { allow: false, rule: 'clients', reason: `client ${facts.client} is not in the policy's client list` };
      const endpoint = resolveEndpoint(facts.method, facts.route);
      const inspect = body ? endpoint?.body : undefined;
      if (endpoint) {
        const applicable = rules.filter((r) => r.ids.has(endpoint.id) && (!r.clients || r.clients(facts.client)));
        const deny = applicable.find((r) => r.action === 'deny');
        if (deny) return { allow: false, rule: deny.name, reason: `${endpoint.id} denied by rule ${deny.name}`, endpoint };
        const allow = applicable.find((r) => r.action === 'allow');
        if (allow) return { allow: true, rule: allow.name, reason: `${endpoint.id} allowed by rule ${allow.name}`, inspect, endpoint };
      }
      if (base) {
        const v = base.decide(facts);
        return v.allow ? { ...v, inspect: body ? (v.endpoint?.body ?? endpoint?.body) : undefined, rule: `env:${v.rule}` } : { ...v, rule: `env:${v.rule}` };
      }
      if (!endpoint) return { allow: false, rule: 'unknown-endpoint', reason: `${facts.method} ${facts.route} is not a known Docker API endpoint` };
      return { allow: false, rule: 'default', reason: `no rule allows ${endpoint.id}` };
    },
  };
}
