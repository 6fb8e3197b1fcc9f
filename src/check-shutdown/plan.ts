/** The probe as a plan: each step with the reason it exists (pure; `--dry-run` prints it). */
import type { ProbeOptions, ProbeStep, ShutdownSpec } from './types.js';

const secondsOf = (ms: number) => Math.max(0, Math.ceil(ms / 1000));

/** Docker's stop takes whole seconds (t=); a grace period below one second still gets one. */
export function stopTimeoutSeconds(gracePeriodMs: number): number {
  return Math.max(gracePeriodMs > 0 ? 1 : 0, secondsOf(gracePeriodMs));
}

export function requestsPerSecond(spec: ShutdownSpec, options: ProbeOptions): number {
  if (spec.port === undefined) return 0;
  return Math.max(0, options.requestsPerSecond ?? 20);
}

export function planShutdownProbe(spec: ShutdownSpec, options: ProbeOptions = {}, mode: 'throwaway' | 'in-place' = 'throwaway'): ProbeStep[] {
  const rps = requestsPerSecond(spec, options);
  const t = stopTimeoutSeconds(spec.stopGracePeriodMs);
  const steps: ProbeStep[] = [];
  const step = (kind: ProbeStep['kind'], description: string, reason: string) => steps.push({ kind, description, reason });
  step('inspect-image', `inspect ${spec.image}`, 'its ENTRYPOINT/CMD and StopSignal decide what PID 1 is and which signal it gets');
  if (mode === 'throwaway') {
    const extras = [spec.init ? 'init' : 'no init', spec.stopSignal ? `stop signal ${spec.stopSignal}` : 'image stop signal', spec.networks.length ? `networks ${spec.networks.join(', ')}` : 'default bridge'];
    step(
      'create',
      `create a throwaway container of ${spec.image} (${extras.join(', ')})${spec.port !== undefined ? `, port ${spec.port} published on 127.0.0.1` : ''}, labelled berth.probe`,
      'same command, environment, init and signal as the service, without its labels, ports or named volumes: nothing routes to it and no data is touched',
    );
    step('start', 'start it', 'the probe needs the app running as it runs in production');
  }
  step(
    'wait-ready',
    spec.port !== undefined ? `wait until port ${spec.port} answers HTTP` : 'wait 2 s for the app to settle',
    'a shutdown is only meaningful once the app is serving',
  );
  step('subscribe-events', 'subscribe to the engine events of the container', 'the engine reports each signal it sends (kill events): SIGKILL shows the grace period ran out');
  if (rps > 0) {
    step(
      'start-requests',
      `send ${rps} requests/s to ${spec.path ?? '/'} through 127.0.0.1, following readiness at ${spec.readinessPath ?? '/readyz'} like a proxy`,
      'requests that fail while the container stops are what users would see during a deploy',
    );
  }
  step('stop', `stop it as Docker does: POST /containers/{id}/stop?t=${t}`, `${spec.stopSignal ?? 'the stop signal'} first, SIGKILL after ${t}s (stop_grace_period)`);
  step('wait-exit', 'wait for the exit; record the time, exit code and signals sent', 'the facts the verdict is made of');
  if (mode === 'throwaway') step('remove', 'remove the container (always, also on failure)', 'a probe leaves nothing behind');
  else step('start', 'start the service container again', 'in place: the service is back as it was, minus the restart');
  return steps;
}
