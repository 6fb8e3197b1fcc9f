import assert from 'node:assert/strict';
import { Agent } from 'node:http';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import './client.js';

const require = createRequire(import.meta.url);

test('ssh2 and gRPC are not loaded with the engine client, and load on first use', () => {
  const loaded = () => Object.keys(require.cache).filter((p) => /node_modules\/(ssh2|@grpc\/grpc-js)\//.test(p));
  assert.deepEqual(loaded(), []);
  const sshPath = createRequire(require.resolve('docker-modem')).resolve('./ssh.js');
  const ssh = require(sshPath) as (opt: object) => unknown;
  // The stub builds the real SSH agent (no connection is made until a request).
  const agent = ssh({ host: '127.0.0.1', port: 1 });
  assert.ok(agent instanceof Agent);
  assert.ok(loaded().some((p) => p.includes('/ssh2/')));
});
