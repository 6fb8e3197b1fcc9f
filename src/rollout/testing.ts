/** Helpers for the rollout integration tests and the benchmark: the test stack, images, load. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { listServiceContainers, type ServiceContainer } from '../compose/containers.js';
import type { Engine } from '../engine/client.js';
import { spawn } from 'node:child_process';
import { BERTH_BIN, runBerth, type CliResult } from '../testing/cli.js';
import { randomBytes } from 'node:crypto';
import { execFileAsync, removeLabelled, RUN_ID, TEST_LABEL } from '../testing/engine.js';
import { startLoad, type LoadResult } from './load.js';

export const FIXTURE = fileURLToPath(new URL('../../src/rollout/fixtures/compose.yaml', import.meta.url));
/** Override: Caddy and the app meet on `web` only; the app and its peer sit on `back` too. */
export const SPLIT_NETWORKS = fileURLToPath(new URL('../../src/rollout/fixtures/compose.split.yaml', import.meta.url));
/** Overrides: nginx or HAProxy in front instead of Caddy, configured as docs/proxies.md says (and nginx as it warns against). */
export const PROXY_OVERRIDES = {
  nginx: fileURLToPath(new URL('../../src/rollout/fixtures/compose.nginx.yaml', import.meta.url)),
  haproxy: fileURLToPath(new URL('../../src/rollout/fixtures/compose.haproxy.yaml', import.meta.url)),
  nginxStatic: fileURLToPath(new URL('../../src/rollout/fixtures/compose.nginx-static.yaml', import.meta.url)),
};
const APP_DIR = fileURLToPath(new URL('../../src/rollout/fixtures/app', import.meta.url));

/** Builds the test app image with a version baked in (broken: its health never passes). */
export async function buildApp(version: string, options: { broken?: boolean; failAfterMs?: number; startLog?: string } = {}): Promise<string> {
  const tag = `berthtest-rollout-app:${RUN_ID}-${SCOPE}-${version}`;
  await execFileAsync('docker', ['build', '-q', '-t', tag, '--label', `${TEST_LABEL}=${RUN_ID}`, '--label', `${SCOPE_LABEL}=${SCOPE}`, '--build-arg', `APP_VERSION=${version}`, '--build-arg', `APP_BROKEN=${options.broken ? 1 : 0}`, '--build-arg', `APP_FAIL_AFTER_MS=${options.failAfterMs ?? 0}`, '--build-arg', `APP_START_LOG=${options.startLog ?? ''}`, APP_DIR], { env: { ...process.env, DOCKER_BUILDKIT: '0' } });
  return tag;
}

/** Removes this process's test images (and every tag on them, berth-keep ones included). */
export async function removeImages(engine: Engine): Promise<void> {
  const images = await engine.docker.listImages({ filters: { label: [`${SCOPE_LABEL}=${SCOPE}`] } });
  for (const image of images) await engine.docker.getImage(image.Id).remove({ force: true }).catch(() => undefined);
}

/**
 * This file's stacks carry berth.test=<run id>-rollout and are named berthtest-rollout-<run id>-…:
 * other test files clean up everything of the run (berth.test=<run id>, berthtest_*_<run id>_*)
 * when they end, which would pull this stack away in the middle of a rollout test.
 */
export const STACK_LABEL = `${RUN_ID}-rollout`;

/**
 * Each test file runs in its own process and cleans up only its own: stacks and images carry this
 * process's scope (the files run side by side).
 */
export const SCOPE = randomBytes(3).toString('hex');
const SCOPE_LABEL = 'berth.test.scope';

export function stackName(prefix: string): string {
  return `berthtest-rollout-${prefix}-${RUN_ID}-${SCOPE}`.toLowerCase().replace(/[^a-z0-9_-]/g, '');
}

export class TestStack {
  readonly stateDir = mkdtempSync(join(tmpdir(), 'berth-rollout-state-'));
  image = '';
  /** The replica count the stack was brought up with (the model's deploy.replicas, APP_REPLICAS). */
  replicas = 1;
  constructor(readonly engine: Engine, readonly project: string, readonly files: string[] = [FIXTURE]) {}

  readonly hookLog = join(this.stateDir, 'hooks.log');

  env(image = this.image): Record<string, string> {
    return { APP_IMAGE: image, APP_REPLICAS: String(this.replicas), BERTH_TEST_RUN: RUN_ID, BERTH_TEST_LABEL: `${STACK_LABEL}-${this.project}`, BERTH_STATE_DIR: this.stateDir, HOOK_LOG: this.hookLog };
  }

