import assert from 'node:assert/strict';
import { test } from 'node:test';
import { effective, parseDockerfile, parseKeyValues, shellWords, stageChain, substitute } from './dockerfile.js';
import { dockerfileFacts, baseImageFacts } from './image-facts.js';

test('parser: continuation lines, comments inside them, line numbers, exec vs shell form', () => {
  const d = parseDockerfile(`# syntax=docker/dockerfile:1
FROM node:22-slim AS build
RUN apt-get update \\
    # a comment inside the continuation
    && apt-get install -y curl \\
       wget

CMD ["node", "s.js"]
ENTRYPOINT /entry.sh --flag
`);
  const [from, run, cmd, ep] = d.instructions;
  assert.deepEqual([from!.keyword, from!.line], ['FROM', 2]);
  assert.deepEqual([run!.keyword, run!.line, run!.endLine], ['RUN', 3, 6]);
  assert.equal(run!.args, 'apt-get update     && apt-get install -y curl        wget');
  assert.deepEqual(cmd!.exec, ['node', 's.js']);
  assert.equal(cmd!.line, 8);
  assert.equal(ep!.exec, undefined);
  assert.equal(ep!.rest, '/entry.sh --flag');
});

test('parser: escape directive, heredocs, flags, invalid JSON falls back to shell form', () => {
  const d = parseDockerfile('# escape=`\nFROM --platform=$BUILDPLATFORM golang:1.23 AS b\nRUN echo a `\n  b\nRUN <<EOF\nset -e\napk add curl\nEOF\nCMD [node, s.js]\nCOPY --from=b /out /app\n');
  const [from, run1, heredoc, cmd, copy] = d.instructions;
  assert.equal(d.escape, '`');
  assert.deepEqual(from!.flags, { platform: '$BUILDPLATFORM' });
  assert.equal(from!.rest, 'golang:1.23 AS b');
  assert.equal(run1!.args, 'echo a   b');
  assert.deepEqual(heredoc!.heredocs, ['set -e\napk add curl']);
  assert.equal(cmd!.exec, undefined);
  assert.equal(cmd!.line, 9);
  assert.deepEqual(copy!.flags, { from: 'b' });
});

test('stages: names, parents, global ARGs, effective instructions through the chain', () => {
  const d = parseDockerfile('ARG BASE=node:22-alpine\nFROM ${BASE} AS base\nUSER node\nFROM base AS app\nCMD ["node", "a.js"]\nFROM alpine:3.20\n');
  assert.deepEqual(d.globalArgs, { BASE: 'node:22-alpine' });
  assert.deepEqual(d.stages.map((s) => [s.name, s.parent]), [['base', undefined], ['app', 0], [undefined, undefined]]);
  assert.deepEqual(stageChain(d, 1).map((s) => s.index), [1, 0]);
  assert.equal(effective(d, 1, 'USER')!.rest, 'node');
  assert.equal(effective(d, 2, 'USER'), undefined);
  assert.equal(substitute(d.stages[0]!.image, d.globalArgs), 'node:22-alpine');
});

test('ARG/ENV key-values: quotes, no value, legacy ENV form', () => {
  assert.deepEqual(parseKeyValues('A=1 B="two words" C', 'ARG'), { A: '1', B: 'two words', C: undefined });
  assert.deepEqual(parseKeyValues('PATH /usr/local/bin:$PATH', 'ENV'), { PATH: '/usr/local/bin:$PATH' });
  assert.deepEqual(shellWords(`sh -c "exec node 'a b'"`), ['sh', '-c', "exec node 'a b'"]);
});

test('image facts: probe binaries from base image family and install lines; tini; USER', () => {
  assert.deepEqual(baseImageFacts('node:22-alpine'), { curl: false, wget: true });
  assert.deepEqual(baseImageFacts('python:3.12-slim'), { curl: false, wget: false });
  assert.deepEqual(baseImageFacts('node:22'), { curl: true, wget: true });
  assert.deepEqual(baseImageFacts('gcr.io/distroless/nodejs22'), { curl: false, wget: false });
  assert.deepEqual(baseImageFacts('grafana/grafana:11.4.0'), {});
  const d = parseDockerfile('FROM node:22-slim AS build\nRUN apt-get install -y curl\nFROM node:22-slim\nRUN apt-get update && apt-get install -y --no-install-recommends tini wget\nUSER node\nENTRYPOINT ["/usr/bin/tini", "--"]\n');
  const facts = dockerfileFacts(d, 1);
  assert.equal(facts.curl, false, 'curl was installed in another stage only');
  assert.equal(facts.wget, true);
  assert.equal(facts.init, true);
  assert.equal(facts.nonRootUser, true);
});
