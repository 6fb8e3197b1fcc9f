import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import type { ServiceModel } from '../compose/types.js';
import { judge, signalName } from './judge.js';
import { planShutdownProbe, stopTimeoutSeconds } from './plan.js';
import { analyzePid1, effectiveCommand, shutdownSpecFromService, splitWords } from './spec.js';
import type { ShutdownFacts } from './types.js';

function service(overrides: Partial<ServiceModel> = {}, raw: Record<string, unknown> = {}): ServiceModel {
  return {
    name: 'app',
    raw,
    image: 'local/app:1',
    hasBuild: false,
    replicas: 1,
    containerName: undefined,
    networkMode: undefined,
    networks: { default: { aliases: [] }, backend: { aliases: [] } },
    ports: [{ hostIp: '', published: '8080', target: 3000, protocol: 'tcp', mode: 'ingress' }],
    dependsOn: {},
    healthcheck: undefined,
    labels: { 'traefik.enable': 'true' },
    environment: { NODE_ENV: 'production', FROM_HOST: null },
    profiles: [],
    init: true,
    stopSignal: undefined,
    stopGracePeriodMs: 30_000,
    restart: 'unless-stopped',
    berth: { rollout: {} },
    ...overrides,
  };
}

function facts(overrides: Partial<ShutdownFacts> = {}): ShutdownFacts {
  return {
    service: 'app',
    image: 'local/app:1',
    mode: 'throwaway',
    pid1: analyzePid1(['node', 'server.js']),
    processes: ['node server.js'],
    init: true,
    stopSignal: 'SIGTERM',
    gracePeriodMs: 30_000,
    started: true,
    timeToExitMs: 3200,
    exitCode: 0,
    signalsSent: ['SIGTERM'],
    sigkill: false,
    requests: { sent: 80, ok: 80, failed: {}, failedDuringShutdown: 0, inFlightAtStop: 3, readiness: 'followed', readinessFailedAfterMs: 20 },
    notes: [],
    ...overrides,
  };
}

describe('spec from compose', () => {
  test('compose strings split like Compose (not a shell form)', () => {
    assert.deepEqual(splitWords('npm start'), ['npm', 'start']);
    assert.deepEqual(splitWords(`node -e "console.log('a b')" x\\ y`), ['node', '-e', "console.log('a b')", 'x y']);
    assert.deepEqual(splitWords(`sh -c 'exec node server.js'`), ['sh', '-c', 'exec node server.js']);
    assert.deepEqual(splitWords('  '), []);
  });

  test('takes command, env, init, signal and grace; never the service labels or published ports', () => {
    const spec = shutdownSpecFromService(
      service({ stopSignal: 'SIGQUIT', berth: { rollout: {}, shutdownDeadlineMs: 25_000 } }, { command: 'node dist/server.js', working_dir: '/app', volumes: ['/srv/conf:/conf:ro', 'data:/data', { type: 'bind', source: '/srv/x', target: '/x', read_only: true }] }),
      'shop',
    );
    assert.equal(spec.image, 'local/app:1');
    assert.deepEqual(spec.command, ['node', 'dist/server.js']);
    assert.equal(spec.entrypoint, undefined);
    assert.deepEqual(spec.env, { NODE_ENV: 'production' }, 'variables without a value (taken from the host) are left out');
    assert.deepEqual(spec.networks, ['shop_default', 'shop_backend']);
    assert.equal(spec.init, true);
    assert.equal(spec.stopSignal, 'SIGQUIT');
    assert.equal(spec.stopGracePeriodMs, 30_000);
    assert.equal(spec.port, 3000);
    assert.equal(spec.readinessPath, '/readyz');
    assert.equal(spec.appDeadlineMs, 25_000);
    assert.equal(spec.workingDir, '/app');
    assert.deepEqual(spec.binds, ['/srv/conf:/conf:ro', '/srv/x:/x:ro'], 'binds yes, named volumes no');
    assert.deepEqual(spec.labels, { 'berth.probe': 'app', 'berth.probe.project': 'shop' });
    assert.equal((spec.labels as Record<string, string>)['traefik.enable'], undefined);
  });

  test('build-only services, renamed networks, network_mode and readiness drain', () => {
    const spec = shutdownSpecFromService(
      service({ image: undefined, hasBuild: true, ports: [], berth: { rollout: { drain: { strategy: 'readiness', path: '/ready', port: 8080, durationMs: 5000 } } } }),
      'shop',
      { backend: 'shared-backend' },
    );
    assert.equal(spec.image, 'shop_app');
    assert.deepEqual(spec.networks, ['shop_default', 'shared-backend']);
    assert.equal(spec.port, 8080);
    assert.equal(spec.readinessPath, '/ready');
    assert.deepEqual(shutdownSpecFromService(service({ networkMode: 'host' }), 'shop').networks, []);
  });
});

