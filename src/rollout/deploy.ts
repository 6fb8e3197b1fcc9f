/**
 * `berth deploy`: the operations reference's deployment checklist as one command. Planned first
 * (pure: model + which images exist -> steps with reasons), then run step by step with events.
 */
import type { ComposeRunner } from '../compose/cli.js';
import type { ComposeProject, HookConfig, LogScanConfig } from '../compose/types.js';
import { formatDuration } from '../lib/duration.js';
import { BerthError, ExitCode, errorMessage } from '../lib/errors.js';
import { unknownServiceError } from '../compose/select.js';
import { runHook } from './execute.js';
import { DEFAULT_LOG_SCAN, describeLogScan, scanReplicaLogs } from './log-scan.js';
import { isStateful, startFirstBlocker } from './plan.js';
import type { RolloutRequest, RolloutResult } from './run.js';
import type { Engine } from '../engine/client.js';

export type DeployStep =
  | { kind: 'hook'; phase: 'pre' | 'post'; command: string[] | string; timeoutMs: number; reason: string }
  | { kind: 'pull'; services: string[]; reason: string }
  | { kind: 'build'; services: string[]; reason: string }
  | { kind: 'migrate'; service: string; command?: string[] | string; timeoutMs: number; reason: string }
  /** logScan: the blocking log scan, a gate inside the rollout (before traffic). */
  | { kind: 'rollout'; services: string[]; logScan?: LogScanConfig; reason: string }
  | { kind: 'verify'; services: string[]; reason: string }
  /** The advisory log scan, after the rollout: findings are reported, the deploy succeeds. */
  | { kind: 'scan-logs'; services: string[]; scan: LogScanConfig; reason: string };

export interface DeployPlan {
  project: string;
  steps: DeployStep[];
  /** Services left out of the rollout, and why. */
  skipped: Array<{ service: string; reason: string }>;
}

/** x-berth deploy.log_scan over the defaults, and --log-scan over its mode. */
export function logScanConfig(project: ComposeProject, mode?: LogScanConfig['mode']): LogScanConfig {
  return { ...DEFAULT_LOG_SCAN, ...project.berth.deploy.logScan, ...(mode ? { mode } : {}) };
}

/** The deploy plan (pure). `services` empty: every active service that can be rolled. */
export function planDeploy(project: ComposeProject, services: string[], options: { stateful?: boolean; stopFirst?: boolean; skipMigrate?: boolean; logScan?: LogScanConfig['mode'] } = {}): DeployPlan {
  const scan = logScanConfig(project, options.logScan);
  const migrate = project.berth.deploy.migrate;
  const explicit = services.length > 0;
  const candidates = explicit ? services : Object.keys(project.services).filter((s) => s !== migrate?.service);
  const skipped: DeployPlan['skipped'] = [];
  const roll: string[] = [];
  for (const name of candidates) {
    const service = project.services[name];
    if (!service) throw unknownServiceError(project, name);
    const blocker = startFirstBlocker(service);
    if (!explicit && blocker && !options.stopFirst) skipped.push({ service: name, reason: `${blocker}: roll it with berth rollout ${name} --stop-first` });
    else if (!explicit && isStateful(service) && !options.stateful) skipped.push({ service: name, reason: `stateful: roll it on its own with berth rollout ${name} --stateful` });
    else roll.push(name);
  }
  const steps: DeployStep[] = [];
  for (const hook of project.berth.deploy.preHooks) steps.push(hookStep('pre', hook));
  const pull = roll.filter((s) => project.services[s]!.image && !project.services[s]!.hasBuild);
  const build = roll.filter((s) => project.services[s]!.hasBuild);
  if (migrate && !options.skipMigrate && project.services[migrate.service]?.hasBuild && !build.includes(migrate.service)) build.push(migrate.service);
  if (pull.length) steps.push({ kind: 'pull', services: pull, reason: 'fetch the new images first, so the rollout does not wait on the registry; an image that exists only here is kept' });
  if (build.length) steps.push({ kind: 'build', services: build, reason: 'services with build: build their images' });
  if (migrate && !options.skipMigrate) {
    steps.push({ kind: 'migrate', service: migrate.service, command: migrate.command, timeoutMs: migrate.timeoutMs, reason: `x-berth deploy.migrate: compose run --rm ${migrate.service}, before new code runs (timeout ${formatDuration(migrate.timeoutMs)})` });
  }
  if (roll.length) {
    const blocking = scan.mode === 'blocking';
    steps.push({
      kind: 'rollout', services: roll, ...(blocking ? { logScan: scan } : {}),
      reason: `zero-downtime rollout in depends_on order (unchanged services are left alone)${blocking ? `; log scan (blocking): the new replicas' logs must show no ${describeLogScan(scan)} before they get traffic, else they are removed and the old ones keep serving` : ''}`,
    });
    steps.push({ kind: 'verify', services: roll, reason: 'every replica running and healthy at its desired count' });
    if (scan.mode === 'advisory') steps.push({ kind: 'scan-logs', services: roll, scan, reason: `log scan (advisory): ${describeLogScan(scan)} of the new replicas are reported; the deploy still succeeds` });
  }
  for (const hook of project.berth.deploy.postHooks) steps.push(hookStep('post', hook));
  return { project: project.name, steps, skipped };
}

