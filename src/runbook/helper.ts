/**
 * Throwaway helper containers that join a service container's namespaces: busybox tools for
 * images that have no shell (doctor's reachability probe, berth debug). Labelled berth.role and,
 * when the target carries one, its berth.test label, so test cleanups find leftovers.
 */
import type Docker from 'dockerode';
import type { Engine } from '../engine/client.js';
import { BerthError, ExitCode } from '../lib/errors.js';

/** A busybox image the engine has (no registry is assumed); BERTH_HELPER_IMAGE overrides. */
export function helperImage(env: Record<string, string | undefined> = process.env): string {
  return env.BERTH_HELPER_IMAGE || env.BERTH_BACKUP_HELPER_IMAGE || 'local/busybox:latest';
}

export async function requireHelperImage(engine: Engine, image = helperImage()): Promise<string> {
  if (!(await engine.inspectImage(image))) {
    throw new BerthError(`the helper image ${image} is not on this engine`, { exitCode: ExitCode.usage, hint: 'set BERTH_HELPER_IMAGE to a busybox image it has (docker pull busybox, or docker image ls)' });
  }
  return image;
}

export function helperLabels(role: string, target: Docker.ContainerInspectInfo): Record<string, string> {
  const labels: Record<string, string> = { 'berth.role': role, 'berth.target': target.Name.replace(/^\//, '') };
  const test = target.Config.Labels?.['berth.test'];
  if (test) labels['berth.test'] = test;
  return labels;
}

/** Runs a busybox script in the target's network namespace and returns its output and exit code. */
export async function runInNetworkOf(engine: Engine, target: Docker.ContainerInspectInfo, script: string, args: string[], options: { image?: string; timeoutMs?: number } = {}): Promise<{ exitCode: number; output: string }> {
  const image = options.image ?? helperImage();
  const helper = await engine.call(`create a probe beside ${target.Name.replace(/^\//, '')}`, () =>
    engine.docker.createContainer({
      Image: image,
      Entrypoint: ['busybox', 'sh', '-c', script, 'probe', ...args],
      Labels: helperLabels('doctor-probe', target),
      HostConfig: { NetworkMode: `container:${target.Id}`, AutoRemove: false, ReadonlyRootfs: true, CapDrop: ['ALL'], Memory: 32 * 1048576, PidsLimit: 32 },
    }),
  );
  try {
    await engine.call('start the probe', () => helper.start());
    const timer = setTimeout(() => void helper.kill().catch(() => undefined), options.timeoutMs ?? 30_000);
    const waited = (await engine.call('wait for the probe', () => helper.wait())) as { StatusCode: number };
    clearTimeout(timer);
    const logs = (await engine.call('read the probe output', () => helper.logs({ stdout: true, stderr: true, follow: false }))) as unknown as Buffer;
    return { exitCode: waited.StatusCode, output: demux(logs) };
  } finally {
    await helper.remove({ force: true }).catch(() => undefined);
  }
}

/** The engine's multiplexed log stream (8-byte frame headers) as text; raw text passes through. */
export function demux(buffer: Buffer): string {
  const parts: string[] = [];
  let at = 0;
  while (at + 8 <= buffer.length && (buffer[at] === 1 || buffer[at] === 2 || buffer[at] === 0) && buffer[at + 1] === 0) {
    const size = buffer.readUInt32BE(at + 4);
    parts.push(buffer.subarray(at + 8, at + 8 + size).toString('utf8'));
    at += 8 + size;
  }
  return at === 0 ? buffer.toString('utf8') : parts.join('');
}