describe('PID 1', () => {
  test('effective command follows Docker: a service entrypoint drops the image CMD', () => {
    const image = { Entrypoint: ['docker-entrypoint.sh'], Cmd: ['node', 'server.js'] };
    assert.deepEqual(effectiveCommand({}, image), { argv: ['docker-entrypoint.sh', 'node', 'server.js'], source: 'image' });
    assert.deepEqual(effectiveCommand({ command: ['node', 'x.js'] }, image), { argv: ['docker-entrypoint.sh', 'node', 'x.js'], source: 'service+image' });
    assert.deepEqual(effectiveCommand({ entrypoint: ['node'] }, image), { argv: ['node'], source: 'service' });
    assert.deepEqual(effectiveCommand({}, { Cmd: ['/bin/sh', '-c', 'npm start'] }).argv, ['/bin/sh', '-c', 'npm start']);
  });

  test('classifies shell form, npm wrappers, scripts, inits and exec form', () => {
    assert.equal(analyzePid1(['/bin/sh', '-c', 'npm start']).kind, 'shell');
    assert.match(analyzePid1(['/bin/sh', '-c', 'npm start']).note, /shell form and npm/);
    assert.equal(analyzePid1(['/bin/sh', '-c', 'node server.js']).kind, 'shell');
    assert.equal(analyzePid1(['sh', '-c', 'exec node server.js']).kind, 'shell-exec');
    // exec replaces the shell wherever it runs at the top level: what follows never runs.
    assert.equal(analyzePid1(['sh', '-c', 'exec node a.js; echo done']).kind, 'shell-exec');
    // Issue 17: setup, then exec (as the lint rule shell-exec accepts it).
    assert.equal(analyzePid1(['sh', '-c', 'echo ok > /tmp/index.html && exec httpd -f -p 8080']).kind, 'shell-exec');
    assert.equal(analyzePid1(['sh', '-c', 'echo ok > /tmp/index.html && httpd -f -p 8080']).kind, 'shell');
    assert.equal(analyzePid1(['bash', '-ec', 'node server.js']).kind, 'shell');
    assert.equal(analyzePid1(['npm', 'start']).kind, 'package-manager');
    assert.equal(analyzePid1(['/usr/local/bin/yarn', 'start']).wrapper, 'yarn');
    assert.equal(analyzePid1(['docker-entrypoint.sh', 'node', 'server.js']).kind, 'script');
    assert.equal(analyzePid1(['/bin/sh', '/start']).kind, 'script');
    assert.equal(analyzePid1(['node', 'dist/server.js']).kind, 'exec');
    const tini = analyzePid1(['/usr/bin/tini', '--', 'npm', 'start']);
    assert.equal(tini.kind, 'package-manager');
    assert.match(tini.note, /^tini in the command forwards signals/);
    assert.equal(analyzePid1([]).kind, 'unknown');
  });
});

describe('plan', () => {
  test('throwaway plan: every step has a reason; remove comes last; stop uses the grace period in seconds', () => {
    const spec = shutdownSpecFromService(service({ stopGracePeriodMs: 2500 }), 'shop');
    const plan = planShutdownProbe(spec, { requestsPerSecond: 40 });
    assert.deepEqual(plan.map((s) => s.kind), ['inspect-image', 'create', 'start', 'wait-ready', 'subscribe-events', 'start-requests', 'stop', 'wait-exit', 'remove']);
    for (const s of plan) assert.ok(s.reason.length > 10, `${s.kind} has a reason`);
    assert.match(plan.find((s) => s.kind === 'stop')!.description, /t=3$/);
    assert.match(plan.find((s) => s.kind === 'start-requests')!.description, /40 requests\/s/);
    assert.ok(plan.findIndex((s) => s.kind === 'subscribe-events') < plan.findIndex((s) => s.kind === 'stop'), 'events are subscribed before the stop');
  });

  test('no port: no requests; in place: no create/remove, the container is started again', () => {
    const spec = shutdownSpecFromService(service({ ports: [] }), 'shop');
    assert.ok(!planShutdownProbe(spec).some((s) => s.kind === 'start-requests'));
    const inPlace = planShutdownProbe(shutdownSpecFromService(service(), 'shop'), {}, 'in-place');
    assert.ok(!inPlace.some((s) => s.kind === 'create' || s.kind === 'remove'));
    assert.equal(inPlace.at(-1)!.kind, 'start');
    assert.equal(stopTimeoutSeconds(0), 0);
    assert.equal(stopTimeoutSeconds(300), 1);
    assert.equal(stopTimeoutSeconds(10_000), 10);
  });
});

