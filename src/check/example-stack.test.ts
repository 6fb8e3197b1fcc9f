import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { runBerth } from '../testing/cli.js';

const compose = fileURLToPath(new URL('../../examples/production/compose.yaml', import.meta.url));

test('the example production stack lints clean at warning level, every profile included', async () => {
  const result = await runBerth(['-f', compose, 'check', '--all-profiles', '--severity', 'warning', '--format', 'json']);
  assert.equal(result.code, 0, result.stdout);
  const report = JSON.parse(result.stdout) as { findings: Array<{ severity: string; rule: string }> };
  assert.deepEqual(report.findings.filter((f) => f.severity !== 'info'), []);
});
