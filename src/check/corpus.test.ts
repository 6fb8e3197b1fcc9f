/**
 * The corpus (test/corpus/*.yaml: 20+ realistic stacks) through the real loader: every file lints
 * without a crash and with located findings; --fix on a copy keeps every comment, validates against
 * the schema again (loadProject validates) and leaves the fixed rules clean.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadProject } from '../compose/load.js';
import { checkCompose } from './check.js';
import { lintProject } from './run.js';

const corpus = fileURLToPath(new URL('../../test/corpus/', import.meta.url));
const files = readdirSync(corpus).filter((f) => f.endsWith('.yaml')).sort();
const env = { PATH: process.env.PATH ?? '', POSTGRES_PASSWORD: 'from-env' };
const FIXABLE = ['init', 'restart-policy', 'no-new-privileges', 'log-rotation', 'stop-grace-period'];
const work = mkdtempSync(join(tmpdir(), 'berth-corpus-'));
after(() => rmSync(work, { recursive: true, force: true }));

test('the corpus has at least 20 realistic compose files', () => {
  assert.ok(files.length >= 20, `${files.length} files`);
});

for (const file of files) {
  test(`corpus ${file}: lints through loadProject, every finding located in the file`, async () => {
    const project = await loadProject({ files: [join(corpus, file)], env, cwd: corpus });
    const { findings } = lintProject(project);
    for (const f of findings) {
      assert.ok(f.location, `${f.rule} has no location`);
      // In the compose file, or (a secret from an env_file) in that env file.
      assert.ok(f.location.file === join(corpus, file) || (f.rule === 'plaintext-secret' && f.location.file.endsWith('.env')), `${f.rule} at ${f.location.file}`);
      assert.ok(f.location.line >= 1 && f.location.column >= 1);
    }
    if (file === 'production-hardened.yaml') assert.deepEqual(findings.filter((f) => f.severity !== 'info').map((f) => f.rule), []);
    else assert.ok(findings.some((f) => f.severity !== 'info'), 'a real-world file with no warning at all is suspicious');
  });

  test(`corpus ${file}: --fix round trip keeps comments, validates, fixes what it planned`, async () => {
    const dir = mkdtempSync(join(work, 'c-'));
    cpSync(corpus, dir, { recursive: true });
    const path = join(dir, file);
    const before = readFileSync(path, 'utf8');
    const load = () => loadProject({ files: [path], env, cwd: dir });
    const result = await checkCompose(await load(), { format: 'json', severity: 'error', only: FIXABLE, fix: true, cwd: dir, reload: load, write: (f, t) => writeFileSync(f, t) });
    const afterText = readFileSync(path, 'utf8');
    const comments = (t: string) => t.split('\n').map((l) => /(^|\s)#.*$/.exec(l)?.[0].trim()).filter(Boolean);
    assert.deepEqual(comments(afterText), comments(before));
    const refused = new Set(result.plan!.refused.map((r) => `${r.finding.rule}:${r.finding.service}`));
    const left = result.result.findings.filter((f) => !refused.has(`${f.rule}:${f.service}`));
    assert.deepEqual(left.map((f) => `${f.rule}:${f.service}@${f.location?.line}`), []);
    // Changed text is only insertions and single-scalar replacements: the old lines survive in order.
    if (result.plan!.edits.every((e) => e.start === e.end)) {
      const lines = afterText.split('\n');
      let cursor = 0;
      for (const line of before.split('\n')) { cursor = lines.indexOf(line, cursor); assert.ok(cursor >= 0, `lost: ${line}`); }
    }
    await load(); // still a valid project
  });
}

test('x-berth check.rules in the compose file sets levels through the real loader', async () => {
  const project = await loadProject({ files: [join(corpus, 'production-hardened.yaml')], env, cwd: corpus });
  assert.equal(project.berth.check.rules['image-digest'], 'off');
  const { result } = await checkCompose(project, { format: 'json', severity: 'info', cwd: corpus });
  assert.deepEqual(result.findings.filter((f) => f.rule === 'image-digest'), []);
  assert.ok(lintProject(project).findings.some((f) => f.rule === 'image-digest'), 'without the config the rule fires');
});
