import type { Command } from 'commander';
import { BerthError, ExitCode } from '../../lib/errors.js';
import { requireServices } from '../../compose/select.js';
import { action } from '../context.js';
import { value } from '../values.js';
import { addRolloutFlags, finish, rolloutOptions, type RolloutFlags } from './rollout.js';

export function registerRollback(program: Command): void {
  addRolloutFlags(
    program
      .command('rollback')
      .description('bring back an earlier image of a service, through the same zero-downtime rollout')
      .argument('<service>', 'the service')
      .option('--to <id>', 'the deploy (berth history) whose image to bring back; default: the image before the last deploy', value.integer())
      .option('--swarm', "on a Swarm stack: the earlier image through Swarm's rolling update"),
  )
    .addHelpText('after', `
Rollback targets are kept from image pruning as berth-keep/<project>-<service>:<deploy id>.

Examples:
  berth rollback app
  berth rollback app --to 12 --dry-run`)
    .action(
      action(async (ctx, service: string, flags: RolloutFlags & { to?: string; swarm?: boolean }) => {
        const to = flags.to === undefined ? undefined : Number(flags.to);
        if (flags.swarm) return (await import('./swarm.js')).stackUpdate(ctx, [service], flags, 'rollback', to);
        const { rollbackTarget } = await import('../../rollout/run.js');
        const project = await ctx.project();
        requireServices(project, [service]);
        const target = rollbackTarget(await ctx.store(), project.name, service, to);
        const engine = await ctx.engine();
        if (!(await engine.inspectImage(target.ref))) {
          throw new BerthError(`the image of deploy #${target.deployId} (${target.imageId.slice(7, 19)}) is gone: its keep tag ${target.ref} was removed`, { exitCode: ExitCode.usage });
        }
        ctx.output.note(`rolling ${service} back to ${target.ref} (${target.imageId.slice(7, 19)})`);
        return finish(ctx, { ...rolloutOptions(flags), services: [service], kind: 'rollback', targets: { [service]: target.ref } });
      }),
    );
}
