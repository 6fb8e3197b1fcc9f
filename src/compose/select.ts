/** Service names given on the command line, checked against the project: one wording everywhere. */
import { BerthError, ExitCode } from '../lib/errors.js';
import { closest } from '../lib/suggest.js';
import type { ComposeProject } from './types.js';

/** `no such service: NAME` (exit 2), naming an inactive profile, with a suggestion or the list. */
export function unknownServiceError(project: Pick<ComposeProject, 'name' | 'services' | 'inactiveServices'>, name: string): BerthError {
  const all = Object.keys(project.services);
  const inactive = (project.inactiveServices ?? []).includes(name) ? ' (it is in an inactive profile; pass --profile)' : '';
  const near = inactive ? undefined : closest(name, all);
  return new BerthError(`no such service: ${name} in project ${project.name}${inactive}`, {
    exitCode: ExitCode.usage,
    hint: near ? `did you mean ${near}? services: ${all.join(', ')}` : `services: ${all.join(', ') || 'none'}`,
  });
}

/** Throws unknownServiceError for the first name that is not an active service of the project. */
export function requireServices(project: Pick<ComposeProject, 'name' | 'services' | 'inactiveServices'>, names: string[]): void {
  for (const name of names) if (!project.services[name]) throw unknownServiceError(project, name);
}

/** The services a command works on: the named ones (each must exist), else every active one. */
export function selectServices(project: Pick<ComposeProject, 'name' | 'services' | 'inactiveServices'>, names: string[] | undefined): string[] {
  if (!names?.length) return Object.keys(project.services);
  requireServices(project, names);
  return names;
}
