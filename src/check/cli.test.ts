/** berth check through the real CLI: exit codes, formats, --fix --dry-run, config, bad input. */
import assert from 'node:assert/strict';
import { unwrapStylish } from './testing/lint.js';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { runBerth } from '../testing/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'berth-check-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const compose = `# keep me
services:
  app:
    build: .
    restart: always   # keep me too
    healthcheck:
      test: ["CMD", "curl", "-f", "http://localhost:3000/health"]
  db:
    image: postgres:17
    environment:
      POSTGRES_PASSWORD: hunter2
`;
writeFileSync(join(dir, 'compose.yaml'), compose);
writeFileSync(join(dir, 'Dockerfile'), 'FROM node:22-slim\nCMD npm start\n');

test('berth check: stylish findings from compose and Dockerfile, exit 1 on errors', async () => {
  const r = await runBerth(['check'], { cwd: dir });
  r.stdout = unwrapStylish(r.stdout);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stdout, /^compose\.yaml$/m);
  assert.match(r.stdout, /^Dockerfile$/m);
  assert.match(r.stdout, /11:7 +error +service "db": POSTGRES_PASSWORD holds a secret in plain text +plaintext-secret/);
  assert.match(r.stdout, /2:1 +error +CMD uses shell form/);
  assert.match(r.stdout, /7:7 +error +service "app": healthcheck uses curl, which is not in the image \(Dockerfile \(FROM node:22-slim\)\) +healthcheck-probe-binary/);
});

test('berth check --severity and config file levels decide the exit code', async () => {
  writeFileSync(join(dir, 'quiet.yaml'), 'rules:\n  plaintext-secret: warning\n  df-exec-form: off\n  df-npm-start: off\n  healthcheck-probe-binary: off\n  datastore-internal-network: off\n');
  const r = await runBerth(['check', '--config', 'quiet.yaml', '--format', 'json'], { cwd: dir });
  assert.equal(r.code, 0, r.stdout);
  const report = JSON.parse(r.stdout);
  assert.equal(report.summary.error, 0);
  assert.ok(report.findings.some((f: { rule: string; severity: string }) => f.rule === 'plaintext-secret' && f.severity === 'warning'));
  const strict = await runBerth(['check', '--config', 'quiet.yaml', '--severity', 'warning', '--format', 'github'], { cwd: dir });
  assert.equal(strict.code, 1);
  assert.match(strict.stdout, /^::warning file=compose\.yaml,line=11,col=7,title=berth plaintext-secret::/m);
});

test('berth check --fix --dry-run prints a unified diff and changes nothing; --fix writes and keeps comments', async () => {
  const dry = await runBerth(['check', '--fix', '--dry-run', '--rule', 'restart-policy,init'], { cwd: dir });
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /^--- a\/compose\.yaml\n\+\+\+ b\/compose\.yaml\n@@ /);
  assert.match(dry.stdout, /^-    restart: always   # keep me too$/m);
  assert.match(dry.stdout, /^\+    restart: unless-stopped   # keep me too$/m);
  assert.match(dry.stdout, /^\+    init: true$/m);
  assert.equal(readFileSync(join(dir, 'compose.yaml'), 'utf8'), compose);
  const fix = await runBerth(['check', '--fix', '--rule', 'restart-policy', '--rule', 'init'], { cwd: dir });
  assert.equal(fix.code, 0, fix.stdout + fix.stderr);
  assert.match(fix.stderr, /fixed \d+ findings? in compose\.yaml/);
  const fixed = readFileSync(join(dir, 'compose.yaml'), 'utf8');
  assert.match(fixed, /^# keep me$/m);
  assert.match(fixed, /restart: unless-stopped {3}# keep me too/);
  assert.match(fix.stdout, /✓ no findings/);
  writeFileSync(join(dir, 'compose.yaml'), compose);
});

test('berth check: sarif and junit render; unknown rule or format is a usage error', async () => {
  const sarif = await runBerth(['check', '--format', 'sarif'], { cwd: dir });
  assert.equal(JSON.parse(sarif.stdout).version, '2.1.0');
  const junit = await runBerth(['check', '--format', 'junit'], { cwd: dir });
  assert.match(junit.stdout, /^<\?xml/);
  const badRule = await runBerth(['check', '--rule', 'nope'], { cwd: dir });
  assert.equal(badRule.code, 2);
  assert.match(badRule.stderr, /unknown rule "nope"/);
  const badFormat = await runBerth(['check', '--format', 'xml'], { cwd: dir });
  assert.equal(badFormat.code, 2);
});

test('berth check dockerfile and berth check rules', async () => {
  const df = await runBerth(['check', 'dockerfile', 'Dockerfile'], { cwd: dir });
  assert.equal(df.code, 1);
  assert.match(df.stdout, /df-npm-start/);
  const rules = await runBerth(['--json', 'check', 'rules']);
  const list = JSON.parse(rules.stdout) as Array<{ id: string }>;
  assert.ok(list.length >= 45);
  const md = await runBerth(['check', 'rules', '--markdown']);
  assert.ok(md.stdout.includes('### healthcheck-probe-binary'));
});

test('berth check --all-profiles includes services of inactive profiles and says when it did not', async () => {
  const sub = mkdtempSync(join(dir, 'profiles-'));
  writeFileSync(join(sub, 'compose.yaml'), 'services:\n  app:\n    image: acme/app:1\n  admin:\n    image: acme/admin:latest\n    profiles: [admin]\n    restart: unless-stopped\n');
  const plain = await runBerth(['check', '--format', 'json', '--rule', 'image-tag'], { cwd: sub });
  assert.deepEqual(JSON.parse(plain.stdout).findings, []);
  assert.match(plain.stderr, /not checked \(inactive profiles\): admin; use --all-profiles/);
  const all = await runBerth(['check', '--format', 'json', '--rule', 'image-tag', '--all-profiles'], { cwd: sub });
  assert.deepEqual(JSON.parse(all.stdout).findings.map((f: { rule: string; line: number }) => `${f.rule}@${f.line}`), ['image-tag@5']);
});
