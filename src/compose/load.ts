/**
 * Loads a Compose project as Docker Compose does: selects the files (-f, COMPOSE_FILE, discovery
 * with the override file), reads the env files, interpolates each file, casts types, merges the
 * files in order, validates against the Compose Specification, applies profiles and returns the
 * typed model. Pure: reads files only, no engine, no child processes.
 */
import { stat } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { BerthError } from '../lib/errors.js';
import { coerceTypes } from './coerce.js';
import { readDotenv } from './dotenv.js';
import { interpolateString, interpolateTree, type Lookup } from './interpolate.js';
import { resolveExtends } from './extends.js';
import { finalizeMerged, mergeNodes, normalizeForMerge } from './merge.js';
import { validateModel } from './schema.js';
import { buildService } from './service.js';
import { formatLocation, formatPath, pathKey, readComposeFile, toPlain, type LMap, type LNode, type SourceFile } from './source.js';
import type { ComposeOptions, ComposeProject, ComposeRefusal, ModelPath, ServiceModel, SourceLocation } from './types.js';
import { parseProjectBerth, xberthProblemsError, type XBerthProblem } from './xberth.js';

/** Compose's file names, in its order of preference. */
export const COMPOSE_FILE_NAMES = ['compose.yaml', 'compose.yml', 'docker-compose.yml', 'docker-compose.yaml'];
export const OVERRIDE_FILE_NAMES = ['compose.override.yaml', 'compose.override.yml', 'docker-compose.override.yml', 'docker-compose.override.yaml'];

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/**
 * Finds the compose file in `dir` or, like Compose, in the nearest parent directory that has one;
 * with it the override file of that directory.
 */
export async function discoverComposeFiles(dir: string, warnings: string[] = []): Promise<string[]> {
  for (let current = resolve(dir); ; current = dirname(current)) {
    const found: string[] = [];
    for (const name of COMPOSE_FILE_NAMES) if (await isFile(join(current, name))) found.push(join(current, name));
    if (found.length > 0) {
      if (found.length > 1) warnings.push(`found multiple config files with supported names: ${found.join(', ')}; using ${found[0]}`);
      const files = [found[0]!];
      const overrides: string[] = [];
      for (const name of OVERRIDE_FILE_NAMES) if (await isFile(join(current, name))) overrides.push(join(current, name));
      if (overrides.length > 1) warnings.push(`found multiple override files with supported names: ${overrides.join(', ')}; using ${overrides[0]}`);
      if (overrides[0]) files.push(overrides[0]);
      return files;
    }
    if (dirname(current) === current) break;
  }
  throw new BerthError(`no compose file found in ${resolve(dir)} (looked for ${COMPOSE_FILE_NAMES.join(', ')})`, {
    hint: 'run berth in the project directory, or pass -f FILE or --project-directory DIR',
  });
}

/** Compose's project name normalization: lowercase, only [a-z0-9_-], starting with a letter or digit. */
export function normalizeProjectName(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9_-]/g, '').replace(/^[^a-z0-9]+/, '');
}

interface EnvSources {
  files: string[];
  vars: Record<string, string>;
}

async function readEnvFiles(files: string[], env: Record<string, string | undefined>): Promise<EnvSources> {
  const vars: Record<string, string> = {};
  for (const file of files) {
    // Later env files override earlier ones; inside one, the environment resolves what the files do not define.
    Object.assign(vars, await readDotenv(file, (name) => vars[name] ?? env[name]));
  }
  return { files, vars };
}

async function defaultEnvFiles(dir: string): Promise<string[]> {
  const file = join(dir, '.env');
  return (await isFile(file)) ? [file] : [];
}

/** Loads the project. Throws BerthError with file:line:column for anything a user can fix. */
export async function loadProject(options: ComposeOptions = {}): Promise<ComposeProject> {
  const warnings: string[] = [];
  try {
    return await load(options, warnings);
  } catch (error) {
    // What was found before the error is reported with it (unknown keys beside a wrong type).
    if (error instanceof BerthError && warnings.length) error.warnings = [...warnings];
    throw error;
  }
}

