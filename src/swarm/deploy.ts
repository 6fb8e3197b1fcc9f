/**
 * `berth up --swarm` / `berth deploy --swarm`: the project as a Swarm stack. Planned first (pure):
 * the model rendered for Swarm (src/compose/stack.ts, refusals at file:line), then one
 * `docker stack deploy` per depends_on layer, each followed by a wait for convergence (Swarm's
 * own deploy returns before anything runs). History per service, under the project's deploy lock;
 * secret and config versions no service uses any more are removed afterwards.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { assertDeployable, renderStack, type RenderedStack } from '../compose/stack.js';
import type { ComposeProject } from '../compose/types.js';
import type { Engine } from '../engine/client.js';
import { assertSwarmManager, ConvergenceError, stackServices, waitForConvergence, type ServiceConvergence } from '../engine/swarm.js';
import { BerthError, ExitCode, errorMessage } from '../lib/errors.js';
import { finishDeploy, startDeploy, type DeployKind, type DeployResult } from '../rollout/history.js';
import { lockProject } from '../rollout/run.js';
import type { StateStore } from '../state/store.js';

export interface StackStep {
  kind: 'build' | 'distribute' | 'stack-deploy' | 'converge' | 'prune-objects';
  services: string[];
  reason: string;
}

export interface StackDeployPlan {
  stack: string;
  steps: StackStep[];
  notes: string[];
  warnings: string[];
  /** The rendered stack file (what `docker stack deploy -c` reads). */
  file: Record<string, unknown>;
}

export type StackEvent =
  | { type: 'step'; step: StackStep; phase: 'start' | 'done' | 'failed'; ms?: number; error?: string }
  | { type: 'note'; text: string }
  | { type: 'progress'; states: ServiceConvergence[] };

/**
 * The plan (pure): the builds (`built`: services whose build: berth runs, then gives the image to every
 * node), a deploy and a convergence wait per dependency layer, the cleanup of unused secret versions.
 */
export function planStackDeploy(stack: RenderedStack, services?: string[], built: string[] = []): StackDeployPlan {
  assertDeployable(stack);
  const wanted = services?.length ? new Set(services) : undefined;
  const steps: StackStep[] = [];
  const toBuild = built.filter((s) => !wanted || wanted.has(s));
  if (toBuild.length) {
    steps.push({ kind: 'build', services: toBuild, reason: 'docker stack deploy does not build: Compose builds on the manager' });
    steps.push({ kind: 'distribute', services: toBuild, reason: 'no registry: the image is loaded into every node\'s engine (docker context named like the node)' });
  }
  const deployed: string[] = [];
  stack.order.forEach((layer, i) => {
    deployed.push(...layer);
    const mine = layer.filter((s) => !wanted || wanted.has(s));
    if (!mine.length) return;
    const later = stack.order.length > 1 && i < stack.order.length - 1;
    steps.push({ kind: 'stack-deploy', services: mine, reason: i === 0 ? (later ? 'services nothing depends on first (depends_on)' : 'the whole stack') : `after ${stack.order.slice(0, i).flat().join(', ')} converged (depends_on)` });
    steps.push({ kind: 'converge', services: mine, reason: 'docker stack deploy returns before anything runs: wait for every task of the new spec, health-gated' });
  });
  if (stack.secrets.length || stack.configs.length) steps.push({ kind: 'prune-objects', services: [], reason: 'secret and config versions no service uses any more' });
  return { stack: stack.name, steps, notes: stack.notes, warnings: stack.findings.filter((f) => f.level === 'warning').map((f) => `${f.where}: ${f.message}`), file: stack.file };
}

/** The stack file restricted to some services (a depends_on layer and those before it). */
function fileFor(stack: RenderedStack, services: string[]): Record<string, unknown> {
  const all = stack.file.services as Record<string, unknown>;
  return { ...stack.file, services: Object.fromEntries(services.map((s) => [s, all[s]])) };
}

