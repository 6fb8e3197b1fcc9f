/**
 * Issue 17 item 6: berth status does not say "all is well" when it is not: more replicas than
 * desired, containers running another image than the compose file declares (after a rollback),
 * and a project that runs under another name than the one berth looked for.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runBerth } from '../testing/cli.js';
import { execFileAsync, integrationEngine, removeComposeProject, testName, testScope, TEST_LABEL } from '../testing/engine.js';
import type { StatusReport } from './report.js';

const { engine, skip } = await integrationEngine();
const project = testName('truth');
const scope = testScope('truth');
const dir = mkdtempSync(join(tmpdir(), 'berth-truth-'));
const otherImage = `berthtest-truth:${scope}`.toLowerCase();
writeFileSync(join(dir, 'compose.yaml'), `services:
  web:
    image: \${WEB_IMAGE:-local/busybox:latest}
    command: ["sleep", "600"]
    init: true
    labels: { berth.test: "${scope}" }
    deploy: { replicas: 2 }
networks:
  default:
    labels: { berth.test: "${scope}" }
`);
const berth = (args: string[], env: Record<string, string> = {}) => runBerth(['-p', project, ...args], { cwd: dir, env });
const status = async (env: Record<string, string> = {}, args: string[] = []) => {
  const json = await berth([...args, '--json', 'status'], env);
  const text = await berth([...args, 'status'], env);
  return { code: json.code, report: JSON.parse(json.stdout) as StatusReport, text: text.stdout, textCode: text.code };
};

describe('berth status tells the truth (Compose v1, real engine)', { skip }, () => {
  before(async () => {
    const up = await berth(['compose', '--', 'up', '-d']);
    assert.equal(up.code, 0, up.stderr);
  });
  after(async () => {
    await berth(['compose', '--', 'down', '-v', '-t', '0']).catch(() => undefined);
    if (engine) {
      await removeComposeProject(engine, project);
      await engine.docker.getImage(otherImage).remove({ force: true }).catch(() => undefined);
    }
    rmSync(dir, { recursive: true, force: true });
  });

  test('as declared: exit 0', async () => {
    const { code, report, text } = await status();
    assert.equal(code, 0, text);
    assert.equal(report.ok, true);
    assert.match(text, new RegExp(`✓ ${project}: all services at their desired replicas and healthy, on the declared images`));
  });

  test('more replicas than desired: exit 1, the extra ones named as such', async () => {
    const scaled = await berth(['compose', '--', 'up', '-d', '--scale', 'web=3', '--no-recreate']);
    assert.equal(scaled.code, 0, scaled.stderr);
    try {
      const { code, report, text } = await status();
      assert.equal(code, 1, text);
      assert.deepEqual(report.services[0]!.problems, ['3 replicas running, 2 desired (1 extra)']);
      assert.match(text, /3\/2/);
      assert.match(text, /✗ .*web: 3 replicas running, 2 desired \(1 extra\)/);
    } finally {
      await berth(['compose', '--', 'up', '-d', '--scale', 'web=2', '--no-recreate']);
    }
  });

  test('running another image than the compose file declares: exit 1, both images named', async () => {
    await execFileAsync('sh', ['-c', `printf 'FROM local/busybox:latest\\nLABEL ${TEST_LABEL}=${scope}\\n' | DOCKER_BUILDKIT=0 docker build -q -t ${otherImage} -`]);
    const { code, report, text } = await status({ WEB_IMAGE: otherImage });
    assert.equal(code, 1, text);
    assert.match(report.services[0]!.problems.join('\n'), new RegExp(`every replica runs local/busybox:latest \\([0-9a-f]{12}\\), the compose file declares ${otherImage} \\([0-9a-f]{12}\\)`));
    assert.ok(report.services[0]!.containers.every((c) => c.drift));
    // A declared image that is not on the engine at all.
    const missing = await status({ WEB_IMAGE: 'local/busybox:nosuchtag' });
    assert.equal(missing.code, 1);
    assert.match(missing.report.services[0]!.problems.join('\n'), /declares local\/busybox:nosuchtag \(not on this engine\)/);
  });

  test('the project under another name: names the project looked for and the one this directory runs as', async () => {
    const other = `${project}x`;
    const result = await runBerth(['-p', other, 'status'], { cwd: dir });
    assert.equal(result.code, 1);
    assert.match(result.stdout, new RegExp(`✗ no container of project "${other}" on this engine`));
    assert.match(result.stdout, new RegExp(`this directory runs as project "${project}": berth -p ${project} status`));
    const json = JSON.parse((await runBerth(['-p', other, '--json', 'status'], { cwd: dir })).stdout) as StatusReport;
    assert.deepEqual(json.notFound && { project: json.notFound.project, runningAs: json.notFound.runningAs }, { project: other, runningAs: project });
  });
});
