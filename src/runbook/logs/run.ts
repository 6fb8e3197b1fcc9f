/**
 * `berth logs`: one time-ordered stream across all replicas of the selected services, the last
 * lines of replicas a rollout removed included, with -f following replicas as they come and go.
 */
import { ComposeLabel, listServiceContainers, type ServiceContainer } from '../../compose/containers.js';
import type { ComposeProject } from '../../compose/types.js';
import type { Engine } from '../../engine/client.js';
import type { StateStore } from '../../state/store.js';
import { selectServices } from '../../compose/select.js';
import { byTime, engineTime, readLogs, TimeOrderedBuffer, type LogEntry, type LogSource } from './entries.js';
import { atLeast, lineLevel, parseLine, type Level, type ParsedLine } from './parse.js';
import { listRetained, type RetainedReplica } from './retain.js';

export interface LogsOptions {
  services?: string[];
  /** Normalised time (entries.ts) or undefined. */
  since?: string;
  until?: string;
  /** Lines per replica, from the end. */
  tail?: number;
  level?: Level;
  grep?: RegExp;
  follow: boolean;
  /** Include the retained last lines of removed replicas (default true). */
  removed: boolean;
}

export interface LogsPlan {
  project: string;
  services: string[];
  follow: boolean;
  sources: Array<{ kind: 'replica' | 'removed'; name: string; service: string; state: string; reason: string }>;
  filters: string[];
}

/** Pure: which replicas are read, and why. */
export function planLogs(project: ComposeProject, services: string[], containers: ServiceContainer[], retained: RetainedReplica[], options: LogsOptions): LogsPlan {
  const sources: LogsPlan['sources'] = containers.map((c) => ({
    kind: 'replica', name: c.name, service: c.service, state: c.state,
    reason: c.state === 'running' ? (options.follow ? 'running: followed until it stops' : 'running') : `${c.state}: its logs until it stopped`,
  }));
  const live = new Set(containers.map((c) => c.id));
  if (options.removed) {
    for (const r of retained) {
      if (!live.has(r.containerId)) sources.push({ kind: 'removed', name: r.container, service: r.service, state: 'removed', reason: `removed ${r.removedAt} (${r.reason ?? 'rollout'}): its last ${r.entries.length} line(s), kept by berth` });
    }
  }
  if (options.follow) sources.push({ kind: 'replica', name: '(new replicas)', service: services.join(','), state: 'future', reason: 'replicas that start while following (a rollout\'s new ones) join the stream from their first line' });
  const filters = [
    options.since && `since ${options.since}`,
    options.until && `until ${options.until}`,
    options.tail !== undefined && `last ${options.tail} line(s) per replica`,
    options.level && `level ${options.level} and above (lines without a level left out)`,
    options.grep && `matching /${options.grep.source}/`,
  ].filter((f): f is string => Boolean(f));
  return { project: project.name, services, follow: options.follow, sources, filters };
}

export interface RenderedEntry extends LogEntry {
  parsed: ParsedLine;
}

export function matches(entry: LogEntry, parsed: ParsedLine, options: Pick<LogsOptions, 'level' | 'grep' | 'since' | 'until'>): boolean {
  if (options.since && entry.time < options.since) return false;
  if (options.until && entry.time > options.until) return false;
  if (options.level && !atLeast(lineLevel(parsed), options.level)) return false;
  if (options.grep && !options.grep.test(entry.text)) return false;
  return true;
}

export interface LogsDeps {
  engine: Engine;
  project: ComposeProject;
  store?: StateStore;
}

export async function logsPlan(deps: LogsDeps, options: LogsOptions): Promise<{ plan: LogsPlan; containers: ServiceContainer[]; retained: RetainedReplica[] }> {
  const services = selectServices(deps.project, options.services);
  const containers = await listServiceContainers(deps.engine, deps.project.name, { services, includeStopped: true });
  const retained = options.removed && deps.store ? listRetained(deps.store, deps.project.name, services) : [];
  return { plan: planLogs(deps.project, services, containers, retained, options), containers, retained };
}

/** A TTY container's logs are one raw stream, not multiplexed: ask the engine which it is. */
async function sourceOf(engine: Engine, c: { id: string; name: string; service: string }): Promise<LogSource> {
  const tty = await engine.inspectContainer(c.id).then((i) => Boolean(i.Config.Tty), () => false);
  return { id: c.id, name: c.name, service: c.service, tty };
}

