/**
 * berth debug beside a container whose image has no shell (real engine, Compose v1): the helper
 * sees the target's processes and network, reads its files at /target and cannot write them, and
 * is gone afterwards.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { listServiceContainers } from '../../compose/containers.js';
import { BERTH_BIN, runBerth } from '../../testing/cli.js';
import { execFileAsync, integrationEngine, removeLabelled, TEST_LABEL, testName, testScope } from '../../testing/engine.js';

const { engine, skip } = await integrationEngine();
const project = testName('debug');
const scope = testScope('debug');
const dir = mkdtempSync(join(tmpdir(), 'berth-debug-'));
const image = `berthtest-noshell:${scope}`;
const composeFile = join(dir, 'compose.yaml');
const env = { BERTH_STATE_DIR: join(dir, 'state'), BERTH_HELPER_IMAGE: 'local/busybox:latest' };
const berth = (...args: string[]) => runBerth(['-f', composeFile, '-p', project, ...args], { env, timeoutMs: 120_000 });

async function helpers(): Promise<string[]> {
  const list = await engine!.docker.listContainers({ all: true, filters: { label: ['berth.role=debug-helper', `${TEST_LABEL}=${scope}`] } });
  return list.map((c) => c.Id);
}

describe('berth debug (real engine, Compose v1)', { skip }, () => {
  before(async () => {
    // An image without a shell: busybox's httpd, /bin/sh removed.
    writeFileSync(join(dir, 'Dockerfile'), 'FROM local/busybox:latest\nRUN ["busybox", "rm", "/bin/sh"]\nRUN ["busybox", "mkdir", "-p", "/www"]\nCOPY index.html /www/index.html\nCMD ["busybox", "httpd", "-f", "-p", "8080", "-h", "/www"]\n');
    writeFileSync(join(dir, 'index.html'), 'hello from the target\n');
    await execFileAsync('docker', ['build', '-q', '-t', image, '--label', `${TEST_LABEL}=${scope}`, dir], { env: { ...process.env, DOCKER_BUILDKIT: '0' } });
    writeFileSync(composeFile, `services:\n  web:\n    image: ${image}\n    labels: { ${TEST_LABEL}: "${scope}" }\nnetworks:\n  default:\n    labels: { ${TEST_LABEL}: "${scope}" }\n`);
    const up = await berth('compose', '--', 'up', '-d');
    assert.equal(up.code, 0, up.stderr);
  });
  after(async () => {
    await berth('compose', '--', 'down', '-t', '1').catch(() => undefined);
    if (engine) {
      await removeLabelled(engine, scope);
      await engine.docker.getImage(image).remove({ force: true }).catch(() => undefined);
    }
    rmSync(dir, { recursive: true, force: true });
  });

  test('processes, network and read-only files of a shell-less container; the helper is removed; exit code passed through', async () => {
    const [web] = await listServiceContainers(engine!, project, { services: ['web'] });
    const noShell = await execFileAsync('docker', ['exec', web!.id, 'sh', '-c', 'true']).then(() => 'ran', (e: { stdout?: string; stderr?: string; message?: string }) => `${e.stdout ?? ''}${e.stderr ?? ''}${e.message ?? ''}`);
    assert.match(noShell, /executable file not found|no such file/, 'the target has no shell (docker exec cannot help)');

    const script = 'ps; echo ---; wget -qO- http://127.0.0.1:8080/; echo ---; cat /target/www/index.html; touch /target/www/x 2>&1; echo touch=$?; exit 7';
    const result = await berth('debug', 'web', '--', 'sh', '-c', script);
    assert.equal(result.code, 7, result.stderr);
    const parts = result.stdout.split('---\n');
    assert.equal(parts.length, 3, result.stdout + result.stderr);
    const [ps, http, rest] = parts;
    assert.match(ps!, /busybox httpd -f -p 8080/, 'the target\'s processes (shared pid namespace)');
    assert.equal(http, 'hello from the target\n', 'its localhost (shared network namespace)');
    assert.match(rest!, /^hello from the target\n/, 'its files at /target');
    assert.match(rest!, /Read-only file system\ntouch=1\n$/, 'read-only');
    assert.deepEqual(await helpers(), [], 'the helper is gone');

    const dry = await berth('debug', 'web', '--dry-run');
    assert.equal(dry.code, 0);
    assert.match(dry.stdout, /pid namespace of \S+_web_1[\s\S]*its filesystem at \/target, read-only[\s\S]*removed on exit/);
  });

  test('a script on stdin (no TTY): run in the helper, exit code back, helper removed', async () => {
    const child = spawn(process.execPath, [BERTH_BIN, '-f', composeFile, '-p', project, 'debug', 'web'], { env: { ...process.env, ...env, NO_COLOR: '1' }, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stdin.end('echo from stdin; ls /target/www; exit 3\n');
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.equal(code, 3, out);
    assert.equal(out, 'from stdin\nindex.html\n');
    assert.deepEqual(await helpers(), []);
    const bad = await berth('debug', 'nope');
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /^berth: no such service: nope/);
  });
});
