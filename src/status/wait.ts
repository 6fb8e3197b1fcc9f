import { setTimeout as sleep } from 'node:timers/promises';
import type { ComposeProject } from '../compose/types.js';
import type { Engine } from '../engine/client.js';
import { collectContainerFacts } from './collect.js';
import { buildStatusReport, type StatusReport } from './report.js';

/**
 * Waits until the selected services run at their desired count and every container with a
 * healthcheck is healthy. Gives up early when a container is unhealthy or has exited; the
 * deadline is monotonic.
 */
export async function waitForHealthy(
  engine: Engine,
  project: ComposeProject,
  services: string[],
  options: { timeoutMs: number; pollMs?: number; onPoll?: (report: StatusReport) => void; onHeartbeat?: (text: string) => void; heartbeatMs?: number },
): Promise<{ ok: boolean; report: StatusReport; reason?: string }> {
  const started = performance.now();
  const deadline = started + options.timeoutMs;
  let beat = started + (options.heartbeatMs ?? 5000);
  for (;;) {
    const facts = await collectContainerFacts(engine, project.name, services);
    const report = buildStatusReport(project, services, facts, new Date());
    options.onPoll?.(report);
    const containers = report.services.flatMap((s) => s.containers);
    const starting = containers.some((c) => c.state === 'running' && c.health === 'starting');
    // Healthy means every service at (or above) its desired count and no container unhealthy; more
    // replicas than the model says (a scale kept by the rollout) is status's concern, not a wait's.
    const ready = report.services.every((s) => s.running >= s.desired && !s.containers.some((c) => c.health === 'unhealthy'));
    if (ready && !starting) return { ok: true, report };
    const failed = containers.find((c) => c.health === 'unhealthy' || (c.state === 'exited' && c.exitCode !== 0));
    if (failed) return { ok: false, report, reason: `${failed.name} is ${failed.problem ?? failed.state}` };
    if (options.onHeartbeat && performance.now() >= beat) {
      beat += options.heartbeatMs ?? 5000;
      const waiting = report.services.flatMap((s) => s.problems.map((p) => `${s.name}: ${p}`));
      const starting = containers.filter((c) => c.health === 'starting').map((c) => c.name);
      options.onHeartbeat(`still waiting (${Math.round((performance.now() - started) / 1000)}s of ≤ ${Math.round(options.timeoutMs / 1000)}s): ${[...waiting, ...(starting.length ? [`starting: ${starting.join(', ')}`] : [])].join('; ') || 'containers still starting'}`);
    }
    if (performance.now() >= deadline) {
      const waiting = report.services.flatMap((s) => s.problems.map((p) => `${s.name}: ${p}`));
      return { ok: false, report, reason: `timed out: ${waiting.join('; ') || 'containers still starting'}` };
    }
    await sleep(options.pollMs ?? 500);
  }
}

/** Default wait: the longest healthcheck budget among the services, plus a margin. */
export function healthBudgetMs(project: ComposeProject, services: string[]): number {
  let budget = 30_000;
  for (const name of services) {
    const hc = project.services[name]?.healthcheck;
    if (hc && !hc.disabled) budget = Math.max(budget, hc.startPeriodMs + hc.intervalMs * (hc.retries + 1) + 10_000);
  }
  return budget;
}
