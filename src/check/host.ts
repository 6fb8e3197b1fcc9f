/**
 * `berth check host`: a read-only hardening audit of the Docker host (the reference's host
 * checklist). Facts are gathered first (engine info, daemon.json, containers, firewall, sshd,
 * updates, disk, backups) — each records what it read or why it could not; then pure functions
 * judge them. It never changes the host.
 */
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statfsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Painter } from '../cli/output.js';
import type { Engine } from '../engine/client.js';
import { formatDuration } from '../lib/duration.js';
import { ExitCode, errorMessage } from '../lib/errors.js';
import type { StateStore } from '../state/store.js';
import { isSocketProxyImage } from './rules/util.js';
import { SEVERITY_RANK, type Finding, type Severity } from './types.js';

const execFileAsync = promisify(execFile);

export type HostStatus = 'pass' | 'fail' | 'unknown';

export interface HostCheck {
  id: string;
  title: string;
  status: HostStatus;
  /** How bad a failure is. */
  severity: Severity;
  /** What was found, in one or a few lines. */
  detail: string;
  /** Sources read (or attempted), e.g. "engine info", "/etc/docker/daemon.json". */
  read: string[];
  /** When unknown: what could not be read and why. */
  couldNot?: string[];
  advice?: string;
}

export interface HostReport {
  checks: HostCheck[];
  summary: { pass: number; fail: number; unknown: number };
}

/** Everything the judgement needs; each part undefined when it could not be read (with a reason). */
export interface HostFacts {
  engine?: {
    version: string;
    securityOptions: string[];
    liveRestore: boolean;
    loggingDriver: string;
    dockerRootDir: string;
  };
  engineError?: string;
  daemonJson?: { path: string; config?: Record<string, unknown>; error?: string };
  dockerdArgs?: string[];
  containers?: Array<{ name: string; image?: string; privileged: boolean; socketMounts: string[]; ports: Array<{ hostIp: string; hostPort: string; containerPort: string }> }>;
  firewall: { iptables?: string; nft?: string; ufw?: string; errors: string[] };
  sshd?: { source: string; settings: Record<string, string> };
  sshdError?: string;
  updates: { source?: string; enabled?: boolean; detail?: string; errors: string[] };
  disks: Array<{ path: string; freeRatio: number; inodeFreeRatio?: number; freeBytes: number }>;
  diskErrors: string[];
  backups?: { project?: string; targets: Array<{ target: string; lastVerifiedAt?: string; lastStatus?: string }> };
  backupsError?: string;
  now: Date;
}

// ─── judgement (pure) ─────────────────────────────────────────────────────────────

