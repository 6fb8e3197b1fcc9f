/**
 * `berth maintain`: the maintenance runbook. Refresh (pull the base images of built services and
 * the images of the others, build, roll out through the zero-downtime path only the services whose
 * image changed), then prune (prune.ts: keeps every rollback target and the last N versions), stopped
 * one-off containers and old build cache; report what was freed.
 */
import { statfs } from 'node:fs/promises';
import type { ComposeRunner } from '../../compose/cli.js';
import { ComposeLabel, listServiceContainers } from '../../compose/containers.js';
import type { ComposeProject } from '../../compose/types.js';
import type { Engine } from '../../engine/client.js';
import { BerthError, ExitCode, errorMessage } from '../../lib/errors.js';
import type { StateStore } from '../../state/store.js';
import { selectServices } from '../../compose/select.js';
import { planPrune, type PrunePlan } from './prune.js';

export interface MaintainOptions {
  services?: string[];
  refresh: boolean;
  prune: boolean;
  keep: number;
  dangling: boolean;
  buildCache: boolean;
  /** Build cache older than this goes (default 7 days). */
  buildCacheAgeMs: number;
  dryRun: boolean;
  rollout?: Record<string, unknown>;
}

export type RefreshStep =
  | { kind: 'pull-base'; service: string; image: string; reason: string }
  | { kind: 'pull'; service: string; image: string; reason: string }
  | { kind: 'build'; services: string[]; reason: string }
  | { kind: 'rollout-changed'; services: string[]; reason: string };

export interface RefreshPlan {
  steps: RefreshStep[];
  /** What could not be planned (unreadable Dockerfile, ARG in FROM). */
  notes: string[];
}

/** Pure: what refresh does for the selected services. */
export function planRefresh(project: ComposeProject, services: string[], dockerfiles: Map<string, { bases: string[]; note?: string }>): RefreshPlan {
  const steps: RefreshStep[] = [];
  const notes: string[] = [];
  const built: string[] = [];
  const seen = new Set<string>();
  for (const name of services) {
    const s = project.services[name]!;
    if (s.hasBuild) {
      built.push(name);
      const df = dockerfiles.get(name);
      if (df?.note) notes.push(`${name}: ${df.note}`);
      for (const base of df?.bases ?? []) {
        if (seen.has(base)) continue;
        seen.add(base);
        steps.push({ kind: 'pull-base', service: name, image: base, reason: `a base image of ${name}'s Dockerfile: security updates come with a newer base` });
      }
    } else if (s.image) {
      steps.push({ kind: 'pull', service: name, image: s.image, reason: 'the registry may have a newer image under the same tag' });
    }
  }
  if (built.length) steps.push({ kind: 'build', services: built, reason: 'rebuild on the (possibly) newer bases; unchanged layers come from the cache' });
  steps.push({ kind: 'rollout-changed', services, reason: 'zero-downtime rollout of exactly the services whose image id now differs from what their containers run' });
  return { steps, notes };
}

/** The base images of each built service (FROM lines not naming an earlier stage; ARGs substituted from defaults and build args). */
export async function baseImages(project: ComposeProject, services: string[]): Promise<Map<string, { bases: string[]; note?: string }>> {
  const [{ collectDockerfiles }, { substitute }] = await Promise.all([import('../../check/run.js'), import('../../check/dockerfile.js')]);
  const unread: string[] = [];
  const files = collectDockerfiles(project, undefined, unread);
  const out = new Map<string, { bases: string[]; note?: string }>();
  for (const name of services) {
    if (!project.services[name]!.hasBuild) continue;
    const df = files.get(name);
    if (!df) {
      out.set(name, { bases: [], note: unread.find((u) => u.includes(`"${name}"`))?.replace(/, Dockerfile rules skipped$/, '') ?? 'no Dockerfile read' });
      continue;
    }
    const buildArgs = ((project.services[name]!.raw.build as { args?: Record<string, string> } | undefined)?.args) ?? {};
    const vars = { ...df.dockerfile.globalArgs, ...(Array.isArray(buildArgs) ? {} : buildArgs) };
    const bases: string[] = [];
    let note: string | undefined;
    for (const stage of df.dockerfile.stages.slice(0, df.stageIndex + 1)) {
      if (stage.parent !== undefined) continue;
      const image = substitute(stage.image, vars);
      if (image === 'scratch') continue;
      if (image.includes('$')) note = `FROM ${stage.image}: an ARG without a default, not pulled`;
      else if (!bases.includes(image)) bases.push(image);
    }
    out.set(name, { bases, note });
  }
  return out;
}

export interface MaintainDeps {
  engine: Engine;
  project: ComposeProject;
  store: StateStore;
  compose: () => Promise<ComposeRunner>;
}

export interface MaintainReport {
  project: string;
  ok: boolean;
  exitCode: number;
  refresh?: { plan: RefreshPlan; done: Array<{ step: string; result: string }>; rolledOut: string[]; unchanged: string[]; error?: string };
  prune?: PrunePlan & { removed: string[]; failed: Array<{ what: string; error: string }>; buildCache?: { reclaimedBytes: number; skipped?: string }; imageBytes: number; freedBytes?: number };
}

