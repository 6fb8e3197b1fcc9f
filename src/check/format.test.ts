import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkCompose, exitCodeFor } from './check.js';
import { parseCheckConfig, parseInlineDirectives, isDisabledInline, globMatch } from './config.js';
import { github, junit, sarif, stylish, jsonReport } from './format.js';
import { lintProject } from './run.js';
import { projectFromYaml } from './testing/project.js';
import { at, lintYaml, unwrapStylish } from './testing/lint.js';

const yaml = `services:
  db:
    image: postgres:17
    environment:
      POSTGRES_PASSWORD: "hunter2, with: comma"
    ports: ["5432:5432"]
`;
const findings = () => lintYaml(yaml);

test('sarif 2.1.0: rules with help, results with region, fixes as replacements', async () => {
  const project = projectFromYaml(yaml, '/w/compose.yaml');
  const { output } = await checkCompose(project, { format: 'sarif', severity: 'error', cwd: '/w', read: (p) => (p === '/w/compose.yaml' ? yaml : undefined) });
  const log = JSON.parse(output);
  assert.equal(log.version, '2.1.0');
  const run = log.runs[0];
  const result = run.results.find((r: { ruleId: string }) => r.ruleId === 'datastore-published-port');
  assert.deepEqual(result.locations[0].physicalLocation, { artifactLocation: { uri: 'compose.yaml', uriBaseId: 'SRCROOT' }, region: { startLine: 6, startColumn: 13 } });
  assert.equal(result.level, 'error');
  assert.equal(run.tool.driver.rules[result.ruleIndex].id, 'datastore-published-port');
  const withFix = run.results.find((r: { ruleId: string }) => r.ruleId === 'restart-policy');
  const change = withFix.fixes[0].artifactChanges[0];
  assert.equal(change.artifactLocation.uri, 'compose.yaml');
  assert.deepEqual(change.replacements[0].deletedRegion, { startLine: 7, startColumn: 1, endLine: 7, endColumn: 1 });
  assert.match(change.replacements[0].insertedContent.text, /^ {4}restart: unless-stopped\n/);
  assert.equal(run.results.find((r: { ruleId: string }) => r.ruleId === 'image-digest').level, 'note');
  assert.deepEqual(run.invocations, [{ executionSuccessful: true, toolExecutionNotifications: [] }]);
});

test('github annotations escape properties and messages', () => {
  const out = github({ findings: findings(), cwd: '/project' }).split('\n');
  assert.ok(out.includes('::error file=compose.yaml,line=5,col=7,title=berth plaintext-secret::service "db": POSTGRES_PASSWORD holds a secret in plain text'));
  assert.ok(out.some((l) => l.startsWith('::notice file=compose.yaml,line=3,col=5,title=berth image-digest::')));
  assert.equal(github({ findings: [{ rule: 'x', family: 'images', severity: 'warning', message: 'a\nb', location: { file: '/project/a,b:c.yaml', line: 1, column: 1 } }], cwd: '/project' }), '::warning file=a%2Cb%3Ac.yaml,line=1,col=1,title=berth x::a%0Ab');
});

test('junit: one testcase per finding, failures for warning/error, skipped for info; XML escaped', () => {
  const xml = junit({ findings: [...findings(), { rule: 'x', family: 'images', severity: 'error', message: '<&">', location: { file: '/project/compose.yaml', line: 1, column: 1 } }], cwd: '/project' });
  assert.match(xml, /^<\?xml version="1.0" encoding="UTF-8"\?>\n<testsuites name="berth check" tests="\d+" failures="\d+">/);
  assert.ok(xml.includes('message="&lt;&amp;&quot;&gt;"'));
  assert.ok(xml.includes('<testcase name="datastore-published-port compose.yaml:6:13" classname="berth.check.networks">'));
  assert.ok(xml.includes('<skipped message="service &quot;db&quot;: image postgres:17 is not pinned by digest"/>'));
  assert.equal((xml.match(/<testcase /g) ?? []).length, findings().length + 1);
});

test('stylish groups by file with line:col, severity, message, rule and a summary', () => {
  const wrapped = stylish({ findings: findings(), cwd: '/project' });
  // Issue 17: stylish output fits 100 columns; long messages wrap under themselves.
  for (const line of wrapped.split('\n')) assert.ok(line.length <= 100, `${line.length} columns: ${line}`);
  const text = unwrapStylish(wrapped);
  const lines = text.split('\n');
  assert.equal(lines[0], 'compose.yaml');
  assert.ok(lines.some((l) => /^ {2}6:13 +error +datastore "db" publishes port 5432->5432 on all interfaces +datastore-published-port$/.test(l)), text);
  assert.match(lines[lines.length - 1]!, /^✗ \d+ findings \(2 errors, \d+ warnings, \d+ info\); \d+ fixable with --fix$/);
  assert.equal(stylish({ findings: [], cwd: '/' }), '✓ no findings');
});

