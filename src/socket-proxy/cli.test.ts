import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Command } from 'commander';
import { registerSocketProxy } from '../cli/commands/socket-proxy.js';
import { auditHeaders, auditQuery } from './audit.js';

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

test('audit query: kept as sent, credentials redacted (secret-like keys, build args, user:password@ in URLs)', () => {
  assert.equal(auditQuery(''), undefined);
  assert.equal(auditQuery('path=%2Fetc%2Fshadow'), 'path=%2Fetc%2Fshadow');
  assert.equal(auditQuery('filters=%7B%22label%22%3A%5B%22a%3Db%22%5D%7D&all=1'), 'filters=%7B%22label%22%3A%5B%22a%3Db%22%5D%7D&all=1');
  assert.equal(auditQuery('fromSrc=https%3A%2F%2Fbob%3Ahunter2%40host%2Fx.tar&repo=x'), `fromSrc=${encodeURIComponent('https://[redacted]@host/x.tar')}&repo=x`);
  assert.equal(auditQuery('remote=https://tok@github.com/o/r.git'), `remote=${encodeURIComponent('https://[redacted]@github.com/o/r.git')}`);
  const build = auditQuery(`t=app&buildargs=${encodeURIComponent('{"NPM_TOKEN":"s3cret","MODE":"prod"}')}`)!;
  assert.doesNotMatch(build, /s3cret|prod/);
  assert.match(decodeURIComponent(build), /"NPM_TOKEN":"\[redacted\]"/);
  assert.equal(auditQuery('password=x;token=y&api_key=z'), 'password=[redacted];token=[redacted]&api_key=[redacted]');
  assert.equal(auditQuery('a=%zz'), 'a=[unreadable]');
});
