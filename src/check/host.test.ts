import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { evaluateHost, gatherHostFacts, parseSshdConfig, type HostFacts, hostFindings } from './host.js';

const base = (): HostFacts => ({
  engine: { version: '20.10.24', securityOptions: ['name=seccomp,profile=default'], liveRestore: false, loggingDriver: 'json-file', dockerRootDir: '/var/lib/docker' },
  daemonJson: { path: '/etc/docker/daemon.json', config: { hosts: ['unix:///var/run/docker.sock', 'tcp://0.0.0.0:2375'], 'log-opts': { 'max-size': '10m' } } },
  containers: [
    { name: 'web', privileged: false, socketMounts: [], ports: [{ hostIp: '0.0.0.0', hostPort: '443', containerPort: '443/tcp' }] },
    { name: 'db', privileged: true, socketMounts: ['/var/run/docker.sock'], ports: [{ hostIp: '0.0.0.0', hostPort: '5432', containerPort: '5432/tcp' }] },
  ],
  firewall: { iptables: '*filter\n:DOCKER-USER - [0:0]\n-A DOCKER-USER -j RETURN\nCOMMIT\n', ufw: 'Status: active\n', errors: ['nft not installed'] },
  sshd: { source: '/etc/ssh/sshd_config', settings: { permitrootlogin: 'yes' } },
  updates: { source: '/etc/apt/apt.conf.d', enabled: false, detail: 'unattended-upgrades not installed', errors: [] },
  disks: [{ path: '/', freeRatio: 0.03, inodeFreeRatio: 0.5, freeBytes: 1e9 }],
  diskErrors: [],
  backups: { project: 'shop', targets: [{ target: 'db', lastVerifiedAt: '2026-11-20T00:00:00Z' }] },
  now: new Date('2026-11-27T00:00:00Z'),
});

const byId = (facts: HostFacts) => Object.fromEntries(evaluateHost(facts).checks.map((c) => [c.id, c]));

test('host judgement: every checklist item fails where the facts say so', () => {
  const c = byId(base());
  assert.equal(c['engine-version']!.status, 'fail');
  assert.equal(c['rootless-userns']!.status, 'fail');
  assert.equal(c['live-restore']!.status, 'fail');
  assert.equal(c['daemon-tls']!.status, 'fail');
  assert.match(c['daemon-tls']!.detail, /tcp:\/\/0\.0\.0\.0:2375 WITHOUT tlsverify/);
  assert.equal(c['log-opts']!.status, 'pass');
  assert.equal(c['privileged-containers']!.status, 'fail');
  assert.equal(c['socket-mounts']!.status, 'fail');
  assert.equal(c['published-ports']!.status, 'fail');
  assert.match(c['published-ports']!.detail, /db 5432->5432\/tcp.*ufw is active but does not filter these/);
  assert.deepEqual(c['published-ports']!.couldNot, ['nft not installed']);
  assert.equal(c['ssh-password-auth']!.status, 'fail');
  assert.match(c['ssh-password-auth']!.detail, /OpenSSH defaults to yes/);
  assert.equal(c['ssh-root-login']!.severity, 'error');
  assert.equal(c['unattended-upgrades']!.status, 'fail');
  assert.equal(c['disk:/']!.status, 'fail');
  assert.equal(c['disk:/']!.severity, 'error');
  assert.equal(c.backups!.status, 'fail');
  assert.match(c.backups!.detail, /db: last verified 168h00m ago/);
});

