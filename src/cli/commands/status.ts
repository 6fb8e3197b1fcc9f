import type { Command } from 'commander';
import { formatDuration } from '../../lib/duration.js';
import { ExitCode } from '../../lib/errors.js';
import type { ContainerStatus, StatusReport } from '../../status/report.js';
import { action } from '../context.js';
import { table, type Painter } from '../output.js';

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('services with desired and running replicas; containers with health, image, uptime, restarts and ports')
    .argument('[service...]', 'services to show (default: all active)')
    .option('--swarm', 'the project as a Swarm stack: per task its node, state, health, digest and full error')
    .addHelpText('after', `
Exit codes: 0 all fine; 1 a service runs below or above its desired count, a container is
unhealthy, or runs another image than the compose file declares; 2 bad input; 3 engine.

Examples:
  berth status
  berth status app db --json
  berth -f compose.yaml -f compose.prod.yaml --profile backup status`)
    .action(
      action(async (ctx, services: string[], opts: { swarm?: boolean }) => {
        if (opts.swarm) return (await import('./swarm.js')).stackStatus(ctx, services);
        // The engine connects while the compose files load (its round trip overlaps their reading);
        // status needs no version details, so the API version comes from GET /_ping. A project
        // error is still the one reported when both fail.
        const connecting = import('../../engine/client.js').then((m) => m.Engine.connect({ details: false }));
        connecting.catch(() => {});
        const [{ buildStatusReport }, { collectContainerFacts, collectDeclaredImages, collectComposeProjects }, { selectServices }] = await Promise.all([import('../../status/report.js'), import('../../status/collect.js'), import('../../compose/select.js')]);
        const project = await ctx.project();
        const selected = selectServices(project, services);
        const engine = await connecting;
        const [facts, declared] = await Promise.all([collectContainerFacts(engine, project.name, services.length ? selected : undefined), collectDeclaredImages(engine, project, selected)]);
        // Nothing of the project at all: say which project was looked for, and what does run.
        const otherProjects = facts.length === 0 ? await collectComposeProjects(engine) : undefined;
        const report = buildStatusReport(project, selected, facts, new Date(), { declared, otherProjects, workingDir: project.workingDir });
        if (ctx.output.json) ctx.output.data(report);
        else ctx.output.line(renderStatus(report, ctx.output.paint));
        return report.ok ? ExitCode.ok : ExitCode.degraded;
      }),
    );
}

function healthText(c: ContainerStatus, paint: Painter): string {
  if (c.state !== 'running') return paint.red(c.problem ?? c.state);
  switch (c.health) {
    case 'healthy': return paint.green('healthy');
    case 'unhealthy': return paint.red('unhealthy');
    case 'starting': return paint.yellow('starting');
    default: return 'running';
  }
}

export function renderStatus(report: StatusReport, paint: Painter): string {
  const rows: string[][] = [['SERVICE', 'REPLICAS', 'CONTAINER', 'HEALTH', 'IMAGE', 'UPTIME', 'RESTARTS', 'PORTS']];
  for (const service of report.services) {
    const replicas = `${service.running}/${service.desired}`;
    const first = [paint.bold(service.name), service.ok ? paint.green(replicas) : paint.red(replicas)];
    if (service.containers.length === 0) rows.push([...first, paint.dim('-'), paint.red('not running'), '', '', '', '']);
    service.containers.forEach((c, i) => {
      const image = `${c.image} ${paint.dim((c.repoDigest?.split('@')[1] ?? c.imageId).replace('sha256:', '').slice(0, 12))}`;
      const ports = c.ports.map((p) => `${p.hostIp || '*'}:${p.hostPort}->${p.containerPort}/${p.protocol}`).join(', ');
      rows.push([...(i === 0 ? first : ['', '']), c.name, healthText(c, paint), image, c.uptimeMs === undefined ? '-' : formatDuration(c.uptimeMs), String(c.restartCount), ports]);
    });
  }
  const lines = [table(rows)];
  for (const orphan of report.orphans) lines.push(paint.yellow(`orphan container ${orphan.name} (service ${orphan.service} is not in the compose model)`));
  const problems = report.services.flatMap((s) => s.problems.map((p) => `${s.name}: ${p}`));
  lines.push('');
  if (report.notFound) {
    const { project, runningAs, otherProjects } = report.notFound;
    lines.push(paint.red(`✗ no container of project "${project}" on this engine`));
    if (runningAs) lines.push(`  this directory runs as project "${runningAs}": berth -p ${runningAs} status`);
    else lines.push(paint.dim(`  projects on this engine: ${otherProjects.join(', ') || 'none'} (the name comes from -p, COMPOSE_PROJECT_NAME, name: or the directory)`));
  } else if (problems.length) lines.push(paint.red(`✗ ${report.project}: ${problems.join('; ')}`));
  else lines.push(paint.green(`✓ ${report.project}: all services at their desired replicas and healthy, on the declared images`));
  return lines.join('\n');
}
