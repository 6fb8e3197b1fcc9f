import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseDocument } from 'yaml';
import { lintProject } from './run.js';
import { applyEdits, fixedFiles, planFixes, unifiedDiff } from './fix.js';
import { projectFromYaml } from './testing/project.js';

const FILE = '/p/compose.yaml';
const FIXABLE = ['init', 'restart-policy', 'no-new-privileges', 'log-rotation', 'stop-grace-period'];

function fixOnce(text: string, only = FIXABLE) {
  const project = projectFromYaml(text, FILE);
  const read = (p: string) => (p === FILE ? text : undefined);
  const { findings } = lintProject(project, { read, only });
  const plan = planFixes(project, findings, read);
  const after = fixedFiles(plan, read).get(FILE)?.after ?? text;
  return { findings, plan, after, remaining: lintProject(projectFromYaml(after, FILE), { read: () => after, only }).findings };
}

const messy = `# production stack — keep these comments
services:
  app:   # the web app
    image: "ghcr.io/acme/app:1.2.3"
    restart: always   # TODO review
    security_opt:
      - label:disable
    x-berth:
      shutdown_deadline: 25s
    healthcheck:
      test: ["CMD", "node", "hc.js"]
      start_period: 20s
      start_interval: 2s

  # the worker runs jobs
  worker:
    image: ghcr.io/acme/app:1.2.3
    command: ["node", "worker.js"]
    security_opt: [ "apparmor:docker-default" ]
    init: false
`;

test('--fix round trip: comments kept, fixed rules clean, the rest byte-identical, valid YAML', () => {
  const { findings, plan, after, remaining } = fixOnce(messy);
  assert.ok(findings.length >= 8, `expected findings, got ${findings.map((f) => f.rule)}`);
  assert.deepEqual(plan.refused, []);
  assert.deepEqual(remaining.map((f) => `${f.rule}:${f.service}`), []);
  for (const comment of ['# production stack — keep these comments', '# the web app', '# TODO review', '# the worker runs jobs']) assert.ok(after.includes(comment), comment);
  assert.ok(after.includes('image: "ghcr.io/acme/app:1.2.3"'), 'quoting kept');
  assert.ok(after.includes('restart: unless-stopped   # TODO review'));
  assert.ok(after.includes('security_opt: [ "apparmor:docker-default", no-new-privileges:true ]'));
  assert.ok(after.includes('    init: true\n'));
  assert.equal(parseDocument(after).errors.length, 0);
  // Every original line is still there, in order (edits only insert or replace single scalars).
  const kept = messy.split('\n').filter((l) => !/restart: always|init: false|\[ "apparmor/.test(l));
  let cursor = 0;
  const lines = after.split('\n');
  for (const line of kept) { cursor = lines.indexOf(line, cursor); assert.ok(cursor >= 0, `lost line: ${line}`); }
  // Applying the fix again changes nothing.
  assert.equal(fixOnce(after).after, after);
});

test('--fix inserts block values with the file\'s indentation', () => {
  const text = 'services:\n    app:\n        image: acme/app:1\n';
  const { after } = fixOnce(text, ['log-rotation', 'no-new-privileges']);
  assert.equal(after, 'services:\n    app:\n        image: acme/app:1\n        logging:\n            driver: json-file\n            options:\n                max-size: 10m\n                max-file: "5"\n        security_opt:\n            - no-new-privileges:true\n');
  assert.equal(parseDocument(after).errors.length, 0);
});

test('--fix appends to a block list at its own indentation', () => {
  const text = 'services:\n  app:\n    image: acme/app:1\n    security_opt:\n    - label:disable\n    cap_drop: [ALL]\n';
  const { after } = fixOnce(text, ['no-new-privileges']);
  assert.equal(after, 'services:\n  app:\n    image: acme/app:1\n    security_opt:\n    - label:disable\n    - no-new-privileges:true\n    cap_drop: [ALL]\n');
});

test('--fix refuses anchors, aliases, merge keys and ${VAR} values', () => {
  const text = `x-base: &base
  image: acme/app:1
services:
  a:
    <<: *base
  b: &b
    image: acme/app:1
  c:
    image: acme/app:1
    restart: \${RESTART:-always}
`;
  const { plan } = fixOnce(text, ['init', 'restart-policy']);
  const reasons = plan.refused.map((r) => `${r.finding.service}:${r.finding.rule}:${r.reason.split(' ')[0]}`);
  assert.ok(reasons.includes('a:init:uses'), reasons.join());
  assert.ok(reasons.includes('b:init:is'), reasons.join());
  assert.ok(reasons.includes('c:restart-policy:the'), reasons.join());
  assert.ok(plan.refused.some((r) => /merge key/.test(r.reason)));
  assert.ok(plan.refused.some((r) => /anchored/.test(r.reason)));
  assert.ok(plan.refused.some((r) => /interpolation/.test(r.reason)));
  // c's init is still fixable: its map has no anchor or merge key.
  assert.ok(plan.edits.some((e) => e.rule === 'init' && e.text.includes('init: true')));
});

test('--fix refuses flow-style service maps', () => {
  const { plan } = fixOnce('services:\n  app: { image: "acme/app:1" }\n', ['init']);
  assert.match(plan.refused[0]!.reason, /flow style/);
});

test('--fix sets stop_grace_period above the declared shutdown deadline', () => {
  const { after } = fixOnce('services:\n  app:\n    image: acme/app:1\n    stop_grace_period: 10s\n    x-berth:\n      shutdown_deadline: 25s\n', ['stop-grace-period']);
  assert.match(after, /stop_grace_period: 30s\n/);
});

test('applyEdits keeps the planned order of inserts at one offset; unifiedDiff shows them', () => {
  const text = 'a\nb\n';
  const out = applyEdits(text, [{ file: 'f', start: 2, end: 2, text: 'x\n', rule: 'r' }, { file: 'f', start: 2, end: 2, text: 'y\n', rule: 'r' }]);
  assert.equal(out, 'a\nx\ny\nb\n');
  assert.equal(unifiedDiff('f', text, out), '--- a/f\n+++ b/f\n@@ -1,3 +1,5 @@\n a\n+x\n+y\n b\n ');
});

test('--fix completes partial json-file logging options (several edits, one finding)', () => {
  const text = 'services:\n  app:\n    image: acme/app:1\n    logging:\n      options:\n        tag: "{{.Name}}"\n  worker:\n    image: acme/app:1\n    logging:\n      driver: json-file\n';
  const { after, plan } = fixOnce(text, ['log-rotation']);
  assert.equal(plan.byFinding.get(0)!.length, 2);
  assert.equal(after, 'services:\n  app:\n    image: acme/app:1\n    logging:\n      options:\n        tag: "{{.Name}}"\n        max-size: 10m\n        max-file: "5"\n  worker:\n    image: acme/app:1\n    logging:\n      driver: json-file\n      options:\n        max-size: 10m\n        max-file: "5"\n');
});