function hookStep(phase: 'pre' | 'post', hook: HookConfig): DeployStep {
  return { kind: 'hook', phase, command: hook.command, timeoutMs: hook.timeoutMs, reason: `x-berth deploy.${phase}_hooks (timeout ${formatDuration(hook.timeoutMs)})` };
}

export function describeDeployStep(step: DeployStep): string {
  switch (step.kind) {
    case 'hook': return `${step.phase}-hook: ${Array.isArray(step.command) ? step.command.join(' ') : step.command}`;
    case 'pull': return `pull ${step.services.join(', ')}`;
    case 'build': return `build ${step.services.join(', ')}`;
    case 'migrate': return `migrate (run ${step.service})`;
    case 'rollout': return `roll out ${step.services.join(', ')}${step.logScan ? ' (log scan before traffic)' : ''}`;
    case 'verify': return `verify ${step.services.join(', ')} healthy`;
    case 'scan-logs': return `scan new replicas' logs for /${step.scan.patterns.join('|')}/i (advisory)`;
  }
}

export function renderDeployPlan(plan: DeployPlan): string {
  const lines = [`deploy ${plan.project}:`];
  plan.steps.forEach((s, i) => lines.push(`  ${i + 1}. ${describeDeployStep(s)}\n      ${s.reason}`));
  for (const s of plan.skipped) lines.push(`  skipped ${s.service}: ${s.reason}`);
  return lines.join('\n');
}

export type DeployEvent =
  | { type: 'deploy-step'; index: number; total: number; step: DeployStep; phase: 'start' | 'done' | 'failed'; ms?: number; error?: string }
  | { type: 'deploy-note'; text: string };

export interface DeployResult {
  ok: boolean;
  exitCode: number;
  plan: DeployPlan;
  steps: Array<{ step: string; ok: boolean; ms: number; error?: string }>;
  rollout?: RolloutResult;
  logFindings: Array<{ container: string; line: string }>;
}

