import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { sha256File } from './artifact.js';
import { postgresGlobalsToRun } from './restore.js';
import { tempDir } from './testkit.js';

// pg_dumpall --globals-only of a cluster whose only role is the superuser "app" (postgres 15).
const SUPERUSER_ONLY = `--
-- PostgreSQL database cluster dump
--

SET default_transaction_read_only = off;

SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;

--
-- Roles
--

CREATE ROLE app;
ALTER ROLE app WITH SUPERUSER INHERIT CREATEROLE CREATEDB LOGIN REPLICATION BYPASSRLS PASSWORD 'SCRAM-SHA-256$4096:x';

--
-- PostgreSQL database cluster dump complete
--
`;

test('globals.sql: roles that exist are left out; with nothing else left no psql runs', () => {
  const plan = postgresGlobalsToRun(SUPERUSER_ONLY, new Set(['app']));
  assert.deepEqual(plan.skipped, ['app']);
  assert.equal(plan.nothingToRun, true);
  assert.equal(plan.kept.some((l) => /ROLE/.test(l) && !l.startsWith('--')), false);
});

test('globals.sql: a missing role, a membership or a tablespace still runs', () => {
  assert.equal(postgresGlobalsToRun(SUPERUSER_ONLY, new Set()).nothingToRun, false, 'the role is missing');
  const withReporting = `${SUPERUSER_ONLY}CREATE ROLE reporting;\nALTER ROLE reporting WITH NOLOGIN;\n`;
  const plan = postgresGlobalsToRun(withReporting, new Set(['app']));
  assert.equal(plan.nothingToRun, false);
  assert.ok(plan.kept.includes('CREATE ROLE reporting;'));
  assert.equal(postgresGlobalsToRun(`${SUPERUSER_ONLY}GRANT pg_read_all_data TO app GRANTED BY app;\n`, new Set(['app'])).nothingToRun, false);
  assert.equal(postgresGlobalsToRun(`${SUPERUSER_ONLY}CREATE TABLESPACE ts OWNER app LOCATION '/ts';\n`, new Set(['app'])).nothingToRun, false);
  assert.equal(postgresGlobalsToRun(`${SUPERUSER_ONLY}SET x = 'a'; DROP ROLE app;\n`, new Set(['app'])).nothingToRun, false, 'a SET line that does more');
});

test('sha256File: the same digest and size as one hash over the whole content, across its 4 MiB reads', async () => {
  const content = randomBytes((9 << 20) + 123);
  const path = join(tempDir('sha'), 'f');
  writeFileSync(path, content);
  assert.deepEqual(await sha256File(path), { sha256: createHash('sha256').update(content).digest('hex'), sizeBytes: content.length });
});
