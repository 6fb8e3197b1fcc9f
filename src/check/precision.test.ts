/**
 * The precision set: every finding of `berth check` on the realistic stacks (test/stacks) and the
 * corpus (test/corpus) is recorded beside the stack with its review verdict (ok, or wrong: why).
 * A finding that appears or disappears fails the test until it is reviewed; the share of wrong
 * findings stays under 1% and docs/check-precision.md states the numbers this test computes.
 * BERTH_UPDATE_EXPECTED=1 rewrites the lists, keeping verdicts and marking new findings
 * "unreviewed" (which fails until someone reviews them).
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { findingKey, lintStackDir, listStacks, readReviews, REPO, type Review } from './testing/stacks.js';

const stacks = listStacks();
const totals = { stacks: 0, findings: 0, wrong: 0 };
const byRule = new Map<string, { findings: number; wrong: number }>();

test('the precision set has at least 30 realistic stacks', () => {
  assert.ok(stacks.length >= 30, `${stacks.length} stacks`);
});

for (const stack of stacks) {
  test(`precision ${stack.name}: every finding is reviewed`, async () => {
    const findings = await lintStackDir(stack);
    const keys = findings.map((f) => findingKey(stack, f));
    const reviews = readReviews(stack);
    if (process.env.BERTH_UPDATE_EXPECTED) {
      const known = new Map(reviews.map((r) => [r.key, r]));
      const lines = keys.map((k) => { const r = known.get(k); return `${k} | ${r ? (r.verdict === 'ok' ? `ok${r.note ? `: ${r.note}` : ''}` : `wrong: ${r.note}`) : 'unreviewed'}`; });
      mkdirSync(dirname(stack.expectedFile), { recursive: true });
      writeFileSync(stack.expectedFile, `# berth check findings on ${stack.name}, each reviewed: "ok" (right) or "wrong: why" (a false alarm).\n# Key: rule file:line service. Regenerate with BERTH_UPDATE_EXPECTED=1 (keeps verdicts).\n${lines.join('\n')}\n`);
    }
    const current = readReviews(stack);
    assert.deepEqual(keys, current.map((r) => r.key), `${stack.name}: the findings changed; review them (BERTH_UPDATE_EXPECTED=1 marks the new ones unreviewed)`);
    const unreviewed = readFileSync(stack.expectedFile, 'utf8').split('\n').filter((l) => / \| unreviewed$/.test(l));
    assert.deepEqual(unreviewed, [], 'unreviewed findings');
    count(current);
  });
}

function count(reviews: Review[]): void {
  totals.stacks++;
  for (const r of reviews) {
    totals.findings++;
    if (r.verdict === 'wrong') totals.wrong++;
    const rule = r.key.split(' ')[0]!;
    const e = byRule.get(rule) ?? { findings: 0, wrong: 0 };
    e.findings++;
    if (r.verdict === 'wrong') e.wrong++;
    byRule.set(rule, e);
  }
}

test('under 1% of the findings are wrong, and docs/check-precision.md says so with these numbers', () => {
  assert.equal(totals.stacks, stacks.length, 'every stack was counted');
  const share = totals.wrong / totals.findings;
  process.stderr.write(`precision: ${totals.stacks} stacks, ${totals.findings} findings, ${totals.wrong} wrong (${(share * 100).toFixed(2)}%)\n`);
  assert.ok(share < 0.01, `${totals.wrong} of ${totals.findings} wrong`);
  const report = readFileSync(join(REPO, 'docs/check-precision.md'), 'utf8');
  assert.match(report, new RegExp(`\\b${totals.stacks} stacks\\b`), 'the report states the stack count');
  assert.match(report, new RegExp(`\\b${totals.findings} findings\\b`), 'the report states the finding count');
  assert.match(report, new RegExp(`\\b${totals.wrong} (were )?wrong\\b`), 'the report states the wrong count');
  assert.match(report, new RegExp(`${(share * 100).toFixed(2)}%`), 'the report states the share');
});
