/** Helpers for backup integration tests and the benchmark: containers, projects, waits. */
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BackupTargetConfig, ComposeProject, ProjectBerthConfig, ServiceModel } from '../compose/types.js';
import type { Engine } from '../engine/client.js';
import { ComposeLabel } from '../compose/containers.js';
import { execInContainer } from './exec.js';
import { RUN_ID, TEST_LABEL } from '../testing/engine.js';

/**
 * Test files run two at a time and each one's after() removes everything labelled
 * berth.test=RUN_ID (and Compose projects named berthtest_*_RUN_ID_*). Backup tests stop, restore
 * and time containers: they use a label value and names of their own (per test file), so no other
 * file's cleanup removes them mid-test and their cleanup removes nothing of others.
 */
export const SCOPE = `${RUN_ID}-backup-${randomBytes(3).toString('hex')}`;
export const scopeLabel: Record<string, string> = { [TEST_LABEL]: SCOPE };
export function scopedName(prefix: string): string {
  return `berthbk_${prefix}_${SCOPE}_${randomBytes(2).toString('hex')}`.toLowerCase().replace(/[^a-z0-9_-]/g, '');
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `berth-${prefix}-`));
}

export interface ServiceSpec {
  backup?: BackupTargetConfig;
  environment?: Record<string, string>;
  dependsOn?: string[];
}

/** A hand-built compose model (the loader is not needed to test backups). */
export function makeProject(name: string, services: Record<string, ServiceSpec>, backup: Partial<ProjectBerthConfig['backup']> = {}, volumes: Record<string, unknown> = {}): ComposeProject {
  const models: Record<string, ServiceModel> = {};
  for (const [service, spec] of Object.entries(services)) {
    models[service] = {
      name: service, raw: {}, image: undefined, hasBuild: false, replicas: 1, containerName: undefined, networkMode: undefined, networks: {}, ports: [],
      dependsOn: Object.fromEntries((spec.dependsOn ?? []).map((d) => [d, { condition: 'service_started' as const, restart: false, required: true }])),
      healthcheck: undefined, labels: {}, environment: spec.environment ?? {}, profiles: [], init: undefined, stopSignal: undefined, stopGracePeriodMs: 10_000, restart: undefined,
      berth: { rollout: {}, ...(spec.backup ? { backup: spec.backup } : {}) },
    };
  }
  return {
    name, workingDir: tmpdir(), files: [], envFiles: [], profiles: [], model: { services: {}, volumes }, services: models, inactiveServices: [],
    berth: { deploy: { preHooks: [], postHooks: [] }, backup: { destinations: {}, retention: {}, ...backup }, check: { rules: {} } },
    warnings: [], locate: () => undefined,
  };
}

export function composeLabels(project: string, service: string, number = 1): Record<string, string> {
  return { [ComposeLabel.project]: project, [ComposeLabel.service]: service, [ComposeLabel.number]: String(number), [ComposeLabel.oneoff]: 'False' };
}

export async function startContainer(engine: Engine, spec: { name: string; image: string; env?: string[]; labels: Record<string, string>; binds?: string[]; cmd?: string[]; tmpfs?: Record<string, string>; init?: boolean }) {
  const container = await engine.docker.createContainer({
    name: spec.name,
    Image: spec.image,
    Env: spec.env,
    Labels: spec.labels,
    Cmd: spec.cmd,
    HostConfig: { Binds: spec.binds, Tmpfs: spec.tmpfs, Init: spec.init },
  });
  await container.start();
  return container;
}

export async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await sleep(250);
  }
  throw new Error(`timed out waiting for ${what}`);
}

export async function sql(engine: Engine, id: string, kind: 'postgres' | 'mysql', query: string, db = 'app', user = 'app'): Promise<string> {
  const cmd = kind === 'postgres' ? ['psql', '-U', user, '-d', db, '-v', 'ON_ERROR_STOP=1', '-Atc', query] : ['mariadb', '-u', 'root', '-N', '-B', db, '-e', query];
  const result = await execInContainer(engine, id, cmd);
  if (result.exitCode !== 0) throw new Error(`${kind} query failed: ${result.stderr}`);
  return result.stdout.trim();
}

export async function waitPostgres(engine: Engine, id: string, db = 'app', user = 'app'): Promise<void> {
  // The entrypoint's temporary init server (listen_addresses '') answers too, then stops:
  // wait for the real one.
  await waitFor('postgres', async () => (await execInContainer(engine, id, ['pg_isready', '-U', user, '-d', db])).exitCode === 0 && (await sql(engine, id, 'postgres', 'SHOW listen_addresses', db, user)) === '*');
}

export async function waitMariadb(engine: Engine, id: string): Promise<void> {
  await waitFor('mariadb', async () => (await execInContainer(engine, id, ['mariadb', '-u', 'root', '-N', '-e', 'SELECT 1'])).stdout.trim() === '1');
}
