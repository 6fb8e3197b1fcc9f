/** Helpers for backup integration tests and the benchmark: containers, projects, waits. */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BackupTargetConfig, ComposeProject, ProjectBerthConfig, ServiceModel } from '../compose/types.js';
import type { Engine } from '../engine/client.js';
import { ComposeLabel } from '../compose/containers.js';
import ssh2 from 'ssh2';
import { SftpDestination } from './destinations.js';
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

/** A volume `NAME_files` with an app container `NAME_app_1` (compose labels) mounting it at /data, seeded by a shell script. */
export async function volumeWithApp(engine: Engine, name: string, seed: string) {
  const volume = `${name}_files`;
  await engine.docker.createVolume({ Name: volume, Labels: scopeLabel });
  const app = await startContainer(engine, { name: `${name}_app_1`, image: 'local/debian:bookworm', cmd: ['sleep', 'infinity'], init: true, binds: [`${volume}:/data`], labels: { ...scopeLabel, ...composeLabels(name, 'app') } });
  const seeded = await execInContainer(engine, app.id, ['sh', '-c', seed]);
  if (seeded.exitCode !== 0) throw new Error(`seeding ${volume} failed: ${seeded.stderr}`);
  return { volume, app };
}

/** The berth CLI (bin/berth.js) in `cwd`, without colour; resolves with its exit code and output. */
export function runBerth(cwd: string, env: Record<string, string>, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const bin = new URL('../../bin/berth.js', import.meta.url).pathname;
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args], { cwd, env: { ...process.env, NO_COLOR: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.once('exit', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/**
 * A real OpenSSH server (images/sftp) on an ephemeral 127.0.0.1 port, key-only for root, ready
 * for SFTP. The private key is written to `identityFile`.
 */
export async function startSftpServer(engine: Engine, name: string, identityFile: string) {
  const keys = ssh2.utils.generateKeyPairSync('ed25519');
  writeFileSync(identityFile, keys.private, { mode: 0o600 });
  const server = await engine.docker.createContainer({
    name: `${name}_sftp`, Image: 'local/sftp:latest', Env: [`AUTHORIZED_KEY=${keys.public}`], Labels: scopeLabel,
    ExposedPorts: { '22/tcp': {} }, HostConfig: { PortBindings: { '22/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }] } },
  });
  await server.start();
  const port = Number((await server.inspect()).NetworkSettings.Ports['22/tcp']![0]!.HostPort);
  const config = { type: 'sftp' as const, host: '127.0.0.1', port, user: 'root', path: '/srv/backups', identityFile };
  const probeDir = tempDir('sftp-probe');
  await waitFor('sshd', async () => {
    const probe = new SftpDestination('probe', config, probeDir);
    try {
      await probe.readManifest('nothing');
      return (await execInContainer(engine, server.id, ['sh', '-c', 'test -s /root/.ssh/authorized_keys && pidof sshd'])).exitCode === 0;
    } finally {
      await probe.close();
    }
  }, 30_000);
  return { server, port, config };
}