export function evaluateHost(f: HostFacts): HostReport {
  const checks: HostCheck[] = [];
  const add = (c: HostCheck) => checks.push(c);
  const unknown = (id: string, title: string, severity: Severity, read: string[], couldNot: string[], advice?: string): HostCheck => ({ id, title, status: 'unknown', severity, detail: `could not determine: ${couldNot.join('; ')}`, read, couldNot, advice });

  // Engine version
  if (f.engine) {
    const major = Number(f.engine.version.split('.')[0]);
    add({ id: 'engine-version', title: 'Docker Engine is a current stable release', status: major >= 27 ? 'pass' : 'fail', severity: major >= 25 ? 'info' : 'warning', detail: `Docker Engine ${f.engine.version}${major >= 27 ? '' : ' (current stable: 28.x/29.x; older releases get no security fixes)'}`, read: ['engine version'], advice: 'Upgrade Docker Engine from Docker\'s apt/yum repository.' });
    const rootless = f.engine.securityOptions.some((o) => /name=rootless/.test(o));
    const userns = f.engine.securityOptions.some((o) => /name=userns/.test(o)) || typeof f.daemonJson?.config?.['userns-remap'] === 'string';
    add({ id: 'rootless-userns', title: 'Rootless Docker or user-namespace remapping', status: rootless || userns ? 'pass' : 'fail', severity: 'warning', detail: rootless ? 'the daemon runs rootless' : userns ? 'userns-remap is on: root in containers maps to an unprivileged host user' : `neither rootless nor userns-remap (security options: ${f.engine.securityOptions.join(', ') || 'none'}): root in a container is root on the host`, read: ['engine info (SecurityOptions)', ...(f.daemonJson?.config ? [f.daemonJson.path] : [])], advice: 'Set "userns-remap": "default" in /etc/docker/daemon.json, or run Docker rootless.' });
    add({ id: 'live-restore', title: 'live-restore keeps containers up across daemon restarts', status: f.engine.liveRestore ? 'pass' : 'fail', severity: 'info', detail: f.engine.liveRestore ? 'live-restore is enabled' : 'live-restore is off: restarting or upgrading dockerd stops every container', read: ['engine info (LiveRestoreEnabled)'], advice: 'Set "live-restore": true in /etc/docker/daemon.json.' });
  } else {
    for (const [id, title] of [['engine-version', 'Docker Engine is a current stable release'], ['rootless-userns', 'Rootless Docker or user-namespace remapping'], ['live-restore', 'live-restore keeps containers up across daemon restarts']] as const) add(unknown(id, title, 'warning', ['engine info'], [`engine not reachable: ${f.engineError ?? 'unknown error'}`]));
  }

  // Daemon TLS when remote access is on
  {
    const read: string[] = [];
    const hosts: string[] = [];
    const cfg = f.daemonJson?.config;
    if (f.daemonJson) read.push(f.daemonJson.path);
    if (cfg && Array.isArray(cfg.hosts)) hosts.push(...cfg.hosts.map(String));
    if (f.dockerdArgs) {
      read.push('dockerd command line (/proc)');
      f.dockerdArgs.forEach((a, i) => { if ((a === '-H' || a === '--host') && f.dockerdArgs![i + 1]) hosts.push(f.dockerdArgs![i + 1]!); const m = /^(?:-H|--host)=(.+)$/.exec(a); if (m) hosts.push(m[1]!); });
    }
    const tcp = hosts.filter((h) => h.startsWith('tcp://'));
    const tlsverify = cfg?.tlsverify === true || (f.dockerdArgs ?? []).some((a) => a === '--tlsverify' || a === '--tlsverify=true');
    if (!f.daemonJson?.config && !f.dockerdArgs) add(unknown('daemon-tls', 'Remote API access only with TLS', 'error', read, [f.daemonJson?.error ?? 'no daemon.json', 'dockerd process not visible'].filter(Boolean)));
    else if (tcp.length === 0) add({ id: 'daemon-tls', title: 'Remote API access only with TLS', status: 'pass', severity: 'error', detail: 'no TCP listener configured (remote access off)', read });
    else add({ id: 'daemon-tls', title: 'Remote API access only with TLS', status: tlsverify && tcp.every((h) => !h.endsWith(':2375')) ? 'pass' : 'fail', severity: 'error', detail: `dockerd listens on ${tcp.join(', ')}${tlsverify ? ' with --tlsverify' : ' WITHOUT tlsverify: anyone who reaches it is root on this host'}`, read, advice: 'Use tlsverify with client certificates on 2376, or drop the TCP listener and use ssh:// (DOCKER_HOST=ssh://user@host).' });
  }

  // Log rotation defaults
  {
    const cfg = f.daemonJson?.config;
    const driver = String(cfg?.['log-driver'] ?? f.engine?.loggingDriver ?? 'json-file');
    const opts = (cfg?.['log-opts'] ?? {}) as Record<string, unknown>;
    const read = [...(f.engine ? ['engine info (LoggingDriver)'] : []), ...(f.daemonJson ? [f.daemonJson.path] : [])];
    if (!f.engine && !cfg) add(unknown('log-opts', 'Container logs are rotated by default', 'warning', read, ['engine info and daemon.json']));
    else if (driver !== 'json-file') add({ id: 'log-opts', title: 'Container logs are rotated by default', status: 'pass', severity: 'warning', detail: `default log driver is ${driver}${driver === 'local' ? ' (rotates by default)' : ''}`, read });
    else if (!cfg) add({ id: 'log-opts', title: 'Container logs are rotated by default', status: 'fail', severity: 'warning', detail: `default log driver json-file and ${f.daemonJson?.error ?? 'no daemon.json'}: logs grow without bound unless every service sets logging options`, read, advice: 'Set "log-driver": "local" or "log-opts": {"max-size": "10m", "max-file": "5"} in /etc/docker/daemon.json (applies to new containers).' });
    else add({ id: 'log-opts', title: 'Container logs are rotated by default', status: opts['max-size'] ? 'pass' : 'fail', severity: 'warning', detail: opts['max-size'] ? `json-file with max-size ${String(opts['max-size'])}, max-file ${String(opts['max-file'] ?? '1')}` : 'json-file without log-opts max-size: logs grow without bound', read, advice: 'Add "log-opts": {"max-size": "10m", "max-file": "5"} to /etc/docker/daemon.json.' });
  }

  // Running containers: privileged, socket mounts
  if (f.containers) {
    const privileged = f.containers.filter((c) => c.privileged);
    add({ id: 'privileged-containers', title: 'No privileged containers', status: privileged.length ? 'fail' : 'pass', severity: 'error', detail: privileged.length ? `privileged: ${privileged.map((c) => c.name).join(', ')}` : `none of ${f.containers.length} running containers is privileged`, read: ['engine: running containers (inspect HostConfig.Privileged)'], advice: 'Remove privileged: true; grant single capabilities or devices instead.' });
    // A socket proxy is the one container meant to hold the socket (as berth check's lint says).
    const holders = f.containers.filter((c) => c.socketMounts.length);
    const proxies = holders.filter((c) => isSocketProxyImage(c.image));
    const socket = holders.filter((c) => !proxies.includes(c));
    const proxied = proxies.length ? `; socket proxies hold it: ${proxies.map((c) => c.name).join(', ')}` : '';
    add({ id: 'socket-mounts', title: 'Docker socket not mounted into containers', status: socket.length ? 'fail' : 'pass', severity: 'error', detail: socket.length ? `mounted in: ${socket.map((c) => `${c.name} (${c.socketMounts.join(', ')})`).join(', ')}${proxied}` : `no running container mounts the Docker socket${proxied}`, read: ['engine: running containers (inspect Mounts, image)'], advice: 'Give those services a socket proxy with POST=0 on an internal network.' });
  } else {
    add(unknown('privileged-containers', 'No privileged containers', 'error', [], [`engine not reachable: ${f.engineError ?? ''}`]));
    add(unknown('socket-mounts', 'Docker socket not mounted into containers', 'error', [], [`engine not reachable: ${f.engineError ?? ''}`]));
  }

  // Published ports vs firewall
  {
    const read: string[] = [];
    if (f.firewall.iptables !== undefined) read.push('iptables-save');
    if (f.firewall.nft !== undefined) read.push('nft list ruleset');
    if (f.firewall.ufw !== undefined) read.push('ufw status');
    const open = (f.containers ?? []).flatMap((c) => c.ports.filter((p) => /^(0\.0\.0\.0|::|)$/.test(p.hostIp)).map((p) => ({ ...p, name: c.name })));
    const unexpected = open.filter((p) => !['80', '443'].includes(p.hostPort));
    const rules = `${f.firewall.iptables ?? ''}\n${f.firewall.nft ?? ''}`;
    const dockerUser = /-A DOCKER-USER (?!-j RETURN$)/m.test(f.firewall.iptables ?? '') || /chain DOCKER-USER \{[^}]*\b(drop|reject|accept)\b[^}]*\}/s.test(f.firewall.nft ?? '');
    const ufwActive = /Status: active/.test(f.firewall.ufw ?? '') || /ufw-user-input/.test(rules);
    const couldNot = f.firewall.errors;
    if (!f.containers) add(unknown('published-ports', 'Published ports are intended and firewalled', 'warning', read, ['running containers (engine not reachable)', ...couldNot]));
    else if (unexpected.length === 0) add({ id: 'published-ports', title: 'Published ports are intended and firewalled', status: 'pass', severity: 'warning', detail: open.length ? `only 80/443 published on all interfaces` : 'no container port published on all interfaces', read: ['engine: running containers (ports)', ...read], couldNot: couldNot.length ? couldNot : undefined });
    else add({
      id: 'published-ports', title: 'Published ports are intended and firewalled', status: dockerUser ? 'pass' : 'fail', severity: 'warning',
      detail: `published on all interfaces: ${unexpected.map((p) => `${p.name} ${p.hostPort}->${p.containerPort}`).join(', ')}. Docker's DNAT rules bypass ufw/INPUT${ufwActive ? ' (ufw is active but does not filter these)' : ''}; ${dockerUser ? 'DOCKER-USER has rules (check they cover these ports)' : read.length ? 'DOCKER-USER has no filtering rules' : 'firewall rules could not be read'}`,
      read: ['engine: running containers (ports)', ...read], couldNot: couldNot.length ? couldNot : undefined,
      advice: 'Bind to 127.0.0.1 in compose, or filter in the DOCKER-USER chain (iptables -I DOCKER-USER -i eth0 -p tcp --dport PORT -j DROP).',
    });
  }

  // SSH
  if (f.sshd) {
    const s = f.sshd.settings;
    const password = (s.passwordauthentication ?? 'yes').toLowerCase();
    const kbd = (s.kbdinteractiveauthentication ?? s.challengeresponseauthentication ?? 'yes').toLowerCase();
    const root = (s.permitrootlogin ?? 'prohibit-password').toLowerCase();
    const passOk = password === 'no' && (kbd === 'no' || (s.usepam ?? 'no').toLowerCase() === 'no');
    add({ id: 'ssh-password-auth', title: 'SSH: key-only authentication', status: passOk ? 'pass' : 'fail', severity: 'error', detail: `PasswordAuthentication ${password}, KbdInteractiveAuthentication ${kbd}${s.passwordauthentication ? '' : ' (PasswordAuthentication unset: OpenSSH defaults to yes)'}`, read: [f.sshd.source], advice: 'Set PasswordAuthentication no and KbdInteractiveAuthentication no in /etc/ssh/sshd_config.d/, then reload sshd.' });
    add({ id: 'ssh-root-login', title: 'SSH: no root login', status: root === 'no' ? 'pass' : root === 'prohibit-password' || root === 'without-password' ? 'fail' : 'fail', severity: root === 'yes' ? 'error' : 'warning', detail: `PermitRootLogin ${root}`, read: [f.sshd.source], advice: 'Set PermitRootLogin no and log in as an unprivileged user with sudo.' });
  } else {
    add(unknown('ssh-password-auth', 'SSH: key-only authentication', 'error', ['sshd -T', '/etc/ssh/sshd_config'], [f.sshdError ?? 'sshd not found']));
    add(unknown('ssh-root-login', 'SSH: no root login', 'warning', ['sshd -T', '/etc/ssh/sshd_config'], [f.sshdError ?? 'sshd not found']));
  }

  // Automatic security updates
  if (f.updates.source) add({ id: 'unattended-upgrades', title: 'Automatic security updates', status: f.updates.enabled ? 'pass' : 'fail', severity: 'warning', detail: f.updates.detail ?? '', read: [f.updates.source], advice: 'Debian/Ubuntu: apt install unattended-upgrades && dpkg-reconfigure -plow unattended-upgrades; RHEL: dnf install dnf-automatic && systemctl enable --now dnf-automatic-install.timer.' });
  else add(unknown('unattended-upgrades', 'Automatic security updates', 'warning', ['/etc/apt/apt.conf.d', '/etc/dnf/automatic.conf'], f.updates.errors.length ? f.updates.errors : ['no known update mechanism found']));

  // Disk and inodes
  if (f.disks.length) {
    for (const d of f.disks) {
      const low = Math.min(d.freeRatio, d.inodeFreeRatio ?? 1);
      add({ id: `disk:${d.path}`, title: `Disk and inode headroom on ${d.path}`, status: low >= 0.15 ? 'pass' : 'fail', severity: low < 0.05 ? 'error' : 'warning', detail: `${Math.round(d.freeRatio * 100)}% space free (${(d.freeBytes / 2 ** 30).toFixed(1)} GiB)${d.inodeFreeRatio === undefined ? ', inodes not reported' : `, ${Math.round(d.inodeFreeRatio * 100)}% inodes free`}`, read: [`statfs ${d.path}`], advice: 'docker system df; prune unused images (docker image prune -a --filter until=168h) and rotate logs.' });
    }
  }
  for (const e of f.diskErrors) add(unknown('disk', 'Disk and inode headroom', 'warning', [], [e]));

  // Backups
  if (f.backups) {
    const targets = f.backups.targets;
    const dayMs = 86_400_000;
    if (targets.length === 0) add({ id: 'backups', title: 'Backups exist and are recent', status: 'fail', severity: 'warning', detail: `no backups recorded${f.backups.project ? ` for project ${f.backups.project}` : ''} in the state store`, read: ['state store: backups'], advice: 'Declare x-berth backup targets and schedule berth backup.' });
    else {
      const stale = targets.filter((t) => !t.lastVerifiedAt || f.now.getTime() - Date.parse(t.lastVerifiedAt) > 2 * dayMs);
      add({ id: 'backups', title: 'Backups exist and are recent', status: stale.length ? 'fail' : 'pass', severity: 'warning', detail: targets.map((t) => `${t.target}: ${t.lastVerifiedAt ? `last verified ${formatDuration(f.now.getTime() - Date.parse(t.lastVerifiedAt))} ago` : `no verified backup (last: ${t.lastStatus ?? 'none'})`}`).join('; '), read: ['state store: backups'], advice: stale.length ? 'Run berth backup and check its schedule.' : undefined });
    }
  } else add(unknown('backups', 'Backups exist and are recent', 'warning', ['state store: backups'], [f.backupsError ?? 'state store not available']));

  const count = (s: HostStatus) => checks.filter((c) => c.status === s).length;
  return { checks, summary: { pass: count('pass'), fail: count('fail'), unknown: count('unknown') } };
}