export async function runDeploy(
  deps: { project: ComposeProject; engine: Engine; compose: () => Promise<ComposeRunner>; rollout: (req: RolloutRequest) => Promise<RolloutResult> },
  plan: DeployPlan,
  rolloutReq: Omit<RolloutRequest, 'services'>,
  onEvent: (e: DeployEvent) => void = () => undefined,
): Promise<DeployResult> {
  const result: DeployResult = { ok: false, exitCode: ExitCode.ok, plan, steps: [], logFindings: [] };
  let newReplicas: string[] = [];
  for (const [index, step] of plan.steps.entries()) {
    onEvent({ type: 'deploy-step', index, total: plan.steps.length, step, phase: 'start' });
    const started = performance.now();
    try {
      switch (step.kind) {
        case 'hook':
          await runHook(step.command, step.timeoutMs, { BERTH_PROJECT: plan.project, BERTH_PHASE: step.phase }, rolloutReq.signal);
          break;
        case 'pull': {
          const compose = await deps.compose();
          const pulled = await compose.run(['pull', ...step.services], { allowFailure: true, signal: rolloutReq.signal });
          if (pulled.code !== 0) {
            // Images that exist only here (built or imported locally) cannot be pulled: fine if present.
            const missing: string[] = [];
            for (const s of step.services) if (!(await deps.engine.inspectImage(deps.project.services[s]!.image!))) missing.push(s);
            // The registry could not be reached (or refused): an engine/registry failure, exit 3, not bad input.
            if (missing.length) throw new BerthError(`pull failed and no local image for ${missing.join(', ')}: ${pulled.stderr.trim().split('\n').pop() ?? ''}`, { exitCode: ExitCode.engine });
            onEvent({ type: 'deploy-note', text: `pull failed (${pulled.stderr.trim().split('\n').pop() ?? `exit ${pulled.code}`}); the local images are used` });
          }
          break;
        }
        case 'build':
          await (await deps.compose()).run(['build', ...step.services], { signal: rolloutReq.signal });
          break;
        case 'migrate': {
          const command = step.command === undefined ? [] : Array.isArray(step.command) ? step.command : ['sh', '-c', step.command];
          const run = await (await deps.compose()).run(['run', '--rm', step.service, ...command], { allowFailure: true, timeoutMs: step.timeoutMs, signal: rolloutReq.signal });
          if (run.code !== 0) throw new BerthError(`migration (${step.service}) exited ${run.code}: ${(run.stderr || run.stdout).trim().split('\n').slice(-3).join(' | ')}`);
          break;
        }
        case 'rollout': {
          const rollout = await deps.rollout({ ...rolloutReq, services: step.services, kind: 'deploy', ...(step.logScan ? { logScan: step.logScan } : {}) });
          result.rollout = rollout;
          if (!rollout.ok) throw Object.assign(new BerthError(`rollout failed: ${rollout.services.find((s) => s.error)?.error ?? 'see above'}`, { exitCode: rollout.exitCode }), { rollout });
          newReplicas = rollout.plan.services.flatMap((s) => s.newReplicas);
          break;
        }
        case 'verify': {
          const { waitForHealthy, healthBudgetMs } = await import('../status/wait.js');
          const verdict = await waitForHealthy(deps.engine, deps.project, step.services, { timeoutMs: Math.min(healthBudgetMs(deps.project, step.services), 60_000), onHeartbeat: (text) => onEvent({ type: 'deploy-note', text }) });
          if (!verdict.ok) throw new BerthError(`not healthy: ${verdict.reason}`, { exitCode: ExitCode.degraded });
          break;
        }
        case 'scan-logs': {
          // Advisory: reported, never a failure (a blocking scan ran inside the rollout, before traffic).
          result.logFindings.push(...(await scanReplicaLogs(deps.engine, newReplicas, step.scan)));
          if (result.logFindings.length) onEvent({ type: 'deploy-note', text: `log scan (advisory): ${result.logFindings.length} line(s) in the new replicas' logs` });
          break;
        }
      }
      const ms = performance.now() - started;
      result.steps.push({ step: describeDeployStep(step), ok: true, ms: Math.round(ms) });
      onEvent({ type: 'deploy-step', index, total: plan.steps.length, step, phase: 'done', ms });
    } catch (error) {
      const ms = performance.now() - started;
      const message = errorMessage(error);
      result.steps.push({ step: describeDeployStep(step), ok: false, ms: Math.round(ms), error: message });
      onEvent({ type: 'deploy-step', index, total: plan.steps.length, step, phase: 'failed', ms, error: message });
      result.exitCode = error instanceof BerthError ? error.exitCode : ExitCode.degraded;
      return result;
    }
  }
  result.ok = true;
  return result;
}
