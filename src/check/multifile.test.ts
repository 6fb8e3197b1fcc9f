/** Findings and fixes across -f files: located in the file that set the value, fixed there too. */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadProject } from '../compose/load.js';
import { checkCompose } from './check.js';
import { lintProject } from './run.js';

test('override files: findings point into the file that set the value; --fix edits that file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-check-multi-'));
  try {
    writeFileSync(join(dir, 'compose.yaml'), 'services:\n  app:\n    image: acme/app:1\n    restart: always\n');
    writeFileSync(join(dir, 'compose.override.yaml'), '# local overrides\nservices:\n  app:\n    ports:\n      - "8080:3000"\n    restart: always # again\n');
    const load = () => loadProject({ cwd: dir, env: { PATH: process.env.PATH ?? '' } });
    const project = await load();
    const { findings } = lintProject(project);
    const where = (rule: string) => findings.filter((f) => f.rule === rule).map((f) => `${f.location!.file.slice(dir.length + 1)}:${f.location!.line}:${f.location!.column}`);
    assert.deepEqual(where('restart-policy'), ['compose.override.yaml:6:5']);
    assert.deepEqual(where('fixed-host-port'), ['compose.override.yaml:5:9']);
    assert.deepEqual(where('image-digest'), ['compose.yaml:3:5']);
    const result = await checkCompose(project, { format: 'json', severity: 'error', only: ['restart-policy'], fix: true, cwd: dir, reload: load });
    assert.deepEqual(result.result.findings, []);
    assert.equal(readFileSync(join(dir, 'compose.override.yaml'), 'utf8'), '# local overrides\nservices:\n  app:\n    ports:\n      - "8080:3000"\n    restart: unless-stopped # again\n');
    assert.equal(readFileSync(join(dir, 'compose.yaml'), 'utf8'), 'services:\n  app:\n    image: acme/app:1\n    restart: always\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
