import { requireServices } from '../compose/select.js';
import type { ComposeProject } from '../compose/types.js';

/** The services a runbook command works on: the named ones (each must exist), else every active one. */
export function selectServices(project: ComposeProject, names: string[] | undefined): string[] {
  if (!names?.length) return Object.keys(project.services);
  requireServices(project, names);
  return names;
}
