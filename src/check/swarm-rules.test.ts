/**
 * The swarm rules (berth check --swarm): each fires on its exact lines in a bad fixture and not in a
 * good one; none runs without --swarm.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { allRules, lintProject } from './run.js';
import { at, DIR } from './testing/lint.js';
import { projectFromFiles } from './testing/project.js';

const y = (s: string) => s.replace(/^\n/, '');
const lint = (yaml: string, swarm = true) => lintProject(projectFromFiles([{ path: `${DIR}/compose.yaml`, text: yaml }]), { read: () => undefined, swarm }).findings;

const cases: Array<{ rule: string; bad: string; lines: number[]; good: string }> = [
  { rule: 'swarm-unsupported', bad: y(`
services:
  web:
    image: acme/web:1
    container_name: web
    ports: ["127.0.0.1:8080:80"]
    privileged: true
`), lines: [4, 5, 6], good: y(`
services:
  web:
    image: acme/web:1
    ports: [{ target: 80, published: 8080, mode: host }]
`) },
  { rule: 'swarm-update-config', bad: y(`
services:
  app:
    image: acme/app:1
    healthcheck: { test: ["CMD", "/hc"] }
    deploy:
      update_config:
        order: stop-first
        failure_action: pause
        monitor: 0s
`), lines: [7, 8, 9], good: y(`
services:
  app:
    image: acme/app:1
    healthcheck: { test: ["CMD", "/hc"] }
    deploy:
      update_config: { order: start-first, failure_action: rollback, monitor: 10s }
`) },
  { rule: 'swarm-healthcheck-gate', bad: y(`
services:
  app:
    image: acme/app:1
    deploy:
      replicas: 3
`), lines: [2], good: y(`
services:
  app:
    image: acme/app:1
    healthcheck: { test: ["CMD", "/hc"] }
    deploy:
      replicas: 3
`) },
  { rule: 'swarm-reservations', bad: y(`
services:
  app:
    image: acme/app:1
    deploy:
      resources:
        limits: { memory: 512M }
`), lines: [5], good: y(`
services:
  app:
    image: acme/app:1
    deploy:
      resources:
        limits: { memory: 512M }
        reservations: { memory: 128M }
`) },
  { rule: 'swarm-stateful-placement', bad: y(`
services:
  db:
    image: postgres:16
    volumes: [pgdata:/var/lib/postgresql/data]
    deploy:
      replicas: 2
volumes:
  pgdata: {}
`), lines: [2, 6], good: y(`
services:
  db:
    image: postgres:16
    volumes: [pgdata:/var/lib/postgresql/data]
    deploy:
      placement: { constraints: ["node.hostname == db1"] }
volumes:
  pgdata: {}
`) },
  { rule: 'swarm-secret-environment', bad: y(`
services:
  app:
    image: acme/app:1
    environment:
      DB_PASSWORD: hunter2
      LOG_LEVEL: info
`), lines: [5], good: y(`
services:
  app:
    image: acme/app:1
    environment:
      DB_PASSWORD_FILE: /run/secrets/db_password
    secrets: [db_password]
secrets:
  db_password: { file: ./db_password.txt }
`) },
  { rule: 'swarm-endpoint-mode', bad: y(`
services:
  proxy:
    image: caddy:2
    ports: [{ target: 443, published: 443, mode: host }]
  app:
    image: acme/app:1
    deploy: { replicas: 2 }
  api:
    image: acme/api:1
    ports: ["8080:80"]
    deploy: { endpoint_mode: dnsrr }
`), lines: [5, 10], good: y(`
services:
  proxy:
    image: caddy:2
    ports: [{ target: 443, published: 443, mode: host }]
  app:
    image: acme/app:1
    deploy: { replicas: 2, endpoint_mode: dnsrr }
`) },
  { rule: 'swarm-port-mode', bad: y(`
services:
  proxy:
    image: caddy:2
    ports: ["443:443"]
`), lines: [4], good: y(`
services:
  proxy:
    image: caddy:2
    ports: [{ target: 443, published: 443, mode: host }]
`) },
];

test('every swarm rule has a positive and a negative fixture', () => {
  const covered = new Set(cases.map((c) => c.rule));
  assert.deepEqual(allRules.filter((r) => r.target === 'swarm').map((r) => r.id).filter((id) => !covered.has(id)), []);
});

for (const c of cases) {
  test(`swarm rule ${c.rule}: fires on lines ${c.lines.join(', ')} with --swarm, not on the good fixture, not without --swarm`, () => {
    assert.deepEqual(at(lint(c.bad), c.rule), c.lines.map((l) => `${c.rule}@${l}`));
    assert.deepEqual(at(lint(c.good), c.rule), []);
    assert.deepEqual(at(lint(c.bad, false), c.rule), []);
  });
}

test('the swarm test stack\'s app passes the swarm rules that matter for a zero-downtime update', async () => {
  const { readFileSync } = await import('node:fs');
  const yaml = readFileSync(new URL('../../src/swarm/fixtures/compose.yaml', import.meta.url), 'utf8');
  const rules = at(lint(yaml).filter((f) => f.service === 'app')).map((r) => r.split('@')[0]);
  for (const rule of ['swarm-unsupported', 'swarm-update-config', 'swarm-healthcheck-gate', 'swarm-endpoint-mode', 'swarm-port-mode']) assert.ok(!rules.includes(rule), `${rule}: ${rules.join(', ')}`);
});

test('berth check --swarm runs the swarm rules from the CLI; without --swarm they do not run', async () => {
  const { mkdtempSync, rmSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { runBerth } = await import('../testing/cli.js');
  const dir = mkdtempSync(join(tmpdir(), 'berth-check-stack-'));
  try {
    writeFileSync(join(dir, 'compose.yaml'), 'services:\n  proxy:\n    image: caddy:2\n    ports: ["443:443"]\n');
    const swarm = await runBerth(['-f', join(dir, 'compose.yaml'), 'check', '--swarm', '--format', 'json']);
    const rules = (JSON.parse(swarm.stdout) as { findings?: Array<{ rule: string; line?: number }> } | Array<{ rule: string }>);
    const list = Array.isArray(rules) ? rules : rules.findings ?? [];
    assert.ok(list.some((f) => f.rule === 'swarm-port-mode'), swarm.stdout);
    const plain = await runBerth(['-f', join(dir, 'compose.yaml'), 'check', '--format', 'json']);
    assert.ok(!(JSON.parse(plain.stdout) as { findings: Array<{ rule: string }> }).findings.some((f) => f.rule.startsWith('swarm-')), plain.stdout);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