/**
 * Emits the entries that pass the filters, in time order. Without follow it returns when all is
 * read; with follow it runs until `signal` aborts, then emits what it holds and returns.
 */
export async function runLogs(deps: LogsDeps, options: LogsOptions, emit: (entry: RenderedEntry) => void, signal?: AbortSignal): Promise<LogsPlan> {
  const { plan, containers, retained } = await logsPlan(deps, options);
  const pass = (entry: LogEntry) => {
    const parsed = parseLine(entry.text);
    if (matches(entry, parsed, options)) emit({ ...entry, parsed });
  };
  const live = new Set(containers.map((c) => c.id));
  const removedEntries = retained.filter((r) => !live.has(r.containerId)).flatMap((r) => (options.tail === undefined ? r.entries : r.entries.slice(-options.tail)));
  const since = options.since ? engineTime(options.since) : undefined;
  const until = options.until ? engineTime(options.until) : undefined;
  if (!options.follow) {
    const all: LogEntry[] = [...removedEntries];
    await Promise.all(containers.map(async (c) => readLogs(deps.engine, await sourceOf(deps.engine, c), { follow: false, since, until, tail: options.tail }, (e) => all.push(e))));
    all.sort(byTime);
    all.forEach(pass);
    return plan;
  }
  const buffer = new TimeOrderedBuffer(pass);
  removedEntries.forEach((e) => buffer.push(e));
  const attached = new Map<string, Promise<void>>();
  const lastSeen = new Map<string, string>();
  const attach = (ref: { id: string; name: string; service: string }, from: { since?: string; tail?: number }) => {
    if (attached.has(ref.id)) return;
    const reading = sourceOf(deps.engine, ref).then((source) => readLogs(deps.engine, source, { follow: true, ...from }, (e) => {
      // A restart re-reads from the last line seen: never print a line twice.
      const last = lastSeen.get(source.id);
      if (last && e.time <= last) return;
      lastSeen.set(source.id, e.time);
      buffer.push(e);
    }, signal)).catch(() => undefined).finally(() => attached.delete(ref.id));
    attached.set(ref.id, reading);
  };
  const wanted = new Set(plan.services);
  // Subscribed before listing: a replica that starts in between is seen by one or the other.
  const events = await deps.engine.docker.getEvents({ filters: { type: ['container'], event: ['start'], label: [`${ComposeLabel.project}=${deps.project.name}`] } }) as NodeJS.ReadableStream & { destroy?: () => void };
  let pending = '';
  events.on('data', (chunk: Buffer) => {
    pending += chunk.toString();
    let nl: number;
    while ((nl = pending.indexOf('\n')) !== -1) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      try {
        const e = JSON.parse(line) as { id?: string; Actor?: { ID?: string; Attributes?: Record<string, string> } };
        const attrs = e.Actor?.Attributes ?? {};
        const id = e.Actor?.ID ?? e.id;
        const service = attrs[ComposeLabel.service];
        if (!id || !service || !wanted.has(service) || (attrs[ComposeLabel.oneoff] ?? 'False').toLowerCase() === 'true') continue;
        const last = lastSeen.get(id);
        // A new replica: from its first line; a restarted one: from where it left off.
        attach({ id, name: attrs.name ?? id.slice(0, 12), service }, { since: last ? engineTime(last) : undefined });
      } catch {
        // not a whole event
      }
    }
  });
  events.on('error', () => undefined);
  for (const c of containers) attach(c, { since, tail: options.tail });
  const timer = setInterval(() => buffer.flush(), 100);
  await new Promise<void>((resolve) => {
    if (signal?.aborted) resolve();
    signal?.addEventListener('abort', () => resolve(), { once: true });
  });
  clearInterval(timer);
  events.destroy?.();
  await Promise.race([Promise.all([...attached.values()]), new Promise((r) => setTimeout(r, 500))]);
  buffer.flush(true);
  return plan;
}

/** A replica's name without the project prefix: app_1 (Compose v1) or app-1 (v2). */
export function shortName(project: string, container: string): string {
  for (const sep of ['_', '-']) if (container.startsWith(`${project}${sep}`)) return container.slice(project.length + 1);
  return container;
}