async function pruneInput(deps: MaintainDeps, services: string[], options: MaintainOptions) {
  const { listDeploys, keepTag } = await import('../../rollout/history.js');
  const images = (await deps.engine.call('list images', () => deps.engine.docker.listImages({ all: false }))).map((i) => ({ id: i.Id, tags: i.RepoTags ?? [], created: i.Created, size: i.Size }));
  const all = await deps.engine.call('list containers', () => deps.engine.docker.listContainers({ all: true }));
  const containers = all.map((c) => ({
    id: c.Id,
    name: (c.Names?.[0] ?? c.Id).replace(/^\//, ''),
    imageId: c.ImageID,
    mine: c.Labels?.[ComposeLabel.project] === deps.project.name,
    oneoff: (c.Labels?.[ComposeLabel.oneoff] ?? 'False').toLowerCase() === 'true',
    state: c.State,
  }));
  const history = listDeploys(deps.store, deps.project.name, { limit: 10_000 }).map((h) => ({ id: h.id, service: h.service, result: h.result, imageIdBefore: h.imageIdBefore, imageIdAfter: h.imageIdAfter }));
  const svc = await Promise.all(services.map(async (name) => {
    const ref = deps.project.services[name]!.image;
    return { name, imageRef: ref, imageId: ref ? (await deps.engine.inspectImage(ref).catch(() => undefined))?.Id : undefined };
  }));
  // Every service of the project keeps its versions, also when maintain runs for some services only.
  const keepPrefix = keepTag(deps.project.name, '', 0, 'after').repo;
  return { project: deps.project.name, services: svc, images, containers, history, keepPrefix, keep: options.keep, dangling: options.dangling };
}

export async function maintainPlans(deps: MaintainDeps, options: MaintainOptions): Promise<{ refresh?: RefreshPlan; prune?: PrunePlan }> {
  const services = selectServices(deps.project, options.services);
  const refresh = options.refresh ? planRefresh(deps.project, services, await baseImages(deps.project, services)) : undefined;
  const prune = options.prune ? planPrune(await pruneInput(deps, Object.keys(deps.project.services), options)) : undefined;
  return { refresh, prune };
}

async function pullImage(engine: Engine, image: string): Promise<{ changed: boolean; result: string }> {
  const before = (await engine.inspectImage(image))?.Id;
  try {
    const stream = await engine.docker.pull(image);
    await new Promise<void>((resolve, reject) => engine.docker.modem.followProgress(stream, (error: Error | null) => (error ? reject(error) : resolve())));
  } catch (error) {
    const message = errorMessage(error).replace(/^\(HTTP code \d+\) [^-]+- /, '').trim();
    if (before) return { changed: false, result: `not pulled (${message}): the local image is used as it is` };
    throw new BerthError(`cannot pull ${image}: ${message}`, { exitCode: ExitCode.engine });
  }
  const after = (await engine.inspectImage(image))?.Id;
  return { changed: before !== after, result: before === after ? 'up to date' : `updated ${before?.slice(7, 19) ?? 'none'} -> ${after?.slice(7, 19)}` };
}

/** Under the project's deploy lock: no rollout builds or tags an image while maintain decides what goes. */
export async function runMaintain(deps: MaintainDeps, options: MaintainOptions, onNote: (text: string) => void = () => undefined): Promise<MaintainReport> {
  const { lockProject } = await import('../../rollout/run.js');
  const lock = await lockProject(deps, 'maintain');
  try {
    return await maintainLocked(deps, options, onNote);
  } finally {
    lock.release();
  }
}

async function maintainLocked(deps: MaintainDeps, options: MaintainOptions, onNote: (text: string) => void): Promise<MaintainReport> {
  const services = selectServices(deps.project, options.services);
  const report: MaintainReport = { project: deps.project.name, ok: true, exitCode: ExitCode.ok };
  if (options.refresh) {
    const plan = planRefresh(deps.project, services, await baseImages(deps.project, services));
    const done: Array<{ step: string; result: string }> = [];
    const refresh: NonNullable<MaintainReport['refresh']> = { plan, done, rolledOut: [], unchanged: [] };
    report.refresh = refresh;
    try {
      for (const step of plan.steps) {
        switch (step.kind) {
          case 'pull-base':
          case 'pull': {
            const r = await pullImage(deps.engine, step.image);
            done.push({ step: `pull ${step.image}`, result: r.result });
            onNote(`pull ${step.image}: ${r.result}`);
            break;
          }
          case 'build': {
            const compose = await deps.compose();
            const r = await compose.run(['build', ...step.services], { allowFailure: true, timeoutMs: 30 * 60_000 });
            if (r.code !== 0) throw new BerthError(`compose build ${step.services.join(' ')} failed: ${r.stderr.trim().split('\n').slice(-1)[0] ?? `exit ${r.code}`}`, { exitCode: ExitCode.engine });
            done.push({ step: `build ${step.services.join(' ')}`, result: 'built' });
            onNote(`built ${step.services.join(', ')}`);
            break;
          }
          case 'rollout-changed': {
            const changed: string[] = [];
            for (const name of step.services) {
              const ref = deps.project.services[name]!.image;
              const running = (await listServiceContainers(deps.engine, deps.project.name, { services: [name] })).filter((c) => c.state === 'running');
              const target = ref ? (await deps.engine.inspectImage(ref))?.Id : undefined;
              if (!running.length || !target) { refresh.unchanged.push(name); continue; }
              if (running.some((c) => c.imageId !== target)) changed.push(name);
              else refresh.unchanged.push(name);
            }
            const stateful = changed.filter((n) => deps.project.services[n]!.berth.rollout.stateful);
            for (const n of stateful) onNote(`${n}: a new image, not rolled out (stateful: berth rollout ${n} --stateful at a quiet time)`);
            const roll = changed.filter((n) => !stateful.includes(n));
            if (roll.length) {
              const { runRollout } = await import('../../rollout/run.js');
              onNote(`rolling out ${roll.join(', ')} (new image)`);
              const result = await runRollout(deps, { ...options.rollout, services: roll, kind: 'rollout', lockHeld: true });
              const failed = result.services.find((s) => s.result !== 'succeeded' && s.result !== 'unchanged');
              if (!result.ok || failed) throw new BerthError(`the rollout of ${failed?.service ?? roll.join(', ')} failed: ${failed?.error ?? `exit ${result.exitCode}`}`, { exitCode: result.exitCode || ExitCode.degraded });
              refresh.rolledOut.push(...roll);
            }
            done.push({ step: 'roll out changed services', result: roll.length ? `rolled out ${roll.join(', ')}` : 'no service has a new image' });
            break;
          }
        }
      }
    } catch (error) {
      refresh.error = errorMessage(error);
      report.ok = false;
      report.exitCode = error instanceof BerthError ? error.exitCode : ExitCode.degraded;
      // No pruning after a failed refresh: the images of the failed rollout may be needed.
      return report;
    }
  }
  if (options.prune) {
    const root = ((await deps.engine.docker.info().catch(() => ({}))) as { DockerRootDir?: string }).DockerRootDir;
    const free = async () => (root ? await statfs(root).then((s) => s.bavail * s.bsize, () => undefined) : undefined);
    const freeBefore = await free();
    const plan = planPrune(await pruneInput(deps, Object.keys(deps.project.services), options));
    const prune: NonNullable<MaintainReport['prune']> = { ...plan, removed: [], failed: [], imageBytes: 0 };
    report.prune = prune;
    for (const c of plan.containers) {
      await deps.engine.docker.getContainer(c.id).remove({ v: true }).then(() => prune.removed.push(`container ${c.name}`), (e) => prune.failed.push({ what: `container ${c.name}`, error: errorMessage(e) }));
    }
    for (const image of plan.remove) {
      const refs = image.tags.length ? image.tags : [image.id];
      let ok = true;
      for (const ref of refs) {
        await deps.engine.docker.getImage(ref).remove().then(() => prune.removed.push(ref), (e) => { ok = false; prune.failed.push({ what: ref, error: errorMessage(e) }); });
      }
      if (ok && !image.untagOnly) prune.imageBytes += image.size;
    }
    if (options.buildCache) {
      const hours = Math.round(options.buildCacheAgeMs / 3_600_000);
      try {
        // dockerode's pruneBuilder sends no filters (it would empty the whole cache): the request is made here.
        const modem = deps.engine.docker.modem as unknown as { dial(o: unknown, cb: (e: Error | null, d: unknown) => void): void };
        const dial = () => new Promise<{ SpaceReclaimed?: number }>((resolve, reject) => modem.dial({ path: '/build/prune?', method: 'POST', options: { filters: { until: [`${hours}h`] } }, statusCodes: { 200: true, 400: 'bad parameter', 500: 'server error' } }, (e, d) => (e ? reject(e) : resolve(d as { SpaceReclaimed?: number }))));
        const r = await deps.engine.call('prune the build cache', dial);
        prune.buildCache = { reclaimedBytes: r?.SpaceReclaimed ?? 0 };
      } catch (error) {
        prune.buildCache = { reclaimedBytes: 0, skipped: errorMessage(error) };
      }
    }
    const freeAfter = await free();
    if (freeBefore !== undefined && freeAfter !== undefined) prune.freedBytes = Math.max(0, freeAfter - freeBefore);
    if (prune.failed.length) {
      report.ok = false;
      report.exitCode = ExitCode.degraded;
    }
  }
  deps.store.audit({ project: deps.project.name, action: 'maintain', detail: { rolledOut: report.refresh?.rolledOut, removed: report.prune?.removed, ok: report.ok } });
  return report;
}
