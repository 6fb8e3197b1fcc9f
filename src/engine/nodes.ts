/**
 * The engine of one Swarm node, for what only that node can do (a backup's `exec` into a task's
 * container, a restore, a container's health): the manager itself when the task runs there, else
 * the docker CLI context named like the node's hostname (`docker context create NODE --docker
 * host=ssh://user@NODE`), read from DOCKER_CONFIG (default ~/.docker) as the docker CLI stores it.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { BerthError, ExitCode } from '../lib/errors.js';
import { Engine } from './client.js';
import type { SwarmNodeInfo } from './swarm.js';

/** DOCKER_HOST of the docker CLI context with this name; undefined when there is none. */
export function contextHost(name: string, env: Record<string, string | undefined> = process.env): string | undefined {
  const dir = env.DOCKER_CONFIG || join(homedir(), '.docker');
  const id = createHash('sha256').update(name).digest('hex');
  try {
    const meta = JSON.parse(readFileSync(join(dir, 'contexts', 'meta', id, 'meta.json'), 'utf8')) as { Endpoints?: { docker?: { Host?: string } } };
    return meta.Endpoints?.docker?.Host;
  } catch {
    return undefined;
  }
}

export class NodeEngines {
  private readonly engines = new Map<string, Promise<Engine>>();

  /** `manager`: the engine berth is connected to, and its own node id. */
  constructor(private readonly manager: Engine, private readonly managerNodeId: string, private readonly env: Record<string, string | undefined> = process.env) {}

  /** Whether berth can reach this node's engine (without connecting). */
  reachable(node: SwarmNodeInfo | undefined): boolean {
    if (!node) return false;
    return node.ID === this.managerNodeId || contextHost(node.Description?.Hostname ?? '', this.env) !== undefined;
  }

  /** The node's engine; fails with what to set up when berth cannot reach it. */
  engine(node: SwarmNodeInfo): Promise<Engine> {
    if (node.ID === this.managerNodeId) return Promise.resolve(this.manager);
    const hostname = node.Description?.Hostname ?? node.ID;
    let engine = this.engines.get(node.ID);
    if (!engine) {
      const host = contextHost(hostname, this.env);
      if (!host) {
        return Promise.reject(new BerthError(`cannot reach the engine of node ${hostname}: no docker context named ${hostname}`, { exitCode: ExitCode.engine, hint: `docker context create ${hostname} --docker host=ssh://USER@${node.Status?.Addr ?? hostname}` }));
      }
      engine = Engine.connect({ host });
      this.engines.set(node.ID, engine);
    }
    return engine;
  }
}
