import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dockerodeOptions, explainEngineError, parseHttpResponse } from './client.js';

test('DOCKER_HOST forms map to dockerode transports', () => {
  assert.deepEqual(dockerodeOptions('unix:///run/user/1000/docker.sock'), { socketPath: '/run/user/1000/docker.sock' });
  assert.deepEqual(dockerodeOptions('/var/run/docker.sock'), { socketPath: '/var/run/docker.sock' });
  const tcp = dockerodeOptions('tcp://10.0.0.5:2375');
  assert.equal(tcp.host, '10.0.0.5');
  assert.equal(tcp.port, 2375);
  assert.equal(tcp.protocol, 'http');
  const ssh = dockerodeOptions('ssh://deploy@server.example') as { protocol: string; username: string; port: number };
  assert.equal(ssh.protocol, 'ssh');
  assert.equal(ssh.username, 'deploy');
  assert.equal(ssh.port, 22);
  assert.throws(() => dockerodeOptions('npipe:////./pipe/docker'), /unsupported DOCKER_HOST/);
});

test('socket failures become one actionable line', () => {
  const host = 'unix:///var/run/docker.sock';
  const denied = explainEngineError(Object.assign(new Error('connect EACCES'), { code: 'EACCES' }), host, 'ping');
  assert.equal(denied.message, 'cannot reach the Docker engine at unix:///var/run/docker.sock: permission denied (is this user in the docker group?)');
  assert.equal(denied.exitCode, 3);
  const missing = explainEngineError(Object.assign(new Error('connect ENOENT'), { code: 'ENOENT' }), host, 'ping');
  assert.match(missing.message, /no such socket \(is dockerd running\?\)/);
  const refused = explainEngineError(Object.assign(new Error('x'), { code: 'ECONNREFUSED' }), 'tcp://127.0.0.1:1', 'ping');
  assert.match(refused.message, /tcp:\/\/127\.0\.0\.1:1: connection refused/);
});

test('engine HTTP errors keep the engine message on one line', () => {
  const error = Object.assign(new Error('(HTTP code 404) no such container - No such container: abc\nmore'), { statusCode: 404, json: { message: 'No such container: abc' } });
  const explained = explainEngineError(error, 'unix:///var/run/docker.sock', 'inspect container abc');
  assert.equal(explained.message, 'cannot inspect container abc: No such container: abc (engine answered 404)');
  assert.ok(!explained.message.includes('\n'));
});

test('an HTTP/1.0 answer from the engine socket parses with Content-Length, chunked or read to the end', () => {
  const plain = parseHttpResponse(Buffer.from('HTTP/1.0 200 OK\r\nApi-Version: 1.41\r\nContent-Type: application/json\r\n\r\n[{"Id":"a"}]'));
  assert.equal(plain.status, 200);
  assert.equal(plain.headers['api-version'], '1.41');
  assert.equal(plain.body.toString(), '[{"Id":"a"}]');
  assert.equal(parseHttpResponse(Buffer.from('HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\n{}xx')).body.toString(), '{}');
  const chunked = parseHttpResponse(Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n{"a"\r\n3\r\n:1}\r\n0\r\n\r\n'));
  assert.equal(chunked.body.toString(), '{"a":1}');
  assert.throws(() => parseHttpResponse(Buffer.from('garbage')), /malformed HTTP response/);
});
