/** Backup targets and destinations, resolved from the compose model (pure: no engine access). */
import { join } from 'node:path';
import type { BackupDestinationConfig, ComposeProject } from '../compose/types.js';
import { BerthError, ExitCode } from '../lib/errors.js';
import { suggestion } from '../lib/suggest.js';
import type { BackupTarget, NamedDestination } from './types.js';

export const DEFAULT_DESTINATION = 'local';

/** Services that depend on `service`, directly or through others, in file order. */
export function dependentsOf(project: ComposeProject, service: string): string[] {
  const result = new Set<string>();
  let frontier = [service];
  while (frontier.length) {
    const next: string[] = [];
    for (const [name, model] of Object.entries(project.services)) {
      if (result.has(name) || name === service) continue;
      if (frontier.some((f) => f in model.dependsOn)) {
        result.add(name);
        next.push(name);
      }
    }
    frontier = next;
  }
  return Object.keys(project.services).filter((name) => result.has(name));
}

function env(project: ComposeProject, service: string, ...keys: string[]): string | undefined {
  const environment = project.services[service]?.environment ?? {};
  for (const key of keys) {
    const value = environment[key];
    if (typeof value === 'string' && value !== '') return value;
  }
  return undefined;
}

/** Every target of the project (services with x-berth.backup), or the named ones. */
export function resolveTargets(project: ComposeProject, names: string[] = []): BackupTarget[] {
  const all: BackupTarget[] = [];
  for (const [service, model] of Object.entries(project.services)) {
    const config = model.berth.backup;
    if (!config) continue;
    const destination = config.destination ?? project.berth.backup.defaultDestination ?? DEFAULT_DESTINATION;
    const base = { name: service, project: project.name, service, schedule: config.schedule, destination, dependents: dependentsOf(project, service), volumes: [] as string[], stopContainers: false };
    if (config.type === 'postgres') {
      const user = config.user ?? env(project, service, 'POSTGRES_USER') ?? 'postgres';
      all.push({ ...base, kind: 'postgres', user, database: config.database ?? env(project, service, 'POSTGRES_DB') ?? user, passwordFile: config.passwordFile });
    } else if (config.type === 'mysql') {
      const user = config.user ?? 'root';
      const database = config.database ?? env(project, service, 'MARIADB_DATABASE', 'MYSQL_DATABASE');
      all.push({ ...base, kind: 'mysql', user, database, passwordFile: config.passwordFile });
    } else {
      all.push({ ...base, kind: 'volume', volumes: config.volumes, stopContainers: config.stopContainers });
    }
  }
  if (names.length === 0) return all;
  const unknown = names.filter((n) => !all.some((t) => t.name === n));
  if (unknown.length) {
    throw new BerthError(`no backup target ${unknown.map((n) => `"${n}"`).join(', ')} in project ${project.name}`, {
      exitCode: ExitCode.usage,
      hint: all.length ? `${suggestion(unknown[0]!, all.map((t) => t.name)).replace(/^ \((.*)\)$/, '$1 ')}targets: ${all.map((t) => t.name).join(', ')}` : 'add x-berth: { backup: { type: postgres|mysql|volume } } to a service',
    });
  }
  return all.filter((t) => names.includes(t.name));
}

/** The default local directory: BERTH_BACKUP_DIR, else backups/ in the state directory. */
export function defaultBackupDir(stateDir: string, environment: Record<string, string | undefined> = process.env): string {
  return environment.BERTH_BACKUP_DIR || join(stateDir, 'backups');
}

export function resolveDestination(project: ComposeProject, name: string, stateDir: string): NamedDestination {
  const configured: BackupDestinationConfig | undefined = project.berth.backup.destinations[name];
  if (configured) {
    const config = configured.type === 'local' ? { ...configured, path: configured.path.startsWith('/') ? configured.path : join(project.workingDir, configured.path) } : configured;
    return { name, config };
  }
  if (name === DEFAULT_DESTINATION) return { name, config: { type: 'local', path: defaultBackupDir(stateDir) } };
  throw new BerthError(`backup destination "${name}" is not defined`, { exitCode: ExitCode.usage, hint: 'define it under x-berth.backup.destinations' });
}

/** Volume selectors: a compose volume key (resolved to its engine name), label=K[=V], or an engine name. */
export function volumeSelectorName(project: ComposeProject, selector: string): { label?: string; name?: string } {
  if (selector.startsWith('label=')) return { label: selector.slice('label='.length) };
  const volumes = (project.model.volumes ?? {}) as Record<string, { name?: string; external?: boolean } | null>;
  if (selector in volumes) {
    const def = volumes[selector] ?? {};
    return { name: def.name ?? (def.external ? selector : `${project.name}_${selector}`) };
  }
  return { name: selector };
}
