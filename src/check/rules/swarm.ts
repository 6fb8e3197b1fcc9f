/**
 * Rules for a project deployed as a Swarm stack (`berth check --swarm`): what `docker stack deploy`
 * drops, the update and rollback config a zero-downtime update needs, the healthcheck that gates
 * start-first, reservations and limits, stateful services with local volumes, endpoint and port modes.
 * Pure, over the compose model (and the stack rendering of src/compose/stack.ts).
 */
import { renderStack } from '../../compose/stack.js';
import type { ServiceModel } from '../../compose/types.js';
import type { CheckContext, ComposeRule, RuleHit } from '../types.js';
import { isDatastore, isOneOff, isProxy, mounts, svc } from './util.js';

type Json = Record<string, unknown>;
const deployOf = (s: ServiceModel): Json => (s.raw.deploy as Json | undefined) ?? {};
const sub = (value: unknown): Json => (value && typeof value === 'object' ? (value as Json) : {});
const gated = (s: ServiceModel) => Boolean(s.healthcheck && !s.healthcheck.disabled);

/** Named volumes with the local driver (the default): their data stays on the node that wrote it. */
function localVolumes(s: ServiceModel, ctx: CheckContext): string[] {
  const top = sub(ctx.project.model.volumes);
  return mounts(s).filter((m) => m.type === 'volume' && m.source).map((m) => m.source!).filter((name) => {
    const def = sub(top[name]);
    return !def.external && (def.driver === undefined || def.driver === 'local') && !sub(def.driver_opts).type;
  });
}

/** A placement constraint that pins tasks to one node (hostname, id or a node label). */
const pinned = (s: ServiceModel) => (sub(sub(deployOf(s).placement)).constraints as unknown[] | undefined ?? []).some((c) => /node\.(hostname|id|labels\.[^=!]+)\s*==/.test(String(c)));

function each(fn: (s: ServiceModel, ctx: CheckContext) => RuleHit[] | RuleHit | undefined, options: { oneOff?: boolean } = {}) {
  return (ctx: CheckContext): RuleHit[] => Object.values(ctx.project.services).flatMap((s) => {
    if (!options.oneOff && isOneOff(s, ctx.project)) return [];
    const hits = fn(s, ctx);
    return (hits === undefined ? [] : Array.isArray(hits) ? hits : [hits]).map((h) => ({ service: s.name, ...h }));
  });
}