async function load(options: ComposeOptions, warnings: string[]): Promise<ComposeProject> {
  const env = options.env ?? process.env;
  const cwd = resolve(options.cwd ?? process.cwd());
  const projectDirOption = options.projectDirectory ? resolve(cwd, options.projectDirectory) : undefined;
  // --env-file, else COMPOSE_ENV_FILES (comma separated), else .env of the project directory.
  const envFileNames = options.envFiles && options.envFiles.length > 0 ? options.envFiles : (env.COMPOSE_ENV_FILES ?? '').split(',').map((f) => f.trim()).filter((f) => f !== '');
  const explicitEnvFiles = envFileNames.map((f) => resolve(cwd, f));
  for (const file of explicitEnvFiles) if (!(await isFile(file))) throw new BerthError(`env file ${file} not found`, { hint: 'check --env-file' });
  const givenFiles = options.files && options.files.length > 0;

  // COMPOSE_FILE and the other COMPOSE_* variables may come from the .env file too.
  let envSources = await readEnvFiles(explicitEnvFiles.length > 0 ? explicitEnvFiles : givenFiles && !projectDirOption ? [] : await defaultEnvFiles(projectDirOption ?? cwd), env);
  let lookup: Lookup = (name) => env[name] ?? envSources.vars[name];
  let envDir = explicitEnvFiles.length > 0 || !givenFiles || projectDirOption ? projectDirOption ?? cwd : undefined;

  let files: string[];
  const composeFileVar = lookup('COMPOSE_FILE');
  if (givenFiles) {
    files = options.files!.map((f) => {
      if (f === '-') throw new BerthError('reading the compose file from stdin (-f -) is not supported');
      return resolve(cwd, f);
    });
  } else if (composeFileVar) {
    const separator = lookup('COMPOSE_PATH_SEPARATOR') || ':';
    files = composeFileVar.split(separator).filter((f) => f !== '').map((f) => resolve(projectDirOption ?? cwd, f));
  } else {
    files = await discoverComposeFiles(projectDirOption ?? cwd, warnings);
  }
  const workingDir = projectDirOption ?? dirname(files[0]!);
  if (explicitEnvFiles.length === 0 && workingDir !== envDir) {
    envDir = workingDir;
    envSources = await readEnvFiles(await defaultEnvFiles(workingDir), env);
    lookup = (name) => env[name] ?? envSources.vars[name];
  }

  const unset = new Set<string>();
  const onUnset = (name: string, loc: SourceLocation | undefined) => {
    if (unset.has(name)) return;
    unset.add(name);
    warnings.push(`${loc ? `${formatLocation(loc)}: ` : ''}the "${name}" variable is not set, defaulting to a blank string`);
  };

  // The selected files are parsed first: the project name may come from their `name:`, and
  // Compose offers it to interpolation as ${COMPOSE_PROJECT_NAME}.
  const parsed = new Map<string, SourceFile>();
  for (const file of files) parsed.set(file, await readComposeFile(file));
  let nameFromFiles: string | undefined;
  for (const source of parsed.values()) {
    const node = source.root.entries.get('name');
    if (node?.kind === 'scalar' && node.value !== null) nameFromFiles = interpolateString(String(node.value), { lookup, loc: node.loc, path: 'name' });
  }
  const name = projectName(options.projectName ?? lookup('COMPOSE_PROJECT_NAME') ?? nameFromFiles ?? basename(workingDir));
  const baseLookup = lookup;
  lookup = (variable) => baseLookup(variable) ?? (variable === 'COMPOSE_PROJECT_NAME' ? name : undefined);

  let merged: LNode | undefined;
  const seenIncludes = new Set<string>();
  const prepare = async (file: string): Promise<LMap> => {
    const source: SourceFile = parsed.get(file) ?? (await readComposeFile(file));
    parsed.delete(file);
    interpolateTree(source.root, { lookup, onUnset });
    coerceTypes(source.root);
    normalizeForMerge(source.root);
    return source.root;
  };
  const loadFile = async (file: string, parents: string[]): Promise<void> => {
    const source: SourceFile = { file, root: await prepare(file) };
    await resolveExtends(source.root, file, prepare);
    // `include`d files come first, so the including file can build on them.
    const include = source.root.entries.get('include');
    if (include) {
      // `include` stays in the model (render.ts drops it for Compose v1, which gets the merged model).
      for (const path of includePaths(include)) {
        const target = isAbsolute(path.value) ? path.value : resolve(dirname(file), path.value);
        if (parents.includes(target)) throw new BerthError(`${formatLocation(path.loc)}: include cycle: ${[...parents, target].map((f) => basename(f)).join(' → ')}`);
        if (seenIncludes.has(target)) continue;
        seenIncludes.add(target);
        await loadFile(target, [...parents, target]);
      }
    }
    merged = mergeNodes(merged, source.root);
  };
  for (const file of files) await loadFile(file, [file]);
  const root = merged as LMap;
  finalizeMerged(root);

  const { value, locations } = toPlain(root);
  const model = value as Record<string, unknown>;
  const locate = (path: ModelPath): SourceLocation | undefined => locations.get(pathKey(path));
  const at = (path: ModelPath): string => {
    for (let n = path.length; n >= 0; n--) {
      const loc = locate(path.slice(0, n));
      if (loc) return `${formatLocation(loc)}: `;
    }
    return '';
  };

  if ('version' in model) warnings.push(`${at(['version'])}the top-level "version" is obsolete and ignored`);
  const problem = validateModel(model);
  if (problem) throw new BerthError(`${at(problem.path)}${problem.message}`, { hint: `check ${formatPath(problem.path) || 'the file'} against the Compose Specification` });

  model.name = name;

  const profiles = [...new Set([...(options.profiles ?? []), ...(lookup('COMPOSE_PROFILES') ?? '').split(',')].map((p) => p.trim()).filter((p) => p !== ''))];
  const rawServices = (model.services ?? {}) as Record<string, Record<string, unknown> | null>;
  const active = (raw: Record<string, unknown>): boolean => {
    const own = Array.isArray(raw.profiles) ? raw.profiles.map(String) : [];
    return own.length === 0 || profiles.includes('*') || own.some((p) => profiles.includes(p));
  };

  // What Compose refuses about services and references: thrown, or kept in `refusals` (lenient).
  const refusals: ComposeRefusal[] = [];
  const refuse = (path: ModelPath, message: string, hint?: string): void => {
    if (!options.lenient) throw new BerthError(`${at(path)}${message}`, hint ? { hint } : {});
    refusals.push({ message, path });
  };
  // Like Compose, only services of active profiles must refer to defined things.
  checkReferences(model, rawServices, (name) => active(rawServices[name] ?? {}), refuse);

  const services: Record<string, ServiceModel> = {};
  const inactiveServices: string[] = [];
  // Every x-berth problem of every service and of the project is reported at once, at the end.
  const xberthProblems: XBerthProblem[] = [];
  const ctx = { workingDir, lookup, locate, warnings, xberthProblems };
  for (const [serviceName, raw] of Object.entries(rawServices)) {
    const definition = raw ?? {};
    if (!active(definition)) {
      inactiveServices.push(serviceName);
      continue;
    }
    if (definition.image === undefined && definition.build === undefined && definition.provider === undefined) {
      refuse(['services', serviceName], `service "${serviceName}" has neither an image nor a build context specified`);
    }
    if (definition.network_mode !== undefined && definition.networks !== undefined) {
      refuse(['services', serviceName, 'networks'], `service "${serviceName}": network_mode and networks cannot be combined`);
    }
    const replicas = (definition.deploy as { replicas?: unknown } | null | undefined)?.replicas;
    if (replicas !== undefined && definition.scale !== undefined && replicas !== definition.scale) {
      refuse(['services', serviceName, 'scale'], `service "${serviceName}": scale (${String(definition.scale)}) and deploy.replicas (${String(replicas)}) differ`, 'keep only deploy.replicas');
    }
    const service = await buildService(serviceName, definition, ctx);
    if (service.containerName !== undefined && service.replicas > 1) {
      refuse(['services', serviceName, 'container_name'], `service "${serviceName}": container_name cannot be set with ${service.replicas} replicas, container names must be unique`);
    }
    services[serviceName] = service;
  }
  for (const service of Object.values(services)) {
    for (const [dep, config] of Object.entries(service.dependsOn)) {
      if (inactiveServices.includes(dep) && config.required) {
        refuse(['services', service.name, 'depends_on', dep], `service "${service.name}" depends on "${dep}", which is not in an active profile`, 'enable its profile with --profile or COMPOSE_PROFILES');
      }
    }
  }

  const berth = parseProjectBerth(model['x-berth'], { locate, workingDir, warnings, problems: xberthProblems });
  if (xberthProblems.length) throw xberthProblemsError(xberthProblems);
  const topVolumes = (model.volumes ?? {}) as Record<string, unknown>;
  for (const service of Object.values(services)) {
    const backup = service.berth.backup;
    if (backup?.type !== 'volume') continue;
    backup.volumes.forEach((volume, i) => {
      if (!(volume in topVolumes)) warnings.push(`${at(['services', service.name, 'x-berth', 'backup', 'volumes', i])}x-berth backup of service "${service.name}" names volume "${volume}", which is not a top-level volume`);
    });
  }
  const migrate = berth.deploy.migrate?.service;
  if (migrate !== undefined && !(migrate in rawServices)) {
    throw new BerthError(`${at(['x-berth', 'deploy', 'migrate', 'service'])}x-berth.deploy.migrate.service "${migrate}" is not a service of this project`);
  }

  return {
    name,
    workingDir,
    // Only the selected files: Compose is handed these with -f and reads includes itself.
    files,
    envFiles: envSources.files,
    profiles,
    model,
    services,
    inactiveServices,
    berth,
    warnings,
    locate,
    ...(options.lenient ? { refusals } : {}),
  };
}