test('host judgement: passing facts pass; missing facts are unknown with the reason', () => {
  const good = base();
  good.engine = { ...good.engine!, version: '28.1.1', securityOptions: ['name=userns'], liveRestore: true };
  good.daemonJson = { path: '/etc/docker/daemon.json', config: { 'log-driver': 'local' } };
  good.containers = [];
  good.sshd = { source: 'sshd -T', settings: { passwordauthentication: 'no', kbdinteractiveauthentication: 'no', permitrootlogin: 'no' } };
  good.updates = { source: 'apt', enabled: true, detail: 'on', errors: [] };
  good.disks = [{ path: '/', freeRatio: 0.6, inodeFreeRatio: 0.9, freeBytes: 5e10 }];
  good.backups = { targets: [{ target: 'db', lastVerifiedAt: '2026-11-26T12:00:00Z' }] };
  const report = evaluateHost(good);
  assert.deepEqual(report.checks.filter((c) => c.status !== 'pass').map((c) => c.id), []);
  const none = evaluateHost({ engineError: 'cannot reach the Docker engine', firewall: { errors: [] }, updates: { errors: ['neither apt nor dnf-automatic configuration found'] }, disks: [], diskErrors: [], backupsError: 'state store not available', sshdError: 'sshd not installed; no /etc/ssh/sshd_config', now: new Date() });
  const unknown = Object.fromEntries(none.checks.map((c) => [c.id, c]));
  assert.equal(unknown['engine-version']!.status, 'unknown');
  assert.match(unknown['engine-version']!.detail, /cannot reach the Docker engine/);
  assert.match(unknown['ssh-password-auth']!.detail, /sshd not installed/);
  assert.match(unknown.backups!.detail, /state store not available/);
});

test('sshd config: first value wins, Match blocks ignored, includes read from a root', async () => {
  assert.deepEqual(parseSshdConfig('PasswordAuthentication no\nPasswordAuthentication yes\nMatch User git\n  PermitRootLogin yes\n'), { passwordauthentication: 'no' });
  const root = mkdtempSync(join(tmpdir(), 'berth-host-'));
  try {
    mkdirSync(join(root, 'etc/ssh/sshd_config.d'), { recursive: true });
    writeFileSync(join(root, 'etc/ssh/sshd_config'), 'Include /etc/ssh/sshd_config.d/*.conf\nPasswordAuthentication yes\nPermitRootLogin yes\n');
    writeFileSync(join(root, 'etc/ssh/sshd_config.d/50-hardening.conf'), 'PasswordAuthentication no\n');
    mkdirSync(join(root, 'etc/apt/apt.conf.d'), { recursive: true });
    writeFileSync(join(root, 'etc/apt/apt.conf.d/20auto-upgrades'), 'APT::Periodic::Update-Package-Lists "1";\nAPT::Periodic::Unattended-Upgrade "1";\n');
    const facts = await gatherHostFacts({ root });
    assert.equal(facts.sshd!.settings.passwordauthentication, 'no');
    assert.equal(facts.sshd!.settings.permitrootlogin, 'yes');
    assert.match(facts.sshd!.source, /50-hardening\.conf/);
    assert.equal(facts.updates.enabled, false, 'package not installed under the root');
    assert.match(facts.updates.detail!, /not installed, APT::Periodic::Unattended-Upgrade "1"/);
    assert.match(facts.daemonJson!.error!, /no .*daemon\.json/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('issue 17: a socket proxy holding the socket passes (as berth check says); another holder still fails', () => {
  const facts = base();
  facts.containers = [
    { name: 'shop_socket-proxy_1', image: 'local/berth-socket-proxy:latest', privileged: false, socketMounts: ['/var/run/docker.sock'], ports: [] },
    { name: 'tecnativa', image: 'tecnativa/docker-socket-proxy:0.3', privileged: false, socketMounts: ['/var/run/docker.sock'], ports: [] },
  ];
  const pass = byId(facts)['socket-mounts']!;
  assert.equal(pass.status, 'pass', pass.detail);
  assert.match(pass.detail, /socket proxies hold it: shop_socket-proxy_1, tecnativa/);
  facts.containers.push({ name: 'portainer', image: 'portainer/portainer-ce', privileged: false, socketMounts: ['/var/run/docker.sock'], ports: [] });
  const fail = byId(facts)['socket-mounts']!;
  assert.equal(fail.status, 'fail');
  assert.match(fail.detail, /^mounted in: portainer/);
});

test('issue 17: the CI formats carry the failed checks as findings and the unknown ones as notes', () => {
  const facts = base();
  const report = evaluateHost(facts);
  const { findings, notes } = hostFindings(report);
  assert.equal(findings.length, report.summary.fail);
  assert.equal(notes.length, report.summary.unknown);
  assert.ok(findings.every((f) => f.rule.startsWith('host/') && f.message.length > 0));
});
