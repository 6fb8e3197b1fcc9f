import type { ComposeProject } from '../compose/types.js';
import { BerthError, ExitCode } from '../lib/errors.js';

/** The services a runbook command works on: the named ones (each must exist), else every active one. */
export function selectServices(project: ComposeProject, names: string[] | undefined): string[] {
  if (!names?.length) return Object.keys(project.services);
  for (const name of names) {
    if (!project.services[name]) {
      const inactive = project.inactiveServices.includes(name) ? ' (its profile is not enabled: --profile)' : '';
      throw new BerthError(`no service "${name}" in project ${project.name}${inactive}`, { exitCode: ExitCode.usage, hint: `services: ${Object.keys(project.services).join(', ')}` });
    }
  }
  return names;
}
