import type { Command } from 'commander';
import { registerStatus } from './status.js';

/** Every command of berth; each file registers one command (or one family). */
export function registerCommands(program: Command): void {
  registerStatus(program);
}
