import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Command } from 'commander';
import { registerSocketProxy } from '../cli/commands/socket-proxy.js';
import { auditHeaders } from './audit.js';

test('CLI: socket-proxy is registered with its options and examples', () => {
  const program = new Command('berth');
  registerSocketProxy(program);
  const command = program.commands.find((c) => c.name() === 'socket-proxy');
  assert.ok(command);
  const flags = command.options.map((o) => o.long);
  for (const flag of ['--listen', '--socket', '--policy', '--compat', '--metrics', '--idle-timeout']) assert.ok(flags.includes(flag), flag);
  let help = '';
  command.configureOutput({ writeOut: (s) => (help += s) });
  command.outputHelp();
  assert.match(help, /Examples:/);
  assert.match(help, /CONTAINERS=1/);
});

test('audit headers: allow-listed, credentials redacted', () => {
  assert.deepEqual(auditHeaders([['User-Agent', 'x'], ['X-Registry-Auth', 'secret'], ['Cookie', 'c'], ['X-Other', 'y']]), { 'user-agent': 'x', 'x-registry-auth': '[redacted]', cookie: '[redacted]' });
  assert.equal(auditHeaders([['Accept', '*/*']]), undefined);
});