/** sshd config text (main file + includes already concatenated in order) → first value per key, as sshd does. */
export function parseSshdConfig(text: string): Record<string, string> {
  const settings: Record<string, string> = {};
  let inMatch = false;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (!line) continue;
    const m = /^(\S+)\s*(?:=\s*|\s+)(.*)$/.exec(line);
    if (!m) continue;
    const key = m[1]!.toLowerCase();
    if (key === 'match') { inMatch = true; continue; }
    if (inMatch) continue; // Match blocks apply to some connections only
    if (!(key in settings)) settings[key] = m[2]!.trim();
  }
  return settings;
}

export function hostExitCode(report: HostReport, threshold: Severity): number {
  return report.checks.some((c) => c.status === 'fail' && SEVERITY_RANK[c.severity] >= SEVERITY_RANK[threshold]) ? ExitCode.degraded : ExitCode.ok;
}

/**
 * The report as findings, for the CI formats (sarif, github, junit): each failed check a finding
 * (rule host/ID, no file), each check that could not be determined a note.
 */
export function hostFindings(report: HostReport): { findings: Finding[]; notes: string[] } {
  return {
    findings: report.checks.filter((c) => c.status === 'fail').map((c) => ({ rule: `host/${c.id}`, family: 'hardening', severity: c.severity, message: `${c.title}: ${c.detail}${c.advice ? ` Fix: ${c.advice}` : ''}` })),
    notes: report.checks.filter((c) => c.status === 'unknown').map((c) => `host/${c.id}: ${c.detail}`),
  };
}