function projectName(candidate: string): string {
  const name = normalizeProjectName(candidate);
  if (name === '') {
    throw new BerthError(`invalid project name "${candidate}": it must contain a lowercase letter or digit`, { hint: 'pass -p NAME or set name: in the compose file' });
  }
  return name;
}

function includePaths(node: LNode): { value: string; loc: SourceLocation }[] {
  const items = node.kind === 'seq' ? node.items : [node];
  const out: { value: string; loc: SourceLocation }[] = [];
  for (const item of items) {
    if (item.kind === 'scalar' && typeof item.value === 'string') out.push({ value: item.value, loc: item.loc });
    else if (item.kind === 'map') {
      const path = item.entries.get('path');
      const paths = path?.kind === 'seq' ? path.items : path ? [path] : [];
      for (const p of paths) if (p.kind === 'scalar' && typeof p.value === 'string') out.push({ value: p.value, loc: p.loc });
      for (const key of item.entries.keys()) {
        if (key !== 'path') throw new BerthError(`${formatLocation(item.entries.get(key)!.loc)}: include.${key} is not supported by berth (only path)`);
      }
    } else throw new BerthError(`${formatLocation(item.loc)}: include entries must be paths`);
  }
  return out;
}

/** References Compose rejects: undefined services, networks, volumes, secrets and configs. */
function checkReferences(model: Record<string, unknown>, services: Record<string, Record<string, unknown> | null>, isActive: (name: string) => boolean, refuse: (path: ModelPath, message: string) => void): void {
  const defined = (key: string) => new Set(Object.keys((model[key] ?? {}) as Record<string, unknown>));
  const networks = defined('networks');
  networks.add('default');
  const volumes = defined('volumes');
  const secrets = defined('secrets');
  const configs = defined('configs');
  for (const [name, raw] of Object.entries(services)) {
    if (!raw || !isActive(name)) continue;
    const base = ['services', name];
    for (const dep of Object.keys((raw.depends_on ?? {}) as Record<string, unknown>)) {
      const required = ((raw.depends_on as Record<string, { required?: boolean } | null>)[dep] ?? {}).required !== false;
      if (!(dep in services) && required) refuse([...base, 'depends_on', dep], `service "${name}" depends on undefined service "${dep}"`);
    }
    if (raw.networks && typeof raw.networks === 'object') {
      for (const net of Object.keys(raw.networks)) if (!networks.has(net)) refuse([...base, 'networks', net], `service "${name}" refers to undefined network "${net}"`);
    }
    ((raw.volumes ?? []) as unknown[]).forEach((volume, i) => {
      const source = typeof volume === 'string' ? (volume.includes(':') ? volume.split(':')[0]! : '') : (volume as { type?: string; source?: string }).type === 'volume' ? String((volume as { source?: string }).source ?? '') : '';
      // Named volumes only: paths (./x, /x, ~/x) are binds, an empty source is anonymous.
      if (source === '' || /^[./~]/.test(source) || source.includes('$')) return;
      if (!volumes.has(source)) refuse([...base, 'volumes', i], `service "${name}" refers to undefined volume "${source}"`);
    });
    for (const [key, set] of [['secrets', secrets], ['configs', configs]] as const) {
      ((raw[key] ?? []) as unknown[]).forEach((ref, i) => {
        const source = typeof ref === 'string' ? ref : String((ref as { source?: string }).source ?? '');
        if (!set.has(source)) refuse([...base, key, i], `service "${name}" refers to undefined ${key.slice(0, -1)} "${source}"`);
      });
    }
  }
}
