/** The example production stack as a test project (examples/production): up, berth on it, down. */
import { statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Engine } from '../engine/client.js';
import { runBerth } from './cli.js';
import { removeComposeProject, testName } from './engine.js';

export const EXAMPLE_COMPOSE = fileURLToPath(new URL('../../examples/production/compose.yaml', import.meta.url));

/** An ephemeral proxy port on 127.0.0.1; the socket proxy gets the Docker socket's group. */
export function exampleStack(prefix: string, env: Record<string, string> = {}) {
  const project = testName(prefix);
  const fullEnv = { PROXY_BIND: '127.0.0.1:', DOCKER_GID: String(statSync('/var/run/docker.sock', { throwIfNoEntry: false })?.gid ?? 0), ...env };
  const berth = (...args: string[]) => runBerth(['-f', EXAMPLE_COMPOSE, '-p', project, ...args], { env: fullEnv, timeoutMs: 400_000 });
  return {
    project,
    berth,
    async up(): Promise<void> {
      const up = await berth('up');
      if (up.code !== 0) throw new Error(`berth up failed:\n${up.stderr}`);
    },
    async down(engine: Engine | undefined): Promise<void> {
      await berth('--profile', 'backup', '--profile', 'migrate', 'compose', '--', 'down', '-v', '--remove-orphans');
      if (engine) await removeComposeProject(engine, project);
    },
  };
}