  berth(args: string[], options: { image?: string; timeoutMs?: number; env?: Record<string, string>; bin?: string } = {}): Promise<CliResult> {
    return runBerth([...this.fileArgs(), '-p', this.project, ...args], { env: { ...this.env(options.image), ...options.env }, timeoutMs: options.timeoutMs ?? 120_000, bin: options.bin });
  }

  argv(args: string[]): string[] {
    return [...this.fileArgs(), '-p', this.project, ...args];
  }

  private fileArgs(): string[] {
    return this.files.flatMap((file) => ['-f', file]);
  }

  async up(image: string, replicas: number, env: Record<string, string> = {}): Promise<void> {
    this.image = image;
    this.replicas = replicas;
    const up = await this.berth(['compose', '--', 'up', '-d', '--scale', `app=${replicas}`], { env });
    if (up.code !== 0) throw new Error(`compose up failed: ${up.stderr}`);
    await this.waitServing(image.split('-').pop()!, replicas);
  }

  async port(): Promise<number> {
    const [proxy] = await listServiceContainers(this.engine, this.project, { services: ['proxy'] });
    const port = proxy?.ports.find((p) => p.containerPort === 80)?.hostPort;
    if (!port) throw new Error('the proxy publishes no port');
    return port;
  }

  /** Until the proxy answers with this version from every replica (Caddy has resolved them all). */
  async waitServing(version: string, replicas: number, timeoutMs = 30_000): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const healthy = (await this.app()).filter((c) => c.state === 'running' && c.health === 'healthy');
      if (healthy.length >= replicas) {
        try {
          const res = await fetch(`http://127.0.0.1:${await this.port()}/`);
          if (res.ok && res.headers.get('x-app-version') === version) { await sleep(1500); return; }
        } catch { /* not yet */ }
      }
      if (performance.now() > deadline) throw new Error(`the stack did not serve ${version} in time`);
      await sleep(300);
    }
  }

  app(): Promise<ServiceContainer[]> {
    return listServiceContainers(this.engine, this.project, { services: ['app'] });
  }

  /** Runs berth (or any async action) while load goes through the proxy; returns both. */
  async underLoad<T>(fn: () => Promise<T>): Promise<{ value: T; load: LoadResult; after: LoadResult }> {
    const load = startLoad(await this.port(), { rps: 40, maxMs: 120_000 });
    await sleep(500);
    const value = await fn();
    load.mark();
    await sleep(1500);
    const after = load.snapshot();
    return { value, load: await load.stop(), after };
  }

  async down(): Promise<void> {
    await this.berth(['--profile', 'migrate', '--profile', 'peer', 'compose', '--', 'down', '-v', '--remove-orphans', '-t', '1']).catch(() => undefined);
    await removeLabelled(this.engine, `${STACK_LABEL}-${this.project}`);
    for (const c of await listServiceContainers(this.engine, this.project, { includeOneoff: true })) await this.engine.docker.getContainer(c.id).remove({ force: true, v: true }).catch(() => undefined);
    rmSync(this.stateDir, { recursive: true, force: true });
  }
}

export function describeLoad(load: LoadResult): string {
  return `${load.ok}/${load.sent} ok, by version ${JSON.stringify(load.byVersion)}, failures: ${load.failures.join('; ') || 'none'}, ${load.slow} slow (>= 500 ms, slowest ${load.maxLatencyMs} ms)\n  timeline: ${load.timeline}`;
}

/** Starts berth on the stack and sends it a signal once its stderr shows `when` (after `delayMs`). */
export function berthWithSignal(stack: TestStack, args: string[], image: string, when: RegExp, signal: NodeJS.Signals, delayMs = 0): Promise<CliResult & { signalled: boolean }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--', BERTH_BIN, ...stack.argv(args)], { env: { ...process.env, NO_COLOR: '1', ...stack.env(image) }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let signalled = false;
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => {
      stderr += d;
      if (!signalled && when.test(stderr)) {
        signalled = true;
        void sleep(delayMs).then(() => child.kill(signal));
      }
    });
    child.on('error', reject);
    child.on('close', (code, sig) => resolve({ code: code ?? (sig === 'SIGKILL' ? 137 : 1), stdout, stderr, signalled }));
  });
}
