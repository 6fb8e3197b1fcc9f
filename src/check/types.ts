/**
 * The check model: rules are pure functions over the compose model (and parsed Dockerfiles)
 * that return findings; locations come from the model's `locate(path)`.
 */
import type { ComposeProject, ModelPath, ServiceModel, SourceLocation } from '../compose/types.js';
import type { Dockerfile } from './dockerfile.js';
import type { ImageConfigs, ImageFacts } from './image-facts.js';
import type { ProxyConfig } from './proxy-config.js';

export type Severity = 'error' | 'warning' | 'info';
export type Level = Severity | 'off';

export const SEVERITY_RANK: Record<Severity, number> = { info: 1, warning: 2, error: 3 };

export type Family =
  | 'validity'
  | 'lifecycle'
  | 'rollout'
  | 'socket'
  | 'hardening'
  | 'resources'
  | 'logging'
  | 'secrets'
  | 'images'
  | 'networks'
  | 'backups'
  | 'dependencies'
  | 'dockerfile'
  | 'swarm';

/** A semantic fix: what to change in the model; the planner turns it into text edits. */
export type FixIntent =
  /** Add `key: value` to the map at `path` (which must exist); refused when the key exists. */
  | { kind: 'add-key'; path: ModelPath; key: string; value: unknown }
  /** Replace the scalar at `path` with `value`. */
  | { kind: 'replace-scalar'; path: ModelPath; value: string | number | boolean }
  /** Append `value` to the sequence at `path`, or add `key: [value]` to the parent map when absent. */
  | { kind: 'append-item'; path: ModelPath; value: string };

export interface RuleMeta {
  id: string;
  family: Family;
  /** Default severity; config files can change it. */
  severity: Severity;
  title: string;
  /** Why this matters in production. */
  rationale: string;
  /** What to do instead. */
  advice: string;
  /** Offers a safe `--fix`. */
  fixable?: boolean;
  /** Where the rule applies: the compose model, a Dockerfile, or both. */
  scope: 'compose' | 'dockerfile';
  /** Only for a project deployed as a Swarm stack (`berth check --swarm`). */
  target?: 'swarm';
}

/** What a rule reports before severity and location are resolved. */
export interface RuleHit {
  message: string;
  /** Model path of the offending node (compose rules). */
  path?: ModelPath;
  /** A direct location (Dockerfile rules). */
  location?: SourceLocation;
  service?: string;
  /** One or more edits that together fix the finding (all or nothing). */
  fix?: FixIntent | FixIntent[];
  /** Dropped when the finding's line, or the line above, has a comment matching this (a documented exception). */
  unlessComment?: RegExp;
}

export interface Finding {
  rule: string;
  family: Family;
  severity: Severity;
  message: string;
  location?: SourceLocation;
  path?: ModelPath;
  service?: string;
  fix?: FixIntent[];
}

/** A Dockerfile found for a service's build, parsed; plus what it COPYs that we could read. */
export interface ServiceDockerfile {
  service: string;
  file: string;
  dockerfile: Dockerfile;
  /** Target stage (build.target) or the last stage. */
  stageIndex: number;
  /** Build-context files read on demand (entrypoint scripts). */
  readContextFile(relativePath: string): string | undefined;
}

export interface CheckContext {
  project: ComposeProject;
  /** Parsed Dockerfiles by service name (services with `build`, when readable). */
  dockerfiles: Map<string, ServiceDockerfile>;
  /** nginx and HAProxy config files the proxy services bind-mount (when readable). */
  proxyConfigs: ProxyConfig[];
  /** Local image configs read from the engine (undefined: the engine was not asked). */
  images?: ImageConfigs;
  /** Reads project files (env files); injected so rules stay testable. */
  read: (path: string) => string | undefined;
}

/** What a Dockerfile rule needs besides the file: the stage compose builds, and its base image's facts. */
export interface DockerfileTarget {
  /** The stage judged: build.target, else the last. */
  stageIndex: number;
  /** Facts of the stage's base image (local config or the table), when known. */
  base?: ImageFacts;
}

export interface ComposeRule extends RuleMeta {
  scope: 'compose';
  check(ctx: CheckContext): RuleHit[];
}

export interface DockerfileRule extends RuleMeta {
  scope: 'dockerfile';
  check(file: string, dockerfile: Dockerfile, readContextFile: (path: string) => string | undefined, target?: DockerfileTarget): RuleHit[];
}

export type Rule = ComposeRule | DockerfileRule;

export type { ComposeProject, ServiceModel, ModelPath, SourceLocation };
