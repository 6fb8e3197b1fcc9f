/**
 * End to end with real parts: `berth monitor init` writes the overlay; Compose brings it up with
 * images built here (Debian's prometheus, prometheus-alertmanager, prometheus-node-exporter; the
 * berth agent behind berth's read-only socket proxy); a container turns unhealthy and another
 * needs SIGKILL on stop; Prometheus scrapes the agent and Alertmanager delivers both alerts to a
 * webhook receiver. Negative control in the same Prometheus: the same conditions written with
 * Kubernetes labels never fire. Also: `berth check` finds nothing above info in the overlay.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { stringify } from 'yaml';
import { waitFor } from '../backup/testkit.js';
import { runBerth } from '../testing/cli.js';
import { integrationEngine, removeComposeProject, TEST_LABEL, testName } from '../testing/engine.js';

const { engine, skip: noEngine } = await integrationEngine();
const IMAGES = ['local/prometheus:latest', 'local/alertmanager:latest', 'local/node-exporter:latest', 'local/berth:latest', 'local/berth-socket-proxy:latest', 'local/node:latest'];
const missing = engine ? (await Promise.all(IMAGES.map(async (i) => ((await engine.inspectImage(i)) ? undefined : i)))).filter(Boolean) : [];
if (missing.length > 0 && process.env.CI === 'true') throw new Error(`images missing: ${missing.join(', ')} (scripts/engine images; node scripts/berth-images.mjs)`);
const skip = noEngine || (missing.length > 0 ? `images missing: ${missing.join(', ')} (scripts/engine images; node scripts/berth-images.mjs)` : false);

const project = testName('monitoring');
const dir = mkdtempSync(join(tmpdir(), 'berth-monitoring-'));
const stateDir = mkdtempSync(join(tmpdir(), 'berth-monitoring-state-'));
const files = ['-f', 'compose.yaml', '-f', 'compose.monitoring.yaml', '-f', 'compose.receiver.yaml'];
const env = { BERTH_STATE_DIR: stateDir, DOCKER_GID: String(statSync('/var/run/docker.sock').gid), PROMETHEUS_BIND: '127.0.0.1:', ALERTMANAGER_BIND: '127.0.0.1:', BERTH_TEST_RUN: undefined };

after(async () => {
  if (engine) {
    await runBerth([...files, 'compose', '--', 'down', '-v', '-t', '1'], { cwd: dir, env, timeoutMs: 120_000 }).catch(() => undefined);
    await removeComposeProject(engine, project);
  }
  rmSync(dir, { recursive: true, force: true });
  rmSync(stateDir, { recursive: true, force: true });
});

const app = {
  name: project,
  services: {
    // Healthy for 20 s, then its health file goes: unhealthy in the night.
    web: {
      image: 'local/busybox:latest',
      command: ['sh', '-c', 'echo ok > /tmp/ok; sleep 20; rm /tmp/ok; exec sleep 3600'],
      healthcheck: { test: ['CMD-SHELL', 'test -f /tmp/ok'], interval: '2s', timeout: '2s', retries: 1 },
      labels: { [TEST_LABEL]: project },
    },
    // sleep as PID 1 ignores SIGTERM: every stop ends in SIGKILL after the grace period.
    worker: { image: 'local/busybox:latest', command: ['sleep', '3600'], stop_grace_period: '1s', labels: { [TEST_LABEL]: project } },
  },
};

// A webhook receiver on the overlay's egress network: keeps what Alertmanager posts, serves it on GET.
const receiverCode = "const got=[];require('http').createServer((q,s)=>{if(q.method==='POST'){let b='';q.on('data',d=>b+=d);q.on('end',()=>{try{got.push(JSON.parse(b))}catch{};s.end('ok')})}else{s.setHeader('content-type','application/json');s.end(JSON.stringify(got))}}).listen(8080)";
const receiver = {
  services: {
    receiver: { image: 'local/node:latest', init: true, command: ['node', '-e', receiverCode], ports: ['127.0.0.1::8080'], networks: ['monitoring-egress'], labels: { [TEST_LABEL]: project } },
  },
};

/** The same conditions written as awesome-prometheus-alerts writes container rules: Kubernetes labels. */
const kubernetesRules = {
  groups: [{
    name: 'kubernetes-labels',
    rules: [
      { alert: 'K8sContainerUnhealthy', expr: 'container_state_health_status{status="unhealthy",container!=""} == 1', labels: { severity: 'critical' } },
      { alert: 'K8sStopForced', expr: 'sum by (namespace, pod, container) (increase(berth_container_stop_forced_total{pod!=""}[30m])) > 0', labels: { severity: 'warning' } },
    ],
  }],
};

async function publishedPort(service: string, port: number): Promise<number> {
  const r = await runBerth([...files, 'compose', '--', 'port', service, String(port)], { cwd: dir, env });
  const m = /:(\d+)\s*$/.exec(r.stdout.trim());
  if (!m) throw new Error(`no published port for ${service}:${port}: ${r.stdout}${r.stderr}`);
  return Number(m[1]);
}