export function renderHostReport(report: HostReport, paint: Painter): string {
  const lines: string[] = [];
  for (const c of report.checks) {
    const mark = c.status === 'pass' ? paint.green('✓') : c.status === 'unknown' ? paint.dim('?') : c.severity === 'error' ? paint.red('✗') : paint.yellow('!');
    lines.push(`${mark} ${paint.bold(c.title)} ${paint.dim(`[${c.id}]`)}`);
    lines.push(`    ${c.detail}`);
    lines.push(paint.dim(`    ${c.status === 'unknown' ? 'tried' : 'read'}: ${c.read.join(', ') || 'nothing'}${c.couldNot?.length && c.status !== 'unknown' ? `; could not read: ${c.couldNot.join('; ')}` : ''}`));
    if (c.status === 'fail' && c.advice) lines.push(paint.dim(`    fix: ${c.advice}`));
  }
  const s = report.summary;
  lines.push('', `${s.pass} passed, ${s.fail} failed, ${s.unknown} could not be determined`);
  return lines.join('\n');
}

// ─── gathering (read-only I/O) ───────────────────────────────────────────────────

async function tryRun(cmd: string, args: string[]): Promise<{ out?: string; error?: string }> {
  try {
    const { stdout } = await execFileAsync(cmd, args, { timeout: 5000, maxBuffer: 8 * 1024 * 1024 });
    return { out: stdout };
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { stderr?: string };
    return { error: e.code === 'ENOENT' ? `${cmd} not installed` : `${cmd} ${args.join(' ')}: ${(e.stderr || e.message || '').toString().trim().split('\n')[0]}` };
  }
}

