/**
 * What a target holds right now, before a restore: a missing database or volume, an empty one,
 * or data. A safety backup is taken only when there is something to save.
 */
import type { ComposeProject } from '../compose/types.js';
import type { Engine } from '../engine/client.js';
import { execInContainer } from './exec.js';
import { startHelper, type Helper } from './helpers.js';
import type { TargetFacts } from './plan.js';
import { dbEnv, mysqlCommand, postgresCommand } from './sources.js';
import type { BackupTarget } from './types.js';

export interface Occupancy {
  /** Nothing to lose: the database or volumes are missing or hold nothing. */
  empty: boolean;
  /** Human description: "database app does not exist", "3 tables", "volume x is empty". */
  detail: string;
  /** Postgres/MySQL: the database does not exist. */
  databaseMissing?: boolean;
  /** Volume targets: volumes that do not exist. */
  missingVolumes?: string[];
}

export const sqlLiteral = (value: string) => `'${value.replace(/'/g, "''")}'`;
export const pgIdent = (value: string) => `"${value.replace(/"/g, '""')}"`;
export const myIdent = (value: string) => `\`${value.replace(/`/g, '``')}\``;

const PG_OBJECTS = `SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_(toast|temp)')
  + (SELECT count(*) FROM pg_namespace WHERE nspname NOT IN ('public', 'information_schema') AND nspname !~ '^pg_')
  + (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema'))`;

/**
 * `volumes`: the engine names a volume restore writes (from the manifest). `lookInside: false`
 * (no safety backup to decide on) only finds missing volumes, which costs no helper container.
 * `helpers`: helpers already running on some of the volumes (a restore's own), looked through
 * instead of starting one more container.
 */
export async function occupancy(engine: Engine, project: ComposeProject, target: BackupTarget, facts: TargetFacts, volumes: string[], options: { helperLabels?: Record<string, string>; lookInside?: boolean; helpers?: Map<string, Helper> } = {}): Promise<Occupancy> {
  const env = dbEnv(target);
  const lookInside = options.lookInside ?? true;
  if (!lookInside && target.kind !== 'volume') return { empty: false, detail: 'not looked into' };
  if (target.kind === 'postgres') {
    const r = await execInContainer(engine, facts.container!.id, postgresCommand('psql', '-U', target.user!, '-d', target.database!, '-Atc', PG_OBJECTS), { env });
    if (r.exitCode !== 0 && /database ".*" does not exist/.test(r.stderr)) return { empty: true, databaseMissing: true, detail: `database ${target.database} does not exist` };
    if (r.exitCode !== 0) throw new Error(`cannot look into database ${target.database}: ${r.stderr}`);
    const objects = Number(r.stdout.trim());
    return { empty: objects === 0, detail: objects === 0 ? `database ${target.database} is empty` : `database ${target.database} holds ${objects} objects` };
  }
  if (target.kind === 'mysql') {
    const scope = target.database ? `= ${sqlLiteral(target.database)}` : "NOT IN ('mysql', 'sys', 'performance_schema', 'information_schema')";
    const r = await execInContainer(engine, facts.container!.id, mysqlCommand('client', '-u', target.user!, '-N', '-B', '-e', `SELECT (SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name ${scope}), (SELECT COUNT(*) FROM information_schema.tables WHERE table_schema ${scope})`), { env });
    if (r.exitCode !== 0) throw new Error(`cannot look into ${target.database ?? 'the databases'}: ${r.stderr}`);
    const [schemas, tables] = r.stdout.trim().split(/\s+/).map(Number) as [number, number];
    const what = target.database ? `database ${target.database}` : 'the server';
    if (schemas === 0) return { empty: true, databaseMissing: true, detail: target.database ? `${what} does not exist` : `${what} has no databases` };
    return { empty: tables === 0, detail: tables === 0 ? `${what} has no tables` : `${what} holds ${tables} tables` };
  }
  const missing: string[] = [];
  const full: string[] = [];
  for (const volume of volumes) {
    if (!(await engine.docker.getVolume(volume).inspect().then(() => true, () => false))) {
      missing.push(volume);
      continue;
    }
    if (!lookInside) continue;
    const given = options.helpers?.get(volume);
    const helper = given ?? (await startHelper(engine, project.name, volume, true, options.helperLabels));
    try {
      const r = await execInContainer(engine, helper.container.id, ['sh', '-c', 'ls -A /volume | head -n 1']);
      if (r.stdout.trim()) full.push(volume);
    } finally {
      if (!given) await helper.dispose();
    }
  }
  const detail = [full.length ? `${full.join(', ')} hold${full.length === 1 ? 's' : ''} files` : '', missing.length ? `${missing.join(', ')} missing` : ''].filter(Boolean).join('; ') || 'the volumes are empty';
  return { empty: full.length === 0, detail, missingVolumes: missing };
}