export const swarmRules: ComposeRule[] = [
  {
    id: 'swarm-unsupported', family: 'swarm', severity: 'error', scope: 'compose', target: 'swarm',
    title: 'Nothing docker stack deploy would silently drop',
    rationale: '`docker stack deploy` ignores build, container_name, network_mode, links, privileged, devices, a port bound to one address and more with at most a one-line warning: the stack runs without what the file says (a port meant for 127.0.0.1 is published on every address).',
    advice: 'Remove or replace what Swarm does not support (see the message); `berth deploy --swarm` refuses these too, and maps depends_on and restart itself.',
    check: (ctx) => renderStack(ctx.project, { readFile: () => Buffer.from('') }).findings
      .filter((f) => f.level === 'error' && !/-(file|environment|source)$/.test(f.id) && f.id !== 'swarm-depends-on-cycle')
      .map((f) => ({ message: f.message, path: f.path, service: f.service })),
  },
  {
    id: 'swarm-update-config', family: 'swarm', severity: 'warning', scope: 'compose', target: 'swarm',
    title: 'Rolling updates that cannot drop traffic or stay broken',
    rationale: "Swarm's default update stops a task before its replacement starts (order: stop-first) and pauses on failure (failure_action: pause), leaving a half-updated service; without a monitor window a task that crashes seconds after start still counts as updated.",
    advice: 'deploy.update_config: { order: start-first, failure_action: rollback, monitor: 10s } for stateless services with a healthcheck (berth deploy --swarm fills these in when unset).',
    check: each((s) => {
      if (isDatastore(s) || !gated(s)) return;
      const update = sub(deployOf(s).update_config);
      const hits: RuleHit[] = [];
      if (update.order === 'stop-first') hits.push({ message: `service "${s.name}" updates stop-first: each task is down until its replacement is healthy`, path: svc(s.name, 'deploy', 'update_config', 'order') });
      if (update.failure_action === 'pause' || update.failure_action === 'continue') hits.push({ message: `service "${s.name}": failure_action ${String(update.failure_action)} leaves a failed update half done; use rollback`, path: svc(s.name, 'deploy', 'update_config', 'failure_action') });
      if (update.monitor === '0s' || update.monitor === 0) hits.push({ message: `service "${s.name}": monitor 0s: a task that fails right after starting still counts as updated`, path: svc(s.name, 'deploy', 'update_config', 'monitor') });
      return hits;
    }),
  },
  {
    id: 'swarm-healthcheck-gate', family: 'swarm', severity: 'warning', scope: 'compose', target: 'swarm',
    title: 'A healthcheck gates start-first updates',
    rationale: 'Swarm counts a new task as ready, adds it to DNS and stops an old one as soon as it runs unless the service has a healthcheck; then requests reach a task that is still starting. With a healthcheck, a task joins DNS only once healthy (measured in the swarm tests).',
    advice: 'Add a healthcheck that probes the app (an HTTP /health endpoint), with a start_period that covers startup.',
    check: each((s) => {
      if (gated(s) || isDatastore(s)) return;
      const order = sub(deployOf(s).update_config).order;
      if (order === 'start-first' || s.ports.length || isProxy(s) || s.replicas > 1) return { message: `service "${s.name}" has no healthcheck: Swarm sends it traffic as soon as a task runs, before the app is ready`, path: svc(s.name) };
      return undefined;
    }),
  },
  {
    id: 'swarm-reservations', family: 'swarm', severity: 'info', scope: 'compose', target: 'swarm',
    title: 'Reservations and limits for the scheduler',
    rationale: "Swarm places tasks by their reservations: without a memory reservation it can put every task on one node until it runs out of memory, and without a limit one task can starve the others on its node. A start-first update briefly needs room for one more task.",
    advice: 'deploy.resources: { reservations: { memory: 128M }, limits: { memory: 512M } } sized from what the service really uses.',
    check: each((s) => {
      const resources = sub(deployOf(s).resources);
      if (sub(sub(resources.reservations)).memory !== undefined && sub(sub(resources.limits)).memory !== undefined) return;
      return { message: `service "${s.name}" has no memory ${sub(sub(resources.reservations)).memory === undefined ? 'reservation' : 'limit'} (deploy.resources)`, path: svc(s.name, ...(deployOf(s).resources ? ['deploy', 'resources'] : [])) };
    }),
  },
  {
    id: 'swarm-stateful-placement', family: 'swarm', severity: 'error', scope: 'compose', target: 'swarm',
    title: 'Stateful services with local volumes are pinned to one node',
    rationale: 'A local volume lives on the node that created it. An unpinned database task that Swarm reschedules (node drained, restarted, updated) starts on another node with an empty volume; two replicas on one volume corrupt it.',
    advice: 'Pin it: deploy.placement.constraints: ["node.hostname == db1"] (or a node label), replicas: 1, update_config.order: stop-first; or use a volume driver that follows the task.',
    check: each((s, ctx) => {
      const volumes = localVolumes(s, ctx);
      if (!volumes.length || (!isDatastore(s) && !s.berth.backup)) return;
      const hits: RuleHit[] = [];
      if (!pinned(s)) hits.push({ message: `service "${s.name}" keeps data in local volume ${volumes.join(', ')} but is not pinned to a node (deploy.placement.constraints)`, path: svc(s.name, ...(deployOf(s).placement ? ['deploy', 'placement'] : [])) });
      if (s.replicas > 1) hits.push({ message: `service "${s.name}" runs ${s.replicas} replicas on local volume ${volumes.join(', ')}`, path: svc(s.name, 'deploy', 'replicas') });
      if (sub(deployOf(s).update_config).order === 'start-first') hits.push({ message: `service "${s.name}" updates start-first: two database tasks on one volume`, path: svc(s.name, 'deploy', 'update_config', 'order') });
      return hits;
    }, { oneOff: true }),
  },
  {
    id: 'swarm-secret-environment', family: 'swarm', severity: 'warning', scope: 'compose', target: 'swarm',
    title: 'Secrets as Swarm secrets, not environment',
    rationale: "Swarm stores a service's environment in its spec: every manager's raft log, `docker service inspect` and each task's `docker inspect` show it. Swarm secrets are encrypted at rest and mounted only into the tasks that use them.",
    advice: 'Declare a top-level secret (file: or environment:), give it to the service under secrets:, and read /run/secrets/NAME (most images take VAR_FILE). berth versions secrets by content hash, so a change rolls out.',
    check: each((s) => Object.entries(s.environment)
      .filter(([key, value]) => value && /(PASSWORD|PASSWD|SECRET|TOKEN|API_KEY|PRIVATE_KEY)$/i.test(key) && !/_FILE$/i.test(key))
      .map(([key]) => ({ message: `service "${s.name}" passes ${key} in its environment: on Swarm it is stored in the service spec`, path: svc(s.name, 'environment', key) })), { oneOff: true }),
  },
  {
    id: 'swarm-endpoint-mode', family: 'swarm', severity: 'info', scope: 'compose', target: 'swarm',
    title: 'Endpoint mode for services behind a proxy',
    rationale: 'The default endpoint mode (vip) balances through IPVS: kernels without it (as on the test machines) answer nothing, and a proxy sees one address for all tasks, so it cannot retry another task or see one leave. dnsrr with published ports in ingress mode is refused by Swarm.',
    advice: 'For a service a proxy reaches: deploy.endpoint_mode: dnsrr, and a proxy that re-resolves tasks.SERVICE (Caddy dynamic a, nginx resolver with a variable, HAProxy server-template); publish ports of dnsrr services with mode: host.',
    check: each((s, ctx) => {
      const mode = deployOf(s).endpoint_mode;
      const ingress = s.ports.filter((p) => p.mode === 'ingress');
      if (mode === 'dnsrr' && ingress.length) return { message: `service "${s.name}": endpoint_mode dnsrr with a port in ingress mode (Swarm refuses it): publish with mode: host`, path: svc(s.name, 'ports', s.ports.indexOf(ingress[0]!)) };
      const proxied = Object.values(ctx.project.services).some((p) => p !== s && isProxy(p)) && !isProxy(s) && !isDatastore(s) && s.ports.length === 0;
      if (mode === undefined && proxied && s.replicas > 1) return { message: `service "${s.name}" (${s.replicas} replicas behind a proxy) uses the vip endpoint mode: the proxy cannot see its tasks`, path: svc(s.name) };
      return undefined;
    }),
  },
  {
    id: 'swarm-port-mode', family: 'swarm', severity: 'warning', scope: 'compose', target: 'swarm',
    title: 'Published ports in host mode for the entry proxy',
    rationale: "A port published in ingress mode (the default) goes through Swarm's routing mesh: IPVS on every node (absent in some kernels), the client's address replaced by a node's, and an extra hop. The entry proxy usually wants the real client address and no mesh.",
    advice: 'ports: [{ target: 443, published: 443, mode: host }] on the proxy, with deploy.mode: global or a placement constraint so each node runs one.',
    check: each((s) => s.ports.map((p, i) => ({ p, i })).filter(({ p }) => p.mode === 'ingress' && p.published !== undefined).map(({ p, i }) => ({ message: `service "${s.name}" publishes ${p.published}->${p.target} through the routing mesh (ingress mode)`, path: svc(s.name, 'ports', i) }))),
  },
];