function readText(path: string): string | undefined {
  try { return readFileSync(path, 'utf8'); } catch { return undefined; }
}

export interface AuditDeps {
  engine?: Engine;
  engineError?: string;
  store?: StateStore;
  project?: string;
  /** For tests: the root of the file system to read /etc from. */
  root?: string;
  now?: Date;
}

export async function gatherHostFacts(deps: AuditDeps): Promise<HostFacts> {
  const root = deps.root ?? '/';
  const facts: HostFacts = { firewall: { errors: [] }, updates: { errors: [] }, disks: [], diskErrors: [], now: deps.now ?? new Date(), engineError: deps.engineError };
  const tasks: Array<Promise<void>> = [];
  if (deps.engine) {
    const engine = deps.engine;
    tasks.push((async () => {
      try {
        const info = await engine.call('read engine info', () => engine.docker.info()) as Record<string, unknown>;
        facts.engine = { version: String(info.ServerVersion ?? engine.version.version), securityOptions: (info.SecurityOptions as string[] | undefined) ?? [], liveRestore: info.LiveRestoreEnabled === true, loggingDriver: String(info.LoggingDriver ?? 'json-file'), dockerRootDir: String(info.DockerRootDir ?? '/var/lib/docker') };
      } catch (error) { facts.engineError = errorMessage(error); }
    })());
    tasks.push((async () => {
      try {
        const list = await engine.docker.listContainers({ filters: { status: ['running'] } });
        facts.containers = await Promise.all(list.map(async (c) => {
          const inspect = await engine.inspectContainer(c.Id);
          return {
            name: (c.Names[0] ?? c.Id).replace(/^\//, ''),
            image: inspect.Config.Image,
            privileged: inspect.HostConfig.Privileged === true,
            socketMounts: (inspect.Mounts ?? []).filter((m) => /(^|\/)docker\.sock$/.test(m.Source ?? '')).map((m) => m.Source),
            ports: (c.Ports ?? []).filter((p) => p.PublicPort).map((p) => ({ hostIp: p.IP ?? '', hostPort: String(p.PublicPort), containerPort: `${p.PrivatePort}/${p.Type}` })),
          };
        }));
      } catch (error) { facts.engineError ??= errorMessage(error); }
    })());
  }
  // daemon.json
  const daemonPath = join(root, 'etc/docker/daemon.json');
  const daemonText = readText(daemonPath);
  if (daemonText === undefined) facts.daemonJson = { path: daemonPath, error: existsSync(daemonPath) ? `${daemonPath} not readable` : `no ${daemonPath} (daemon defaults)` };
  else {
    try { facts.daemonJson = { path: daemonPath, config: JSON.parse(daemonText) as Record<string, unknown> }; } catch (error) { facts.daemonJson = { path: daemonPath, error: `${daemonPath} is not valid JSON: ${errorMessage(error)}` }; }
  }
  // dockerd command line (for -H tcp://)
  try {
    for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
      const cmdline = readText(`/proc/${pid}/cmdline`);
      if (cmdline && /(^|\/)dockerd\0?/.test(cmdline.split('\0')[0] ?? '')) { facts.dockerdArgs = cmdline.split('\0').filter(Boolean); break; }
    }
  } catch { /* no /proc: leave undefined */ }
  // Firewall
  tasks.push((async () => {
    const [ipt, nft, ufw] = await Promise.all([tryRun('iptables-save', []), tryRun('nft', ['list', 'ruleset']), tryRun('ufw', ['status'])]);
    if (ipt.out !== undefined) facts.firewall.iptables = ipt.out; else facts.firewall.errors.push(ipt.error!);
    if (nft.out !== undefined) facts.firewall.nft = nft.out; else facts.firewall.errors.push(nft.error!);
    if (ufw.out !== undefined) facts.firewall.ufw = ufw.out; else facts.firewall.errors.push(ufw.error!);
  })());
  // sshd: the effective config from sshd -T, else the files.
  tasks.push((async () => {
    const t = deps.root ? { error: 'skipped (test root)' } : await tryRun('sshd', ['-T']);
    if (t.out) {
      const settings: Record<string, string> = {};
      for (const line of t.out.split('\n')) { const m = /^(\S+)\s+(.*)$/.exec(line.trim()); if (m) settings[m[1]!.toLowerCase()] = m[2]!; }
      facts.sshd = { source: 'sshd -T', settings };
      return;
    }
    const main = join(root, 'etc/ssh/sshd_config');
    const text = readText(main);
    if (text === undefined) { facts.sshdError = `${t.error ?? 'sshd -T failed'}; no ${main}`; return; }
    // Include lines are processed in place, as sshd does (typically at the top: drop-ins win).
    let full = '';
    const sources = [main];
    for (const line of text.split('\n')) {
      const inc = /^\s*Include\s+(.+)$/i.exec(line);
      if (!inc) { full += `${line}\n`; continue; }
      for (const pattern of inc[1]!.trim().split(/\s+/)) {
        const abs = pattern.startsWith('/') ? join(root, pattern) : join(root, 'etc/ssh', pattern);
        const dir = abs.replace(/\/[^/]*$/, '');
        const glob = new RegExp(`^${abs.slice(dir.length + 1).replace(/\./g, '\\.').replace(/\*/g, '.*')}$`);
        let names: string[] = [];
        try { names = readdirSync(dir).filter((n) => glob.test(n)).sort(); } catch { /* none */ }
        for (const n of names) { const inner = readText(join(dir, n)); if (inner !== undefined) { full += `${inner}\n`; sources.push(join(dir, n)); } }
      }
    }
    facts.sshd = { source: sources.join(' + '), settings: parseSshdConfig(full) };
  })());
  // Unattended upgrades
  {
    const aptDir = join(root, 'etc/apt/apt.conf.d');
    const dnf = join(root, 'etc/dnf/automatic.conf');
    if (existsSync(aptDir)) {
      let text = '';
      try { for (const n of readdirSync(aptDir).sort()) text += `${readText(join(aptDir, n)) ?? ''}\n`; } catch (error) { facts.updates.errors.push(errorMessage(error)); }
      const periodic = /APT::Periodic::Unattended-Upgrade\s+"(\d+)"/.exec(text);
      const installed = existsSync(join(root, 'usr/bin/unattended-upgrade'));
      facts.updates = { source: `${aptDir}/*, /usr/bin/unattended-upgrade`, enabled: installed && periodic?.[1] !== undefined && periodic[1] !== '0', detail: `unattended-upgrades ${installed ? 'installed' : 'not installed'}, APT::Periodic::Unattended-Upgrade ${periodic ? `"${periodic[1]}"` : 'not set'}`, errors: [] };
    } else if (existsSync(dnf)) {
      const apply = /^\s*apply_updates\s*=\s*(\S+)/m.exec(readText(dnf) ?? '');
      facts.updates = { source: dnf, enabled: apply?.[1] === 'yes', detail: `dnf-automatic apply_updates = ${apply?.[1] ?? 'unset'} (the timer's state is not checked)`, errors: [] };
    } else facts.updates.errors.push('neither apt nor dnf-automatic configuration found');
  }
  await Promise.all(tasks);
  // Disk and inodes of / and Docker's data root
  const seenDevices = new Set<number>();
  for (const path of [...new Set([root, facts.engine?.dockerRootDir].filter((p): p is string => !!p))]) {
    try {
      // One line per file system: / and /var/lib/docker are often the same one.
      const dev = statSync(path).dev;
      if (seenDevices.has(dev)) continue;
      seenDevices.add(dev);
      const s = statfsSync(path);
      facts.disks.push({ path, freeRatio: s.blocks ? s.bavail / s.blocks : 1, freeBytes: s.bavail * s.bsize, inodeFreeRatio: s.files ? s.ffree / s.files : undefined });
    } catch (error) { facts.diskErrors.push(`statfs ${path}: ${errorMessage(error)}`); }
  }
  // Backups from the state store
  if (deps.store) {
    try {
      const rows = deps.store.db.prepare(`SELECT project, target, MAX(CASE WHEN status = 'verified' THEN COALESCE(finished_at, started_at) END) AS last_verified, (SELECT b2.status FROM backups b2 WHERE b2.project = b.project AND b2.target = b.target ORDER BY started_at DESC LIMIT 1) AS last_status FROM backups b ${deps.project ? 'WHERE project = ?' : ''} GROUP BY project, target ORDER BY project, target`).all(...(deps.project ? [deps.project] : [])) as Array<{ project: string; target: string; last_verified: string | null; last_status: string | null }>;
      facts.backups = { project: deps.project, targets: rows.map((r) => ({ target: deps.project ? r.target : `${r.project}/${r.target}`, lastVerifiedAt: r.last_verified ?? undefined, lastStatus: r.last_status ?? undefined })) };
    } catch (error) { facts.backupsError = `state store: ${errorMessage(error)}`; }
  } else facts.backupsError = 'state store not available';
  return facts;
}

export async function auditHost(deps: AuditDeps): Promise<HostReport> {
  return evaluateHost(await gatherHostFacts(deps));
}
