/** `berth doctor`: plan the checks, collect the facts, judge them. */
import type { ComposeProject } from '../../compose/types.js';
import type { Engine } from '../../engine/client.js';
import type { StateStore } from '../../state/store.js';
import { selectServices } from '../../compose/select.js';
import { collectDoctorFacts } from './collect.js';
import { diagnose, planChecks } from './diagnose.js';
import type { DoctorCheck, DoctorReport } from './types.js';

export interface DoctorOptions {
  services?: string[];
  host?: boolean;
  reach?: boolean;
  refresh?: boolean;
}

export function doctorPlan(project: ComposeProject, options: DoctorOptions): DoctorCheck[] {
  const services = selectServices(project, options.services);
  return planChecks(project, services, { host: options.host ?? !options.services?.length, reach: options.reach ?? true });
}

export async function runDoctor(deps: { engine: Engine; project: ComposeProject; store?: StateStore }, options: DoctorOptions): Promise<DoctorReport> {
  const services = selectServices(deps.project, options.services);
  const facts = await collectDoctorFacts(deps.engine, deps.project, {
    services,
    host: options.host ?? !options.services?.length,
    reach: options.reach ?? true,
    store: deps.store,
    refresh: options.refresh,
  });
  return diagnose(facts);
}