describe('judge', () => {
  test('a graceful exit passes, with advice only', () => {
    const v = judge(facts());
    assert.equal(v.ok, true);
    assert.match(v.summary, /graceful: exited 0 in 3.2s after SIGTERM, 0 of 80 requests failed/);
    assert.deepEqual(v.findings, []);
    const defaults = judge(facts({ init: false, gracePeriodMs: 10_000 }));
    assert.equal(defaults.ok, true);
    assert.deepEqual(defaults.findings.map((f) => `${f.severity}:${f.code}`), ['info:no-init', 'info:default-grace']);
    assert.match(defaults.findings[0]!.fix!, /✅ init: true/);
  });

  test('shell form killed after the grace period: exec form and init advice', () => {
    const v = judge(facts({ pid1: analyzePid1(['/bin/sh', '-c', 'npm start']), init: false, gracePeriodMs: 2000, timeToExitMs: 2100, exitCode: 137, sigkill: true, signalsSent: ['SIGTERM', 'SIGKILL'] }));
    assert.equal(v.ok, false);
    const sigkill = v.findings.find((f) => f.code === 'sigkill')!;
    assert.equal(sigkill.severity, 'error');
    assert.match(sigkill.message, /still running 2s after SIGTERM: Docker sent SIGKILL \(sh -c \(shell form and npm\) is PID 1/);
    assert.match(sigkill.fix!, /✅ exec form: CMD \["node", "dist\/server.js"\]/);
    assert.match(sigkill.fix!, /init: true/);
    assert.ok(!v.findings.some((f) => f.code === 'pid1-wrapper'), 'no duplicate wrapper warning when the wrapper was the error');
  });

  test('exec-form app that ignores SIGTERM: handler advice, PID 1 explained', () => {
    const noInit = judge(facts({ init: false, sigkill: true, exitCode: 137, timeToExitMs: 2050, gracePeriodMs: 2000 }));
    assert.match(noInit.findings[0]!.message, /kernel applies no default action to PID 1/);
    assert.match(noInit.findings[0]!.fix!, /handle SIGTERM/);
    const withInit = judge(facts({ sigkill: true, exitCode: 137, timeToExitMs: 2050, gracePeriodMs: 2000 }));
    assert.match(withInit.findings[0]!.fix!, /stop_grace_period/);
  });

  test('an app that exits at once and drops requests fails; a default-action death is not graceful either', () => {
    const v = judge(
      facts({
        exitCode: 143,
        timeToExitMs: 30,
        requests: { sent: 40, ok: 33, failed: { ECONNRESET: 4, 'socket hang up': 3 }, failedDuringShutdown: 7, inFlightAtStop: 5, readiness: 'absent' },
      }),
    );
    assert.equal(v.ok, false);
    assert.deepEqual(v.findings.map((f) => f.code), ['killed-by-signal', 'dropped-requests', 'no-readiness']);
    assert.match(v.findings[1]!.message, /7 of 40 requests failed during the shutdown \(ECONNRESET ×4, socket hang up ×3\)/);
    assert.match(v.summary, /^app: not graceful: exited 143 = killed by SIGTERM's default action.*; 7 of 40/);
    // Issue 17: exit 143 alone is not "graceful" (it was rated ✓ beside the warning).
    const killed = judge(facts({ exitCode: 143, timeToExitMs: 30 }));
    assert.equal(killed.ok, false);
    assert.match(killed.summary, /not graceful/);
    // Warnings only: stopped in time, but not called graceful.
    const warned = judge(facts({ exitCode: 1, timeToExitMs: 100 }));
    assert.equal(warned.ok, true);
    assert.match(warned.summary, /^app: stopped in time, with 1 warning: exited 1/);
  });

  test('exit codes, near the grace period, deadline over grace, wrappers that got lucky, no start', () => {
    const deadline = judge(facts({ exitCode: 1, timeToExitMs: 8050, appDeadlineMs: 8000, gracePeriodMs: 10_000 }));
    assert.deepEqual(deadline.findings.map((f) => f.code), ['exit-code', 'near-grace', 'default-grace']);
    assert.match(deadline.findings[0]!.message, /app's own shutdown deadline/);
    assert.equal(deadline.ok, true, 'warnings do not fail the check');
    assert.ok(judge(facts({ appDeadlineMs: 30_000 })).findings.some((f) => f.code === 'deadline-over-grace'));
    const lucky = judge(facts({ pid1: analyzePid1(['npm', 'start']), exitCode: 0 }));
    assert.equal(lucky.findings[0]!.code, 'pid1-wrapper');
    const quit = judge(facts({ stopSignal: 'SIGQUIT', exitCode: 131 }));
    assert.equal(quit.findings[0]!.code, 'killed-by-signal');
    const dead = judge(facts({ started: false, startError: 'exited 1 before it answered' }));
    assert.equal(dead.ok, false);
    assert.deepEqual(dead.findings.map((f) => f.code), ['did-not-start']);
  });

  test('signal names from the engine (numbers) and compose (names)', () => {
    assert.equal(signalName('15'), 'SIGTERM');
    assert.equal(signalName(9), 'SIGKILL');
    assert.equal(signalName('quit'), 'SIGQUIT');
    assert.equal(signalName('SIGINT'), 'SIGINT');
  });
});
