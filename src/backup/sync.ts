/**
 * The destination is the truth; the catalog is its cache. `syncCatalog` reads the manifests at
 * every destination the project uses and records the backups the catalog does not know (a new
 * server, a lost state directory), and marks as failed the verified backups a reachable
 * destination no longer holds.
 */
import type { ComposeProject } from '../compose/types.js';
import { errorMessage } from '../lib/errors.js';
import type { StateStore } from '../state/store.js';
import { Catalog } from './catalog.js';
import { backupRelDir, openDestination } from './destinations.js';
import { resolveDestination, resolveTargets, DEFAULT_DESTINATION } from './targets.js';

export interface SyncReport {
  /** Backups found at the destinations, per destination. */
  found: Record<string, number>;
  /** Ids recorded in the catalog by this sync. */
  added: string[];
  /** Ids the catalog had as verified that their destination no longer holds. */
  missing: string[];
  /** Backup directories that are not complete backups (no or a damaged manifest). */
  incomplete: Array<{ destination: string; relDir: string; problem: string }>;
  /** Destinations that could not be read, with why. */
  unreachable: Array<{ destination: string; error: string }>;
}

/** The destinations a project uses: every configured one, and the default local one when a target uses it. */
export function projectDestinations(project: ComposeProject): string[] {
  const names = new Set(Object.keys(project.berth.backup.destinations));
  for (const target of resolveTargets(project)) names.add(target.destination);
  if (names.size === 0) names.add(DEFAULT_DESTINATION);
  return [...names];
}

export async function syncCatalog(store: StateStore, project: ComposeProject, options: { allProjects?: boolean } = {}): Promise<SyncReport> {
  const catalog = new Catalog(store);
  const report: SyncReport = { found: {}, added: [], missing: [], incomplete: [], unreachable: [] };
  for (const name of projectDestinations(project)) {
    let destination;
    try {
      destination = openDestination(resolveDestination(project, name, store.dir), store.dir);
      const scanned = await destination.scan(options.allProjects ? undefined : project.name);
      report.found[name] = 0;
      const present = new Set<string>();
      for (const backup of scanned) {
        if (!backup.manifest) {
          // A run in progress writes its directory before its manifest: that is not a problem.
          const running = catalog.get(backup.relDir.split('/').pop()!)?.status === 'running';
          if (!running) report.incomplete.push({ destination: name, relDir: backup.relDir, problem: backup.problem ?? 'incomplete' });
          continue;
        }
        present.add(backup.manifest.id);
        report.found[name]++;
        if (catalog.discovered(backup.manifest, name, `${destination.describe.replace(/\/$/, '')}/${backup.relDir}`)) report.added.push(backup.manifest.id);
      }
      for (const entry of catalog.list({ project: project.name })) {
        if (entry.destination !== name || entry.status !== 'verified' || present.has(entry.id)) continue;
        catalog.failed(entry.id, `not found at destination ${name} (${backupRelDir(entry.project, entry.target, entry.id)}): removed outside berth?`);
        report.missing.push(entry.id);
      }
    } catch (error) {
      report.unreachable.push({ destination: name, error: errorMessage(error) });
    } finally {
      await destination?.close().catch(() => undefined);
    }
  }
  return report;
}