/** Writes the stack file and the content of environment/content secrets to a private directory. */
function writeStackFiles(stack: RenderedStack, services: string[]): { path: string; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'berth-stack-'));
  chmodSync(dir, 0o700);
  const file = fileFor(stack, services);
  for (const kind of ['secrets', 'configs'] as const) {
    for (const object of stack[kind]) {
      if (object.content === undefined) continue;
      const path = join(dir, `${kind}-${object.key}`);
      writeFileSync(path, object.content, { mode: 0o600 });
      ((file[kind] as Record<string, Record<string, unknown>>)[object.key]!).file = path;
    }
  }
  const path = join(dir, 'stack.yaml');
  writeFileSync(path, stringify(file), { mode: 0o600 });
  return { path, dir };
}

/** Runs the docker CLI against the engine berth uses; fails with its stderr in one line. */
export function dockerCli(engine: Engine, args: string[], options: { timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('docker', args, { env: { ...process.env, DOCKER_HOST: engine.host }, stdio: ['ignore', 'pipe', 'pipe'], timeout: options.timeoutMs ?? 120_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', (e) => reject(new BerthError(`cannot run docker ${args[0]}: ${e.message}`, { exitCode: ExitCode.engine, hint: 'berth drives Swarm through the docker CLI: install it' })));
    child.on('close', (code) => {
      if (code === 0) resolve(stdout);
      else reject(new BerthError(`docker ${args.slice(0, 2).join(' ')} failed: ${stderr.trim().split('\n').filter(Boolean).join(' / ') || `exit ${code}`}`, { exitCode: ExitCode.engine }));
    });
  });
}

export interface StackDeployRequest {
  services?: string[];
  kind?: DeployKind;
  timeoutMs?: number;
  dryRun?: boolean;
  lockWaitMs?: number;
  signal?: AbortSignal;
  onEvent?: (event: StackEvent) => void;
  /** Build the services with build: (Compose, on the manager) and load their images into every node. */
  build?: boolean;
  /** Compose bound to the project (for the builds). */
  compose?: () => Promise<import('../compose/cli.js').ComposeRunner>;
}

export interface StackServiceResult {
  service: string;
  result: DeployResult;
  deployId?: number;
  imageBefore?: string;
  imageAfter: string;
  running: number;
  desired: number;
  errors: string[];
}

export interface StackDeployResult {
  ok: boolean;
  exitCode: number;
  plan: StackDeployPlan;
  services: StackServiceResult[];
  error?: string;
  durationMs: number;
}

export interface StackDeps {
  project: ComposeProject;
  engine: Engine;
  store: StateStore;
}

export async function deployStack(deps: StackDeps, req: StackDeployRequest): Promise<StackDeployResult> {
  const started = performance.now();
  const emit = req.onEvent ?? (() => undefined);
  const built = req.build ? Object.values(deps.project.services).filter((s) => s.hasBuild && s.image).map((s) => s.name) : [];
  const stack = renderStack(deps.project, { built: new Set(built) });
  const plan = planStackDeploy(stack, req.services, built);
  if (req.dryRun) return { ok: true, exitCode: ExitCode.ok, plan, services: [], durationMs: 0 };
  await assertSwarmManager(deps.engine);
  const lock = await lockProject(deps, `${req.kind ?? 'deploy'} --swarm`, req.lockWaitMs);
  const records = new Map<string, { id: number; before?: string; after: string }>();
  const states = new Map<string, ServiceConvergence>();
  let failure: unknown;
  try {
    const existing = await stackServices(deps.engine, stack.name);
    const services = plan.steps.filter((s) => s.kind === 'stack-deploy').flatMap((s) => s.services);
    for (const service of services) {
      const before = existing.get(service)?.Spec.TaskTemplate.ContainerSpec.Image;
      const after = deps.project.services[service]!.image!;
      const id = startDeploy(deps.store, { project: deps.project.name, service, kind: req.kind ?? 'deploy', imageBefore: before, imageAfter: after, detail: { target: 'swarm', stack: stack.name, steps: plan.steps.length } });
      records.set(service, { id, before, after });
    }
    // Services not selected stay as they run: docker stack deploy leaves services missing from the file alone.
    const deployed: string[] = [];
    // The last docker stack deploy: when it began, and each service's update status before it.
    let lastDeploy = { sinceMs: Date.now(), staleUpdates: new Map<string, string | undefined>() };
    for (const step of plan.steps) {
      const t0 = performance.now();
      emit({ type: 'step', step, phase: 'start' });
      try {
        if (step.kind === 'build') {
          if (!req.compose) throw new BerthError('building for a stack needs Compose');
          await (await req.compose()).run(['build', ...step.services]);
        } else if (step.kind === 'distribute') {
          const images = step.services.map((s) => deps.project.services[s]!.image!);
          const nodes = await distributeImages(deps.engine, images);
          emit({ type: 'note', text: `${images.join(', ')} loaded on ${nodes.join(', ') || 'no other node'}` });
        } else if (step.kind === 'stack-deploy') {
          deployed.push(...step.services);
          const { path, dir } = writeStackFiles(stack, deployed);
          const before = await stackServices(deps.engine, stack.name);
          lastDeploy = { sinceMs: Date.now() - 1000, staleUpdates: new Map(step.services.map((s) => [s, before.get(s)?.UpdateStatus?.StartedAt])) };
          try {
            await dockerCli(deps.engine, ['stack', 'deploy', '-c', path, '--resolve-image', 'never', stack.name]);
          } finally {
            rmSync(dir, { recursive: true, force: true });
          }
        } else if (step.kind === 'converge') {
          const result = await waitForConvergence(deps.engine, stack.name, step.services, {
            timeoutMs: req.timeoutMs ?? convergeBudgetMs(deps.project, step.services),
            sinceMs: lastDeploy.sinceMs,
            staleUpdates: lastDeploy.staleUpdates,
            signal: req.signal,
            onProgress: (s) => emit({ type: 'progress', states: s }),
          });
          for (const s of result) states.set(s.service, s);
        } else {
          const removed = await pruneStackObjects(deps.engine, stack);
          if (removed.length) emit({ type: 'note', text: `removed ${removed.length} unused secret/config version(s): ${removed.join(', ')}` });
        }
        emit({ type: 'step', step, phase: 'done', ms: performance.now() - t0 });
      } catch (error) {
        if (error instanceof ConvergenceError) for (const s of error.states) states.set(s.service, s);
        emit({ type: 'step', step, phase: 'failed', ms: performance.now() - t0, error: errorMessage(error) });
        throw error;
      }
    }
  } catch (error) {
    failure = error;
  } finally {
    lock.release();
  }
  const durationMs = performance.now() - started;
  const results: StackServiceResult[] = [];
  for (const [service, record] of records) {
    const s = states.get(service);
    const result: DeployResult = s?.converged ? 'succeeded' : s?.updateState === 'rollback_completed' ? 'rolled-back' : req.signal?.aborted ? 'interrupted' : 'failed';
    const errors = s?.errors ?? [];
    finishDeploy(deps.store, record.id, { result, durationMs, detail: { running: s?.running, desired: s?.desired, updateState: s?.updateState, updateMessage: s?.updateMessage, errors, error: failure && !s?.converged ? errorMessage(failure) : undefined } });
    results.push({ service, result, deployId: record.id, imageBefore: record.before, imageAfter: record.after, running: s?.running ?? 0, desired: s?.desired ?? deps.project.services[service]!.replicas, errors });
  }
  if (failure && !(failure instanceof ConvergenceError) && !(failure instanceof BerthError)) throw failure;
  const exitCode = failure ? (failure as BerthError).exitCode : ExitCode.ok;
  return { ok: !failure, exitCode, plan, services: results, error: failure ? errorMessage(failure) : undefined, durationMs };
}

/** How long a layer may take to converge: its slowest health budget (start period + retries), at least 60 s. */
export function convergeBudgetMs(project: ComposeProject, services: string[]): number {
  let budget = 60_000;
  for (const name of services) {
    const s = project.services[name];
    const hc = s?.healthcheck;
    const replicas = s?.replicas ?? 1;
    if (hc && !hc.disabled) budget = Math.max(budget, replicas * (hc.startPeriodMs + hc.intervalMs * (hc.retries + 1) + 10_000) + (s?.berth.rollout.monitorMs ?? 5_000) * replicas);
  }
  return budget;
}

/**
 * Gives images built on the manager to every other node: `docker save` from the manager's engine
 * streamed into `docker load` of each node's (its docker context). Fails naming a node berth cannot reach.
 */
export async function distributeImages(engine: Engine, images: string[]): Promise<string[]> {
  const [{ NodeEngines }, { assertSwarmManager }] = await Promise.all([import('../engine/nodes.js'), import('../engine/swarm.js')]);
  const { nodeId } = await assertSwarmManager(engine);
  const nodes = (await engine.call('list the Swarm nodes', () => engine.docker.listNodes())) as unknown as import('../engine/swarm.js').SwarmNodeInfo[];
  const engines = new NodeEngines(engine, nodeId);
  const done: string[] = [];
  for (const node of nodes.filter((n) => n.ID !== nodeId && n.Status?.State === 'ready')) {
    const target = await engines.engine(node);
    const hostname = node.Description?.Hostname ?? node.ID;
    for (const image of images) await engine.call(`load ${image} on node ${hostname}`, async () => {
      const tar = await engine.docker.getImage(image).get();
      const out = await target.docker.loadImage(tar) as NodeJS.ReadableStream;
      // The engine answers with a JSON stream; an error in it is the load's error.
      let text = '';
      for await (const chunk of out as AsyncIterable<Buffer>) text += chunk.toString();
      const error = /"error":"([^"]+)"/.exec(text)?.[1];
      if (error) throw new Error(error);
    });
    done.push(hostname);
  }
  return done;
}

