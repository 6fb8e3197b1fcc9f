/**
 * berth check shutdown against real containers: tiny apps on local/node (Debian's Node 18), one
 * using berth/graceful from dist/graceful (copied into the image), and the broken patterns of the
 * reference. Images are tagged local/berth-test-*, everything is labelled berth.test=<run id> and
 * removed afterwards, also on failure.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { integrationEngine, execFileAsync, RUN_ID, TEST_LABEL, removeLabelled, testScope } from '../testing/engine.js';

// This file's own label value: files run in parallel and each cleans up only its own.
const SCOPE = testScope('shutdown');
import { probeShutdown } from './probe.js';
import { renderShutdownReport } from './run.js';
import type { ProbeOptions, ShutdownReport, ShutdownSpec } from './types.js';

const { engine, skip } = await integrationEngine();
const GRACEFUL_DIST = fileURLToPath(new URL('../graceful/', import.meta.url));
const IMAGES = {
  exec: `local/berth-test-shutdown-exec:${RUN_ID}`,
  shell: `local/berth-test-shutdown-shell:${RUN_ID}`,
  npm: `local/berth-test-shutdown-npm:${RUN_ID}`,
};

// MODE: graceful (berth/graceful), ignore (a SIGTERM handler that does nothing), exit-now (exit 0 on
// SIGTERM with requests in flight). Every answer takes SLOW_MS, so requests are in flight at the stop.
const SERVER = `
import http from 'node:http';
const mode = process.env.MODE ?? 'graceful';
const server = http.createServer((req, res) => setTimeout(() => { res.writeHead(200, { 'Content-Type': 'text/plain' }); res.end('ok\\n'); }, Number(process.env.SLOW_MS ?? 100)));
if (mode === 'graceful') {
  const { createGraceful } = await import('berth/graceful');
  createGraceful(server);
} else if (mode === 'ignore') {
  process.on('SIGTERM', () => console.log('SIGTERM ignored'));
} else if (mode === 'exit-now') {
  process.on('SIGTERM', () => process.exit(0));
}
server.listen(3000, '0.0.0.0', () => console.log('listening on 3000, mode ' + mode));
`;

const dirs: string[] = [];

async function build(tag: string, from: string, cmd: string): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'berth-shutdown-app-'));
  dirs.push(dir);
  writeFileSync(join(dir, 'server.mjs'), SERVER);
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'probe-app', private: true, scripts: { start: 'node server.mjs' } }));
  // Installed as a dependency would be: node_modules/berth with the package's "./graceful" export.
  const pkg = join(dir, 'node_modules', 'berth');
  cpSync(GRACEFUL_DIST, join(pkg, 'dist', 'graceful'), { recursive: true, filter: (src) => !/\.test\.|fixtures|\.map$/.test(src) });
  writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: 'berth', type: 'module', exports: { './graceful': './dist/graceful/index.js' } }));
  writeFileSync(join(dir, 'Dockerfile'), `FROM ${from}\nWORKDIR /app\nCOPY . /app\nLABEL ${TEST_LABEL}=${SCOPE}\n${cmd}\n`);
  await execFileAsync('docker', ['build', '-q', '-t', tag, dir]);
}

before(async () => {
  if (skip) return;
  if (!(await engine!.inspectImage('local/node-npm:latest'))) {
    // scripts/test builds it via scripts/engine; a direct run builds it here.
    await execFileAsync('docker', ['build', '-q', '-t', 'local/node-npm:latest', fileURLToPath(new URL('../../images/node-npm/', import.meta.url))], { maxBuffer: 1 << 24 });
  }
  await build(IMAGES.exec, 'local/node:latest', 'CMD ["node", "server.mjs"]');
  await build(IMAGES.shell, 'local/node:latest', 'CMD node server.mjs');
  await build(IMAGES.npm, 'local/node-npm:latest', 'CMD npm start');
});

after(async () => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  if (skip) return;
  await removeLabelled(engine!, SCOPE);
  for (const tag of Object.values(IMAGES)) {
    await engine!.docker
      .getImage(tag)
      .remove({ force: true })
      .catch((error: { statusCode?: number; message?: string }) => {
        if (error.statusCode !== 404) process.stderr.write(`could not remove test image ${tag}: ${error.message}\n`);
      });
  }
});

const options: ProbeOptions = { requestsPerSecond: 40, readinessPollMs: 250, startTimeoutMs: 20_000, labels: { [TEST_LABEL]: SCOPE } };

function spec(image: string, overrides: Partial<ShutdownSpec> = {}): ShutdownSpec {
  return { service: 'app', image, env: {}, networks: [], stopGracePeriodMs: 2000, labels: { 'berth.probe': 'app' }, port: 3000, ...overrides };
}

async function leftovers(): Promise<number> {
  return (await engine!.docker.listContainers({ all: true, filters: { label: [`${TEST_LABEL}=${SCOPE}`, 'berth.probe'] } })).length;
}

function codes(report: ShutdownReport) {
  return report.verdict.findings.map((f) => f.code);
}

test('exec form with berth/graceful as PID 1 (no init): drains, exits 0 before the grace period, no request fails', { skip }, async () => {
  const report = await probeShutdown(engine!, spec(IMAGES.exec, { stopGracePeriodMs: 4000, env: { BERTH_STOP_GRACE_PERIOD: '4s' } }), options);
  const f = report.facts;
  assert.equal(f.started, true, f.startError);
  assert.equal(f.pid1.kind, 'exec');
  assert.deepEqual(f.pid1.argv, ['node', 'server.mjs']);
  assert.equal(f.processes[0], 'node server.mjs', 'node itself is PID 1');
  assert.equal(f.init, false);
  assert.equal(f.exitCode, 0, f.logTail?.join('\n'));
  assert.equal(f.sigkill, false);
  assert.deepEqual(f.signalsSent, ['SIGTERM']);
  // The library drains for 40% of its 3.2 s deadline (1.28 s), then closes and exits.
  assert.ok(f.timeToExitMs! >= 1200 && f.timeToExitMs! < 3500, `time to exit ${f.timeToExitMs} ms`);
  assert.equal(f.requests!.readiness, 'followed');
  assert.ok(f.requests!.sent >= 20, `requests sent: ${f.requests!.sent}`);
  assert.equal(f.requests!.failedDuringShutdown, 0, JSON.stringify(f.requests));
  assert.ok(f.requests!.readinessFailedAfterMs! < 1200, 'the simulated proxy saw readiness 503 during the drain');
  assert.equal(report.verdict.ok, true, report.verdict.summary);
  assert.deepEqual(codes(report), ['no-init']);
  assert.equal(await leftovers(), 0, 'the probe container was removed');
});

test('the same app with init: true: tini is PID 1 and forwards SIGTERM', { skip }, async () => {
  const report = await probeShutdown(engine!, spec(IMAGES.exec, { init: true, stopGracePeriodMs: 4000, env: { BERTH_STOP_GRACE_PERIOD: '4s' } }), options);
  const f = report.facts;
  assert.equal(f.init, true);
  assert.match(f.processes[0]!, /docker-init/);
  assert.equal(f.exitCode, 0, f.logTail?.join('\n'));
  assert.equal(f.sigkill, false);
  assert.equal(f.requests!.failedDuringShutdown, 0, JSON.stringify(f.requests));
  assert.equal(report.verdict.ok, true, report.verdict.summary);
  assert.deepEqual(report.verdict.findings, []);
});

test('shell form CMD: sh is PID 1, SIGTERM never reaches the app, SIGKILL after the 2 s grace period', { skip }, async () => {
  const report = await probeShutdown(engine!, spec(IMAGES.shell, { env: { BERTH_STOP_GRACE_PERIOD: '2s' } }), options);
  const f = report.facts;
  assert.equal(f.started, true, f.startError);
  assert.equal(f.pid1.kind, 'shell');
  assert.deepEqual(f.pid1.argv, ['/bin/sh', '-c', 'node server.mjs']);
  assert.match(f.processes[0]!, /^\/bin\/sh -c node server.mjs/);
  assert.equal(f.sigkill, true);
  assert.deepEqual(f.signalsSent, ['SIGTERM', 'SIGKILL']);
  assert.equal(f.exitCode, 137);
  assert.ok(f.timeToExitMs! >= 1900 && f.timeToExitMs! < 3500, `killed after ${f.timeToExitMs} ms`);
  assert.equal(report.verdict.ok, false);
  const sigkill = report.verdict.findings[0]!;
  assert.equal(sigkill.code, 'sigkill');
  assert.match(sigkill.fix!, /✅ exec form: CMD \["node"/);
  assert.match(sigkill.fix!, /init: true/);
});

test('CMD npm start: killed after the grace period; the advice names the wrapper', { skip }, async () => {
  const report = await probeShutdown(engine!, spec(IMAGES.npm, { env: { BERTH_STOP_GRACE_PERIOD: '2s' } }), options);
  const f = report.facts;
  assert.equal(f.started, true, f.startError);
  assert.deepEqual(f.pid1.argv, ['/bin/sh', '-c', 'npm start']);
  assert.match(f.pid1.note, /shell form and npm/);
  assert.ok(f.processes.some((p) => /npm/.test(p)) && f.processes.some((p) => /node server\.mjs/.test(p)), f.processes.join(' | '));
  assert.equal(f.sigkill, true);
  assert.equal(f.exitCode, 137);
  assert.ok(f.timeToExitMs! >= 1900 && f.timeToExitMs! < 3500, `killed after ${f.timeToExitMs} ms`);
  assert.equal(report.verdict.ok, false);
  assert.match(report.verdict.summary, /Docker sent SIGKILL/);
});

test('an app that ignores SIGTERM (exec form): SIGKILL, advice to handle the signal', { skip }, async () => {
  const report = await probeShutdown(engine!, spec(IMAGES.exec, { env: { MODE: 'ignore' } }), options);
  const f = report.facts;
  assert.equal(f.pid1.kind, 'exec');
  assert.equal(f.sigkill, true);
  assert.equal(f.exitCode, 137);
  assert.ok(f.timeToExitMs! >= 1900 && f.timeToExitMs! < 3500, `killed after ${f.timeToExitMs} ms`);
  assert.ok(f.logTail?.some((l) => l.includes('SIGTERM ignored')), 'the log tail shows the app saw the signal');
  assert.equal(report.verdict.findings[0]!.code, 'sigkill');
  assert.match(report.verdict.findings[0]!.fix!, /handle SIGTERM in the app/);
});

test('an app that exits at once drops its in-flight requests: fails although it exits 0 quickly', { skip }, async () => {
  const report = await probeShutdown(engine!, spec(IMAGES.exec, { env: { MODE: 'exit-now', SLOW_MS: '400' } }), options);
  const f = report.facts;
  assert.equal(f.sigkill, false);
  assert.equal(f.exitCode, 0);
  assert.ok(f.timeToExitMs! < 1000, `exited after ${f.timeToExitMs} ms`);
  assert.ok(f.requests!.inFlightAtStop > 0, 'requests were in flight at the stop');
  assert.ok(f.requests!.failedDuringShutdown > 0, JSON.stringify(f.requests));
  assert.equal(report.verdict.ok, false);
  assert.equal(report.verdict.findings[0]!.code, 'dropped-requests');
  assert.equal(await leftovers(), 0);
});

test('a container that dies at start is reported, and still removed', { skip }, async () => {
  const report = await probeShutdown(engine!, spec(IMAGES.exec, { command: ['node', '-e', 'process.exit(3)'] }), options);
  assert.equal(report.facts.started, false);
  assert.match(report.facts.startError!, /exited with code 3/);
  assert.deepEqual(codes(report), ['did-not-start']);
  assert.equal(await leftovers(), 0);
});

test('from a compose file: runCheckShutdown loads the service, probes it and renders the verdict', { skip }, async () => {
  const { loadProject } = await import('../compose/load.js');
  const { runCheckShutdown, renderShutdownReport } = await import('./run.js');
  const dir = mkdtempSync(join(tmpdir(), 'berth-shutdown-compose-'));
  dirs.push(dir);
  writeFileSync(
    join(dir, 'compose.yaml'),
    `services:
  app:
    image: ${IMAGES.exec}
    init: true
    stop_grace_period: 3s
    environment:
      BERTH_STOP_GRACE_PERIOD: 3s
    ports: ["127.0.0.1::3000"]
    labels:
      traefik.enable: "true"
`,
  );
  const project = await loadProject({ files: [join(dir, 'compose.yaml')], projectName: 'berthtest_shutdown' });
  const report = await runCheckShutdown(project, engine!, 'app', { requests: 30, readinessPollMs: 250, labels: { [TEST_LABEL]: SCOPE } });
  assert.equal(report.facts.gracePeriodMs, 3000);
  assert.equal(report.facts.init, true);
  assert.equal(report.verdict.ok, true, renderShutdownReport(report));
  assert.ok(report.facts.notes.some((n) => n.includes('berthtest_shutdown_default')), 'the missing project network is noted');
  const text = renderShutdownReport(report);
  assert.match(text, /✓ app: graceful: exited 0 in \d+(\.\d)?s after SIGTERM, 0 of \d+ requests failed/);
  assert.match(text, /init\s+yes/);
  assert.equal(await leftovers(), 0);
  await assert.rejects(runCheckShutdown(project, engine!, 'nope'), /no such service: nope in project berthtest_shutdown/);
});

test('--in-place: stops the service\'s own container as Docker does, measures it, and starts it again', { skip }, async () => {
  const { loadProject } = await import('../compose/load.js');
  const { runCheckShutdown } = await import('./run.js');
  const { testName } = await import('../testing/engine.js');
  const projectName = testName('inplace');
  const dir = mkdtempSync(join(tmpdir(), 'berth-shutdown-inplace-'));
  dirs.push(dir);
  writeFileSync(join(dir, 'compose.yaml'), `services:\n  app:\n    image: ${IMAGES.exec}\n    stop_grace_period: 3s\n    ports: ["127.0.0.1::3000"]\n`);
  const project = await loadProject({ files: [join(dir, 'compose.yaml')], projectName });
  // The service's container as Compose would have created it (its labels are how berth finds it).
  const container = await engine!.docker.createContainer({
    name: `${projectName}_app_1`,
    Image: IMAGES.exec,
    Env: ['BERTH_STOP_GRACE_PERIOD=3s'],
    Labels: { [TEST_LABEL]: SCOPE, 'com.docker.compose.project': projectName, 'com.docker.compose.service': 'app', 'com.docker.compose.container-number': '1', 'com.docker.compose.oneoff': 'False' },
    StopTimeout: 3,
    ExposedPorts: { '3000/tcp': {} },
    HostConfig: { Init: true, PortBindings: { '3000/tcp': [{ HostIp: '127.0.0.1', HostPort: '' }] } },
  });
  try {
    await container.start();
    await new Promise((r) => setTimeout(r, 700));
    const report = await runCheckShutdown(project, engine!, 'app', { inPlace: true, requests: 30, readinessPollMs: 250 });
    assert.equal(report.facts.mode, 'in-place');
    assert.equal(report.facts.init, true, 'init read from the running container');
    assert.equal(report.facts.gracePeriodMs, 3000);
    assert.equal(report.facts.exitCode, 0);
    assert.equal(report.facts.sigkill, false);
    assert.ok(report.facts.requests!.sent > 0);
    assert.equal(report.verdict.ok, true, JSON.stringify(report.verdict));
    assert.equal((await container.inspect()).State.Running, true, 'started again');
  } finally {
    await container.remove({ force: true }).catch(() => undefined);
  }
});

test('a port that never answers HTTP (a worker): stopped without requests, with a note', { skip }, async () => {
  const worker = ['node', '-e', "setInterval(() => {}, 1000); process.on('SIGTERM', () => { console.log('bye'); process.exit(0); })"];
  const report = await probeShutdown(engine!, spec(IMAGES.exec, { command: worker }), { ...options, startTimeoutMs: 1500 });
  const f = report.facts;
  assert.equal(f.started, true);
  assert.equal(f.requests, undefined);
  assert.ok(f.notes.some((n) => /port 3000 did not answer HTTP within 2s/.test(n)), f.notes.join('; '));
  assert.equal(f.exitCode, 0);
  assert.equal(f.sigkill, false);
  assert.ok(f.timeToExitMs! < 1000, `exited after ${f.timeToExitMs} ms`);
  assert.equal(report.verdict.ok, true, report.verdict.summary);
});

test('issue 17: sh -c "setup && exec httpd": PID 1 is httpd (no wrapper warning); exit 143 is not rated graceful', { skip }, async () => {
  const report = await probeShutdown(engine!, spec('local/busybox:latest', {
    command: ['sh', '-c', 'echo ok > /tmp/index.html && exec httpd -f -p 8080 -h /tmp'], port: 8080, stopGracePeriodMs: 3000, init: true,
  }), options);
  const f = report.facts;
  assert.equal(f.started, true, f.startError);
  assert.equal(f.pid1.kind, 'shell-exec', f.pid1.note);
  assert.ok(f.processes.some((p) => /^httpd -f/.test(p)) && !f.processes.some((p) => /^sh -c/.test(p)), `its own process list shows httpd exec'd: ${f.processes.join(' | ')}`);
  assert.ok(!codes(report).includes('pid1-wrapper'), codes(report).join(', '));
  assert.equal(f.exitCode, 143);
  assert.equal(report.verdict.ok, false, report.verdict.summary);
  assert.match(renderShutdownReport(report), /✗ app: not graceful: exited 143 = killed by SIGTERM's default action/);
});
