/** Issue 17 item 16: polish that keeps the output honest and consistent. */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { rulesMarkdown } from '../check/docs.js';
import { sarif } from '../check/format.js';
import type { ComposeProject, ServiceModel } from '../compose/types.js';
import { planDeploy } from '../rollout/deploy.js';
import { REPO_ROOT, runBerth } from '../testing/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'berth-polish-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('SARIF: informationUri and helpUri are absolute URIs', () => {
  const report = sarif({ findings: [{ rule: 'init', family: 'lifecycle', severity: 'warning', message: 'm' }], cwd: '/p' });
  const driver = report.runs[0]!.tool.driver;
  assert.match(new URL(driver.informationUri).protocol, /^(file|https?):$/);
  assert.match(new URL(driver.rules[0]!.helpUri).hash, /^#init$/);
});

test('the deploy plan\'s hints name the service', () => {
  const project = { name: 'shop', services: { db: { name: 'db', image: 'postgres:16', hasBuild: false, ports: [], networks: {}, dependsOn: {}, berth: { rollout: {} } } as unknown as ServiceModel }, berth: { deploy: { preHooks: [], postHooks: [] } }, inactiveServices: [] } as unknown as ComposeProject;
  assert.match(planDeploy(project, []).skipped[0]!.reason, /berth rollout db --stateful/);
});

test('check rules --markdown names the real file, and docs/rules/README.md is what it generates', () => {
  const markdown = rulesMarkdown();
  assert.match(markdown, /docs\/rules\/README\.md#ID/);
  assert.doesNotMatch(markdown, /docs\/rules\.md/);
  assert.equal(readFileSync(join(REPO_ROOT, 'docs/rules/README.md'), 'utf8').trim(), markdown.trim());
});

test('one set of marks: ✓ ✗ ! ? • only (no ✔ ✖ ✘ ⚠) in what berth prints', () => {
  const files: string[] = [];
  const walk = (d: string) => { for (const name of readdirSync(d)) { const p = join(d, name); if (statSync(p).isDirectory()) walk(p); else if (p.endsWith('.ts') && !p.includes('.test.')) files.push(p); } };
  walk(join(REPO_ROOT, 'src'));
  const offenders = files.filter((f) => /[✔✖✘⚠]/.test(readFileSync(f, 'utf8')));
  assert.deepEqual(offenders, []);
});

test('the note about fields Compose v1 does not know is said once per project, not on every up', async () => {
  writeFileSync(join(dir, 'compose.yaml'), 'services:\n  app:\n    image: local/busybox:latest\n    healthcheck: { test: ["CMD-SHELL", "true"], interval: 5s, start_interval: 1s }\n');
  const env = { BERTH_STATE_DIR: join(dir, 'state'), BERTH_COMPOSE: 'docker-compose', DOCKER_HOST: 'unix:///nonexistent/polish.sock' };
  const first = await runBerth(['-p', 'berthpolish', 'up', '--dry-run'], { cwd: dir, env });
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stderr, /does not know services\.app\.healthcheck\.start_interval: left out for it/);
  const second = await runBerth(['-p', 'berthpolish', 'up', '--dry-run'], { cwd: dir, env });
  assert.equal(second.code, 0, second.stderr);
  assert.doesNotMatch(second.stderr, /start_interval/);
});