/** Removes this stack's secret and config versions that no service references any more. */
export async function pruneStackObjects(engine: Engine, stack: RenderedStack): Promise<string[]> {
  const current = new Set([...stack.secrets, ...stack.configs].map((o) => o.name));
  const removed: string[] = [];
  const filters = { label: [`berth.stack=${stack.name}`] };
  const secrets = await engine.call('list secrets', () => engine.docker.listSecrets({ filters })) as Array<{ ID: string; Spec: { Name: string } }>;
  const configs = await engine.call('list configs', () => engine.docker.listConfigs({ filters })) as Array<{ ID: string; Spec: { Name: string } }>;
  // The engine refuses to remove one a service still uses (an older task, a rollback target): it stays.
  for (const s of secrets) if (!current.has(s.Spec.Name)) await engine.docker.getSecret(s.ID).remove().then(() => removed.push(s.Spec.Name), () => undefined);
  for (const c of configs) if (!current.has(c.Spec.Name)) await engine.docker.getConfig(c.ID).remove().then(() => removed.push(c.Spec.Name), () => undefined);
  return removed;
}

export function describeStackStep(step: StackStep): string {
  switch (step.kind) {
    case 'build': return `build ${step.services.join(', ')}`;
    case 'distribute': return `load the images of ${step.services.join(', ')} on every node`;
    case 'stack-deploy': return `docker stack deploy ${step.services.join(', ')}`;
    case 'converge': return `wait until ${step.services.join(', ')} converged`;
    case 'prune-objects': return 'remove unused secret/config versions';
  }
}

export function renderStackPlan(plan: StackDeployPlan): string {
  const lines = [`stack ${plan.stack}:`];
  plan.steps.forEach((s, i) => lines.push(`  ${i + 1}. ${describeStackStep(s)}  — ${s.reason}`));
  for (const n of plan.notes) lines.push(`  • ${n}`);
  for (const w of plan.warnings) lines.push(`  ! ${w}`);
  return lines.join('\n');
}
