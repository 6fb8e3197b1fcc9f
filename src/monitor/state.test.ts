import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EngineEvent } from '../engine/client.js';
import { healthFromStatusText, resourceRates, WatchState, type StateChange } from './state.js';
import { mountOf, parseMemAvailable, parseMounts } from './host.js';
import { resourceSample } from './watcher.js';

const labels = (service: string, oneoff = 'False') => ({ 'com.docker.compose.project': 'p', 'com.docker.compose.service': service, 'com.docker.compose.oneoff': oneoff });
let clock = 1_700_000_000;
const ev = (id: string, action: string, attributes: Record<string, string> = {}): EngineEvent => ({ Type: 'container', Action: action, Actor: { ID: id, Attributes: { name: `p_${id}_1`, image: 'img', ...labels(id), ...attributes } }, timeNano: (clock += 1) * 1e9 });

function counters(state: WatchState, service: string) {
  return state.services().find((s) => s.service === service)!.counters;
}

test('a stop that needed SIGKILL is counted as forced, with its duration; a graceful stop and a plain kill are not', () => {
  const state = new WatchState();
  const stops: StateChange[] = [];
  state.onChange((c) => c.type === 'stop' && stops.push(c));
  for (const id of ['forced', 'graceful', 'killed']) {
    state.applyEvent(ev(id, 'create'));
    state.applyEvent(ev(id, 'start'));
  }
  // docker stop -t 10 on a process that ignores SIGTERM: 15, (10 s), 9, die 137, stop.
  state.applyEvent(ev('forced', 'kill', { signal: '15' }));
  clock += 10;
  state.applyEvent(ev('forced', 'kill', { signal: '9' }));
  state.applyEvent(ev('forced', 'die', { exitCode: '137' }));
  state.applyEvent(ev('forced', 'stop'));
  // A graceful stop: 15, die 0, stop.
  state.applyEvent(ev('graceful', 'kill', { signal: '15' }));
  state.applyEvent(ev('graceful', 'die', { exitCode: '0' }));
  state.applyEvent(ev('graceful', 'stop'));
  // docker kill: 9 at once (no stop signal first), die 137: asked for, not an escalation.
  state.applyEvent(ev('killed', 'kill', { signal: '9' }));
  state.applyEvent(ev('killed', 'die', { exitCode: '137' }));
  assert.equal(counters(state, 'forced').stopsForced, 1);
  assert.equal(counters(state, 'graceful').stopsForced, 0);
  assert.equal(counters(state, 'killed').stopsForced, 0);
  assert.deepEqual(stops.map((s) => s.type === 'stop' && [s.container.service, s.forced, Math.round(s.durationSeconds)]), [['forced', true, 13], ['graceful', false, 2]]);
  assert.deepEqual([...counters(state, 'forced').exits], [['137|true', 1]]);
  assert.deepEqual([...counters(state, 'killed').exits], [['137|true', 1]]);
  // A new start clears a stop in progress: the next crash is unasked.
  state.applyEvent(ev('killed', 'start'));
  state.applyEvent(ev('killed', 'die', { exitCode: '1' }));
  assert.equal(counters(state, 'killed').exits.get('1|false'), 1);
});

test('health transitions are counted on change only; one-off containers count no exits; destroy forgets', () => {
  const state = new WatchState();
  state.applyEvent(ev('web', 'start'));
  for (const h of ['healthy', 'healthy', 'unhealthy', 'unhealthy', 'healthy']) state.applyEvent(ev('web', `health_status: ${h}`));
  assert.deepEqual(Object.fromEntries(counters(state, 'web').healthTransitions), { healthy: 2, unhealthy: 1 });
  assert.equal(state.container('web')!.health, 'healthy');
  const job = { Type: 'container', Action: 'die', Actor: { ID: 'job', Attributes: { ...labels('web', 'True'), exitCode: '3' } }, timeNano: (clock += 1) * 1e9 };
  state.applyEvent(job);
  assert.equal(counters(state, 'web').exits.size, 0);
  assert.equal(state.services().find((s) => s.service === 'web')!.containers.length, 1, 'the one-off container is not a replica');
  state.applyEvent(ev('web', 'destroy'));
  assert.equal(state.container('web'), undefined);
});

test('OOM: the event is counted; the next start clears oomKilled', () => {
  const state = new WatchState();
  state.applyEvent(ev('hog', 'start'));
  state.applyEvent(ev('hog', 'oom'));
  state.applyEvent(ev('hog', 'die', { exitCode: '137' }));
  assert.equal(counters(state, 'hog').oomEvents, 1);
  assert.equal(state.container('hog')!.oomKilled, true);
  assert.equal(counters(state, 'hog').exits.get('137|false'), 1);
  state.applyEvent(ev('hog', 'start'));
  assert.equal(state.container('hog')!.oomKilled, false);
});

