/**
 * Shared helpers for integration tests against the real Docker Engine.
 * Everything a test creates carries the label berth.test=<run id> and is removed afterwards.
 */
import { randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Engine } from '../engine/client.js';
import { errorMessage } from '../lib/errors.js';

export const execFileAsync = promisify(execFile);

export const TEST_LABEL = 'berth.test';
export const RUN_ID = process.env.BERTH_TEST_RUN ?? randomBytes(4).toString('hex');

let cached: Promise<{ engine?: Engine; reason?: string }> | undefined;

/**
 * Returns the engine for integration tests. Without one: under CI=true this throws (the test
 * fails with a clear message); otherwise it returns a skip reason that tests pass to `skip`,
 * and prints a loud warning once.
 */
export async function integrationEngine(): Promise<{ engine?: Engine; skip: string | false }> {
  cached ??= Engine.connect().then(
    (engine) => ({ engine }),
    (error) => ({ reason: errorMessage(error) }),
  );
  const { engine, reason } = await cached;
  if (engine) return { engine, skip: false };
  const message = `no Docker engine for integration tests: ${reason}. Run scripts/engine first.`;
  if (process.env.CI === 'true') throw new Error(message);
  process.stderr.write(`\n!!! SKIPPED: ${message}\n\n`);
  return { skip: message };
}

/** A unique, labelled name for a test's compose project or container. */
export function testName(prefix: string): string {
  return `berthtest_${prefix}_${RUN_ID}_${randomBytes(2).toString('hex')}`.toLowerCase().replace(/[^a-z0-9_-]/g, '');
}

/**
 * Removes every container, network and volume labelled with this run id (or a given value), and
 * whatever Compose created for test projects of this run (named by testName()).
 */
export async function removeLabelled(engine: Engine, value = RUN_ID): Promise<void> {
  const label = `${TEST_LABEL}=${value}`;
  const isTestProject = (labels: Record<string, string> | undefined) => {
    const project = labels?.['com.docker.compose.project'] ?? '';
    return project.startsWith('berthtest_') && project.includes(`_${value}_`);
  };
  const containers = [
    ...(await engine.docker.listContainers({ all: true, filters: { label: [label] } })),
    ...(await engine.docker.listContainers({ all: true, filters: { label: ['com.docker.compose.project'] } })).filter((c) => isTestProject(c.Labels)),
  ];
  await Promise.all(containers.map((c) => engine.docker.getContainer(c.Id).remove({ force: true, v: true }).catch(() => undefined)));
  const networks = [
    ...(await engine.docker.listNetworks({ filters: { label: [label] } })),
    ...(await engine.docker.listNetworks({ filters: { label: ['com.docker.compose.project'] } })).filter((n) => isTestProject(n.Labels)),
  ];
  await Promise.all(networks.map((n) => engine.docker.getNetwork(n.Id).remove().catch(() => undefined)));
  const volumes = [
    ...((await engine.docker.listVolumes({ filters: { label: [label] } })).Volumes ?? []),
    ...((await engine.docker.listVolumes({ filters: { label: ['com.docker.compose.project'] } })).Volumes ?? []).filter((v) => isTestProject(v.Labels ?? undefined)),
  ];
  await Promise.all(volumes.map((v) => engine.docker.getVolume(v.Name).remove({ force: true }).catch(() => undefined)));
}