test('monitoring overlay end to end: Prometheus scrapes the agent, Alertmanager delivers the unhealthy and the SIGKILL-on-stop alerts to a webhook', { skip, timeout: 360_000 }, async () => {
  writeFileSync(join(dir, 'compose.yaml'), stringify(app));
  writeFileSync(join(dir, 'compose.receiver.yaml'), stringify(receiver));
  const init = await runBerth(['monitor', 'init', '--local-images', '--no-grafana', '--scrape-interval', '2s', '--group-wait', '1s', '--alert-webhook', 'http://receiver:8080/'], { cwd: dir, env });
  assert.equal(init.code, 0, init.stderr);
  writeFileSync(join(dir, 'monitoring', 'prometheus', 'rules', 'kubernetes.rules.yml'), stringify(kubernetesRules));
  // The overlay is clean under berth check: nothing above info in its file (the test's own app is not the point).
  const check = await runBerth(['-f', 'compose.yaml', '-f', 'compose.monitoring.yaml', 'check', '--format', 'json'], { cwd: dir, env });
  const findings = (JSON.parse(check.stdout) as { findings: Array<{ file: string; severity: string; rule: string; message: string }> }).findings;
  assert.deepEqual(findings.filter((f) => f.file === 'compose.monitoring.yaml' && f.severity !== 'info').map((f) => `${f.rule}: ${f.message}`), []);
  assert.ok(findings.some((f) => f.file === 'compose.yaml'), 'the check read the files');

  const up = await runBerth([...files, 'compose', '--', 'up', '-d', 'web', 'worker', 'receiver', 'berth-socket-proxy', 'berth-agent', 'prometheus', 'alertmanager', 'node-exporter'], { cwd: dir, env, timeoutMs: 240_000 });
  assert.equal(up.code, 0, `${up.stdout}${up.stderr}`);
  const prometheus = `http://127.0.0.1:${await publishedPort('prometheus', 9090)}`;
  const received = `http://127.0.0.1:${await publishedPort('receiver', 8080)}`;
  const query = async (q: string) => ((await (await fetch(`${prometheus}/api/v1/query?query=${encodeURIComponent(q)}`)).json()) as { data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> } }).data.result;

  // Prometheus scrapes the agent, which reads the engine through the read-only proxy.
  await waitFor('Prometheus scraping the agent', async () => (await query('up{job="berth"}'))[0]?.value[1] === '1' && (await query(`container_state_status{container_label_com_docker_compose_project="${project}",status="running"}`)).length >= 2, 120_000);
  assert.equal((await query('berth_events_stream_up'))[0]?.value[1], '1');
  assert.equal((await query(`berth_service_desired_replicas{project="${project}",service="web"}`))[0]?.value[1], '1');
  assert.equal((await query('up{job="node"}'))[0]?.value[1], '1');

  // The night: worker needs SIGKILL on stop; web turns unhealthy by itself.
  const stop = await runBerth([...files, 'compose', '--', 'stop', 'worker'], { cwd: dir, env });
  assert.equal(stop.code, 0, stop.stderr);
  type Notification = { status: string; alerts: Array<{ status: string; labels: Record<string, string> }> };
  const firing = async () => ((await (await fetch(received)).json()) as Notification[]).flatMap((n) => n.alerts).filter((a) => a.status === 'firing');
  await waitFor('both alerts delivered to the webhook', async () => {
    const names = new Set((await firing()).map((a) => a.labels.alertname));
    return names.has('BerthContainerUnhealthy') && names.has('BerthStopForced');
  }, 180_000);
  const alerts = await firing();
  const unhealthy = alerts.find((a) => a.labels.alertname === 'BerthContainerUnhealthy')!;
  assert.equal(unhealthy.labels.container_label_com_docker_compose_service, 'web');
  assert.equal(unhealthy.labels.container_label_com_docker_compose_project, project);
  const forced = alerts.find((a) => a.labels.alertname === 'BerthStopForced')!;
  assert.deepEqual([forced.labels.project, forced.labels.service], [project, 'worker']);

  // Negative control, same Prometheus, same series: the Kubernetes-label expressions never fire.
  const rules = (await (await fetch(`${prometheus}/api/v1/rules`)).json()) as { data: { groups: Array<{ name: string; rules: Array<{ name: string; state: string; health: string }> }> } };
  const k8s = rules.data.groups.find((g) => g.name === 'kubernetes-labels')!;
  assert.deepEqual(k8s.rules.map((r) => [r.name, r.state, r.health]), [['K8sContainerUnhealthy', 'inactive', 'ok'], ['K8sStopForced', 'inactive', 'ok']]);
  assert.equal(alerts.filter((a) => a.labels.alertname?.startsWith('K8s')).length, 0);
});