test('resync: a list drops what is gone and asks to inspect what changed; an exit the events missed is inferred once', () => {
  const state = new WatchState();
  state.setDesired('p', { a: 2, b: 1 });
  const inspect = (id: string, status: string, finishedAt: string, exitCode = 0) => ({
    Id: id, Name: `/p_${id}_1`, Config: { Image: 'img', Labels: labels(id) }, HostConfig: { Memory: 0 }, RestartCount: 0,
    State: { Status: status, ExitCode: exitCode, StartedAt: '2026-12-01T00:00:00Z', FinishedAt: finishedAt, OOMKilled: false },
  });
  state.applyInspect(inspect('a', 'running', '0001-01-01T00:00:00Z'));
  state.applyInspect(inspect('gone', 'running', '0001-01-01T00:00:00Z'));
  const toInspect = state.applyList([{ Id: 'a', State: 'exited', Status: 'Exited (2) 1 second ago' }, { Id: 'new', State: 'running', Status: 'Up 1 second' }]);
  assert.deepEqual(toInspect.sort(), ['a', 'new']);
  assert.equal(state.container('gone'), undefined);
  state.applyInspect(inspect('a', 'exited', '2026-12-01T01:00:00Z', 2), Date.now(), { resync: true });
  state.applyInspect(inspect('a', 'exited', '2026-12-01T01:00:00Z', 2), Date.now(), { resync: true });
  assert.equal(counters(state, 'a').exits.get('2|false'), 1);
  const a = state.services().find((s) => s.service === 'a')!;
  assert.equal(a.desired, 2);
  assert.equal(state.services().find((s) => s.service === 'b')!.containers.length, 0, 'a desired service with no container is listed');
});

test('the list Status text carries the health', () => {
  assert.equal(healthFromStatusText('Up 5 minutes (unhealthy)'), 'unhealthy');
  assert.equal(healthFromStatusText('Up 2 seconds (health: starting)'), 'starting');
  assert.equal(healthFromStatusText('Up 1 hour (healthy)'), 'healthy');
  assert.equal(healthFromStatusText('Up 1 hour'), undefined);
});

test('resource samples: cgroup v1 and v2 stats give cAdvisor values', () => {
  const v1 = resourceSample({
    cpu_stats: { cpu_usage: { total_usage: 2_500_000_000 }, throttling_data: { periods: 100, throttled_periods: 7 } },
    memory_stats: { usage: 1000, limit: 9999, stats: { total_inactive_file: 300 } },
    networks: { eth0: { rx_bytes: 10, tx_bytes: 20 } },
    blkio_stats: { io_service_bytes_recursive: [{ op: 'Read', value: 5 }, { op: 'Write', value: 6 }, { op: 'Read', value: 1 }, { op: 'Total', value: 12 }] },
  }, 1);
  assert.deepEqual(v1, { at: 1, cpuSeconds: 2.5, memoryUsageBytes: 1000, memoryWorkingSetBytes: 700, cfsPeriods: 100, cfsThrottledPeriods: 7, network: { eth0: { rxBytes: 10, txBytes: 20 } }, fsReadBytes: 6, fsWriteBytes: 6 });
  const v2 = resourceSample({ memory_stats: { usage: 100, stats: { inactive_file: 500 } }, blkio_stats: { io_service_bytes_recursive: [{ op: 'read', value: 3 }, { op: 'write', value: 4 }] } }, 2);
  assert.equal(v2.memoryWorkingSetBytes, 0, 'never below zero');
  assert.equal(v2.fsReadBytes, 3);
  assert.equal(v2.fsWriteBytes, 4);
});

test('host: the mount a path lives on, and MemAvailable', () => {
  const mounts = parseMounts('/dev/sda1 / ext4 rw 0 0\n/dev/sdb1 /var/lib/docker xfs rw 0 0\noverlay /var/lib/docker/overlay2/x/merged overlay rw 0 0\n/dev/sdc1 /srv/back\\040ups ext4 rw 0 0\n');
  assert.equal(mountOf('/var/lib/docker', mounts)?.fstype, 'xfs');
  assert.equal(mountOf('/var/lib/dockerx', mounts)?.mountpoint, '/');
  assert.equal(mountOf('/srv/back ups/db', mounts)?.device, '/dev/sdc1');
  assert.equal(parseMemAvailable('MemTotal: 100 kB\nMemAvailable:    2048 kB\n'), 2048 * 1024);
});

test('the agent\'s own deltas: rates between the last two samples; none after a restart reset the counters', () => {
  const state = new WatchState();
  state.applyEvent(ev('c', 'start'));
  const sample = (at: number, cpu: number, periods: number, throttled: number, rx: number) => ({ at, cpuSeconds: cpu, memoryUsageBytes: 0, memoryWorkingSetBytes: 0, cfsPeriods: periods, cfsThrottledPeriods: throttled, network: { eth0: { rxBytes: rx, txBytes: 0 } }, fsReadBytes: 0, fsWriteBytes: 0 });
  state.setResources('c', sample(0, 10, 100, 10, 1000));
  assert.equal(resourceRates(state.container('c')!), undefined);
  state.setResources('c', sample(15_000, 13, 250, 70, 4000));
  assert.deepEqual(resourceRates(state.container('c')!), { seconds: 15, cpuCores: 0.2, throttledRatio: 0.4, rxBytesPerSecond: 200, txBytesPerSecond: 0 });
  state.setResources('c', sample(30_000, 1, 10, 0, 0));
  assert.equal(resourceRates(state.container('c')!), undefined);
});
