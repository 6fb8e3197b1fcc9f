import type { Command } from 'commander';
import { registerAgent } from './agent.js';
import { registerBackup } from './backup.js';
import { registerCheck } from './check.js';
import { registerCompose } from './compose.js';
import { registerDebug } from './debug.js';
import { registerDeploy } from './deploy.js';
import { registerMonitor } from './monitor.js';
import { registerHistory } from './history.js';
import { registerMonitorTest } from './monitor-test.js';
import { registerDoctor } from './doctor.js';
import { registerLogs } from './logs.js';
import { registerMaintain } from './maintain.js';
import { registerRollback } from './rollback.js';
import { registerRollout } from './rollout.js';
import { registerSecrets } from './secrets.js';
import { registerSocketProxy } from './socket-proxy.js';
import { registerStatus } from './status.js';
import { registerUp } from './up.js';

/** Every command of berth; each file registers one command (or one family). */
export function registerCommands(program: Command): void {
  registerStatus(program);
  registerUp(program);
  registerCompose(program);
  registerRollout(program); registerRollback(program); registerHistory(program); registerDeploy(program);
  registerCheck(program);
  registerBackup(program); registerAgent(program);
  registerSocketProxy(program);
  registerMonitor(program);
  registerMonitorTest(program); // after registerMonitor: it adds `test` to the monitor family
  registerDoctor(program);
  registerLogs(program);
  registerSecrets(program);
  registerMaintain(program);
  registerDebug(program);
}