test('json report: relative file, line, column, docs link, summary', () => {
  const report = jsonReport({ findings: findings(), cwd: '/project', rulesRun: 55 });
  const f = report.findings.find((x) => x.rule === 'plaintext-secret')!;
  assert.deepEqual({ file: f.file, line: f.line, column: f.column, docs: f.docs, service: f.service }, { file: 'compose.yaml', line: 5, column: 7, docs: 'docs/rules/README.md#plaintext-secret', service: 'db' });
  assert.equal(report.summary.error, 2);
});

test('--severity threshold sets the exit code', () => {
  const warnOnly = findings().filter((f) => f.severity !== 'error');
  assert.equal(exitCodeFor(findings(), 'error'), 1);
  assert.equal(exitCodeFor(warnOnly, 'error'), 0);
  assert.equal(exitCodeFor(warnOnly, 'warning'), 1);
  assert.equal(exitCodeFor([], 'info'), 0);
});

test('config: levels and ignores (by service, by file glob) apply', () => {
  const config = parseCheckConfig('rules:\n  image-digest: off\n  plaintext-secret: warning\nignore:\n  - datastore-published-port@db\n  - rule: memory-limit\n    files: ["**/compose.yaml"]\n', 'cfg');
  const out = lintYaml(yaml, {}, config);
  assert.deepEqual(at(out, 'image-digest'), []);
  assert.equal(out.find((f) => f.rule === 'plaintext-secret')!.severity, 'warning');
  assert.deepEqual(at(out, 'datastore-published-port'), []);
  assert.deepEqual(at(out, 'memory-limit'), []);
  assert.ok(at(out, 'cpu-limit').length === 1);
  assert.throws(() => parseCheckConfig('rules:\n  x: loud\n', 'cfg'), /level must be off, info, warning or error/);
  assert.ok(globMatch('**/compose.yaml', '/a/b/compose.yaml'));
  assert.ok(!globMatch('*.yml', '/a/compose.yaml'));
});

test('x-berth check.rules sets levels from the compose file itself', () => {
  const project = projectFromYaml(`x-berth:\n  check:\n    rules:\n      image-digest: off\n${yaml}`, '/w/compose.yaml');
  const cfg = { rules: project.berth.check.rules, ignore: [] };
  assert.deepEqual(lintProject(project, { config: cfg, read: () => '' }).findings.filter((f) => f.rule === 'image-digest'), []);
});

test('inline directives: next-line (skipping comments) and file-level', () => {
  const text = `services:
  # berth-disable-next-line init, memory-limit
  # (reason: tini in the image)
  app:
    image: acme/app:1
  other:
    image: acme/app:1
`;
  const out = lintYaml(text);
  assert.deepEqual(at(out, 'init'), ['init@6']);
  assert.deepEqual(at(out, 'memory-limit'), ['memory-limit@6']);
  assert.deepEqual(at(out, 'cpu-limit'), ['cpu-limit@4', 'cpu-limit@6']);
  const fileLevel = lintYaml(`# berth-disable cpu-limit\n${text}`);
  assert.deepEqual(at(fileLevel, 'cpu-limit'), []);
  const all = parseInlineDirectives('x: 1 # berth-disable\n');
  assert.ok(isDisabledInline(all, 'anything', 99));
  // Dockerfile directives work the same way.
  const df = lintYaml('services:\n  app:\n    build: .\n', { Dockerfile: 'FROM node:22-slim\n# berth-disable-next-line df-exec-form\nCMD node s.js\n' });
  assert.deepEqual(at(df, 'df-exec-form'), []);
  assert.deepEqual(at(df, 'df-npm-start'), []);
});

test('docs/rules/README.md is the generated rules reference (no drift)', async () => {
  const { readFileSync } = await import('node:fs');
  const { rulesMarkdown } = await import('./docs.js');
  assert.equal(readFileSync(new URL('../../docs/rules/README.md', import.meta.url), 'utf8'), `${rulesMarkdown()}\n`);
});

test('json and sarif carry what could not be checked', async () => {
  const project = projectFromYaml('services:\n  app:\n    build: ./missing\n', '/w/compose.yaml');
  const read = (p: string) => (p === '/w/compose.yaml' ? 'services:\n  app:\n    build: ./missing\n' : undefined);
  const json = JSON.parse((await checkCompose(project, { format: 'json', severity: 'error', cwd: '/w', read })).output);
  assert.deepEqual(json.notes, ['service "app": cannot read /w/missing/Dockerfile, Dockerfile rules skipped']);
  const log = JSON.parse((await checkCompose(project, { format: 'sarif', severity: 'error', cwd: '/w', read })).output);
  assert.equal(log.runs[0].invocations[0].toolExecutionNotifications[0].message.text, json.notes[0]);
});
