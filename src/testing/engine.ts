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
 * A label value for one test file's resources: `<run id>-<name>-<random>`. Each test file cleans
 * up only its own scope (files run in parallel); the run's final sweep removes every scope of the
 * run by prefix.
 */
export function testScope(name: string): string {
  return `${RUN_ID}-${name}-${randomBytes(3).toString('hex')}`;
}

/**
 * Removes every container, network and volume labelled berth.test=<value> (with `prefix`, every
 * value starting with it, and the Compose test projects of that run named by testName()).
 */
export async function removeLabelled(engine: Engine, value: string, options: { prefix?: boolean } = {}): Promise<void> {
  const matches = (labels: Record<string, string> | null | undefined) => {
    const label = labels?.[TEST_LABEL];
    if (label !== undefined && (options.prefix ? label.startsWith(value) : label === value)) return true;
    const project = labels?.['com.docker.compose.project'] ?? '';
    return Boolean(options.prefix) && project.startsWith('berthtest_') && project.includes(`_${value}_`);
  };
  const filters = { label: [options.prefix ? TEST_LABEL : `${TEST_LABEL}=${value}`] };
  const composeFilter = { label: ['com.docker.compose.project'] };
  const containers = [
    ...(await engine.docker.listContainers({ all: true, filters })),
    ...(options.prefix ? await engine.docker.listContainers({ all: true, filters: composeFilter }) : []),
  ].filter((c) => matches(c.Labels));
  await Promise.all(containers.map((c) => engine.docker.getContainer(c.Id).remove({ force: true, v: true }).catch(() => undefined)));
  const networks = [
    ...(await engine.docker.listNetworks({ filters })),
    ...(options.prefix ? await engine.docker.listNetworks({ filters: composeFilter }) : []),
  ].filter((n) => matches(n.Labels));
  await Promise.all(networks.map((n) => engine.docker.getNetwork(n.Id).remove().catch(() => undefined)));
  const volumes = [
    ...((await engine.docker.listVolumes({ filters })).Volumes ?? []),
    ...(options.prefix ? ((await engine.docker.listVolumes({ filters: composeFilter })).Volumes ?? []) : []),
  ].filter((v) => matches(v.Labels));
  await Promise.all(volumes.map((v) => engine.docker.getVolume(v.Name).remove({ force: true }).catch(() => undefined)));
  const images = (await engine.docker.listImages({ filters })).filter((i) => matches(i.Labels));
  await Promise.all(images.map((i) => engine.docker.getImage(i.Id).remove({ force: true }).catch(() => undefined)));
  if (options.prefix) {
    // Rollback targets berth tagged for the run's test projects (berth-keep/<project>-<service>:<deploy>).
    const keep = (await engine.docker.listImages({ filters: { reference: ['berth-keep/*'] } })).flatMap((i) => i.RepoTags ?? []);
    const tags = keep.filter((t) => t.startsWith('berth-keep/berthtest') && t.includes(value));
    for (const tag of tags) await engine.docker.getImage(tag).remove().catch(() => undefined);
  }
}

/** Removes whatever Compose created for one project (containers, networks, volumes). */
export function removeComposeProject(engine: Engine, project: string): Promise<void> {
  return removeByLabel(engine, `com.docker.compose.project=${project}`);
}

/** Removes the containers, networks and volumes that carry one label (key=value). */
export async function removeByLabel(engine: Engine, label: string): Promise<void> {
  const filters = { label: [label] };
  const containers = await engine.docker.listContainers({ all: true, filters });
  await Promise.all(containers.map((c) => engine.docker.getContainer(c.Id).remove({ force: true, v: true }).catch(() => undefined)));
  const networks = await engine.docker.listNetworks({ filters });
  await Promise.all(networks.map((n) => engine.docker.getNetwork(n.Id).remove().catch(() => undefined)));
  const volumes = (await engine.docker.listVolumes({ filters })).Volumes ?? [];
  await Promise.all(volumes.map((v) => engine.docker.getVolume(v.Name).remove({ force: true }).catch(() => undefined)));
}
