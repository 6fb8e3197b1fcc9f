/**
 * The disaster drill: the day a backup exists for. A real stack (Postgres with a role and grants,
 * MariaDB with a user and grants, a volume with varied owners, modes and a symlink) backs up to a
 * real SFTP server, encrypted with age. Then everything on the server is destroyed (compose down -v,
 * the state directory, the local backup directory). On a "new server" (another host name, an empty
 * state directory) with only the compose project and the age identity: berth up, berth backup
 * list (from SFTP), berth backup restore of each target; the content fingerprints before and
 * after must be equal.
 */
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { integrationEngine, removeLabelled, RUN_ID } from '../testing/engine.js';
import { generateIdentity } from './age.js';
import { execInContainer } from './exec.js';
import { runBerth, startSftpServer, tempDir, SCOPE } from './testkit.js';

const { engine, skip } = await integrationEngine();

after(async () => {
  if (engine) await removeLabelled(engine, SCOPE);
});

const berth = runBerth;

async function sh(containerId: string, script: string): Promise<string> {
  const result = await execInContainer(engine!, containerId, ['sh', '-c', script]);
  if (result.exitCode !== 0) throw new Error(`${script.slice(0, 80)}: exit ${result.exitCode}: ${result.stderr}`);
  return result.stdout;
}

/** Every table's row count and content checksum, roles, grants, sequences, owners. */
const PG_FINGERPRINT = `
SELECT 'table ' || format('%I.%I', schemaname, tablename) || ' owner=' || tableowner || ' ' ||
  (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) || '':'' || coalesce(md5(string_agg(t::text, '','' ORDER BY t::text)), ''-'') AS c FROM %I.%I t', schemaname, tablename), false, true, '')))[1]::text
  FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')
UNION ALL SELECT 'role ' || rolname || ' login=' || rolcanlogin || ' super=' || rolsuper || ' createdb=' || rolcreatedb FROM pg_roles WHERE rolname NOT LIKE 'pg\\_%'
UNION ALL SELECT 'member ' || r.rolname || ' in ' || g.rolname FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member JOIN pg_roles g ON g.oid = m.roleid WHERE g.rolname NOT LIKE 'pg\\_%'
UNION ALL SELECT 'grant ' || grantee || ' ' || privilege_type || ' on ' || table_schema || '.' || table_name FROM information_schema.role_table_grants WHERE table_schema NOT IN ('pg_catalog', 'information_schema')
UNION ALL SELECT 'schema ' || nspname || ' owner=' || pg_get_userbyid(nspowner) || ' acl=' || coalesce(nspacl::text, '-') FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'
UNION ALL SELECT 'sequence ' || schemaname || '.' || sequencename || ' last=' || coalesce(last_value::text, 'null') FROM pg_sequences
UNION ALL SELECT 'database ' || datname || ' owner=' || pg_get_userbyid(datdba) || ' encoding=' || pg_encoding_to_char(encoding) FROM pg_database WHERE datname = current_database()
ORDER BY 1`;

const MARIA_FINGERPRINT = `
SELECT CONCAT('table ', table_name, ' ', engine) FROM information_schema.tables WHERE table_schema = 'shop' ORDER BY table_name;
CHECKSUM TABLE shop.orders, shop.customers EXTENDED;
SELECT CONCAT('count ', (SELECT COUNT(*) FROM shop.orders), ' ', (SELECT COUNT(*) FROM shop.customers), ' auto_increment ', (SELECT AUTO_INCREMENT FROM information_schema.tables WHERE table_schema = 'shop' AND table_name = 'orders'));
SELECT CONCAT('user ', user, '@', host) FROM mysql.user WHERE user IN ('reader', 'writer') ORDER BY 1;
SHOW GRANTS FOR 'reader'@'%';
SHOW GRANTS FOR 'writer'@'localhost';`;

/** Files with type, owner, mode, size, checksum and link target. */
const FILES_FINGERPRINT = `cd /data && find . -printf '%p %y %U:%G %m %s %l\\n' | sort && find . -type f -exec sha256sum {} + | sort`;

async function fingerprints(project: string): Promise<{ postgres: string; mariadb: string; files: string }> {
  const id = async (service: string) => {
    const [c] = await engine!.docker.listContainers({ filters: { label: [`com.docker.compose.project=${project}`, `com.docker.compose.service=${service}`] } });
    assert.ok(c, `a running ${service} container`);
    return c.Id;
  };
  return {
    postgres: await sh(await id('db'), `psql -U app -d app -v ON_ERROR_STOP=1 -Atc "${PG_FINGERPRINT.replace(/"/g, '\\"').replace(/\n/g, ' ')}"`),
    mariadb: await sh(await id('maria'), `mariadb -u root -N -B -e "${MARIA_FINGERPRINT.replace(/\n/g, ' ')}"`),
    files: await sh(await id('app'), FILES_FINGERPRINT),
  };
}

test('disaster drill: everything destroyed, restored on a new server from SFTP with only the compose project and the age identity', { skip, timeout: 600_000 }, async () => {
  const project = `berthtest_drill_${RUN_ID}`.toLowerCase().replace(/[^a-z0-9_]/g, '');
  const dir = tempDir('drill-project');
  // The backup server: it survives the disaster.
  const { server, port } = await startSftpServer(engine!, project, join(dir, 'sftp.key'));
  const identity = generateIdentity();
  writeFileSync(join(dir, 'backup.agekey'), `# created by the drill\n${identity.identity}\n`, { mode: 0o600 });
  const label = `{ berth.test: "${SCOPE}" }`;
  writeFileSync(join(dir, 'compose.yaml'), `
name: ${project}
services:
  db:
    image: local/postgres:latest
    environment: { POSTGRES_USER: app, POSTGRES_DB: app, POSTGRES_PASSWORD: drill-pw }
    volumes: [pgdata:/var/lib/postgresql/data]
    labels: ${label}
    healthcheck:
      test: ["CMD-SHELL", "psql -U app -d app -Atc 'SHOW listen_addresses' | grep -q '[*]'"]
      interval: 1s
      retries: 60
    x-berth:
      backup: { type: postgres }
  maria:
    image: local/mariadb:latest
    volumes: [mariadata:/var/lib/mysql]
    labels: ${label}
    healthcheck:
      test: ["CMD", "mariadb", "-u", "root", "-e", "SELECT 1"]
      interval: 1s
      retries: 60
    x-berth:
      backup: { type: mysql, database: shop }
  app:
    image: local/debian:bookworm
    command: ["sleep", "infinity"]
    init: true
    volumes: [files:/data]
    labels: ${label}
    depends_on: [db, maria]
    x-berth:
      backup: { type: volume, volumes: [files], stop_containers: true }
volumes:
  pgdata: { labels: ${label} }
  mariadata: { labels: ${label} }
  files: { labels: ${label} }
x-berth:
  backup:
    default_destination: offsite
    destinations:
      offsite: { type: sftp, host: 127.0.0.1, port: ${port}, user: root, path: /srv/backups, identity_file: ./sftp.key }
    retention: { keep_last: 3 }
    encryption:
      age_recipients: [${identity.recipient}]
      age_identity_file: ./backup.agekey
`);
  const oldServer = { BERTH_STATE_DIR: tempDir('drill-old-state'), BERTH_BACKUP_DIR: tempDir('drill-old-local'), BERTH_HOSTNAME: 'old-server' };
  const newServer = { BERTH_STATE_DIR: tempDir('drill-new-state'), BERTH_BACKUP_DIR: tempDir('drill-new-local'), BERTH_HOSTNAME: 'new-server' };
  try {
    const up = await berth(dir, oldServer, 'up', '--no-build');
    assert.equal(up.code, 0, up.stderr);
    const ids = async (service: string) => (await engine!.docker.listContainers({ filters: { label: [`com.docker.compose.project=${project}`, `com.docker.compose.service=${service}`] } }))[0]!.Id;
    await sh(await ids('db'), `psql -U app -d app -v ON_ERROR_STOP=1 -q <<'SQL'
CREATE ROLE reporting NOLOGIN;
CREATE ROLE auditor LOGIN PASSWORD 'audit-pw' IN ROLE reporting;
CREATE SCHEMA app;
CREATE TABLE app.customers (id bigserial PRIMARY KEY, name text NOT NULL, email text UNIQUE);
CREATE TABLE app.orders (id serial PRIMARY KEY, customer_id bigint REFERENCES app.customers, total numeric(12,2), placed_at timestamptz, note text);
INSERT INTO app.customers (name, email) SELECT 'customer ' || g, 'c' || g || '@example.com' FROM generate_series(1, 5000) g;
INSERT INTO app.orders (customer_id, total, placed_at, note) SELECT 1 + g % 5000, g * 0.37, '2026-01-01'::timestamptz + g * interval '1 minute', repeat(md5(g::text), 3) FROM generate_series(1, 40000) g;
SELECT setval('app.orders_id_seq', 50000);
CREATE TABLE public.settings (key text PRIMARY KEY, value jsonb);
INSERT INTO public.settings VALUES ('theme', '{"dark": true}');
GRANT USAGE ON SCHEMA app TO reporting;
GRANT SELECT ON ALL TABLES IN SCHEMA app TO reporting;
ALTER TABLE app.orders OWNER TO reporting;
SQL`);
    await sh(await ids('maria'), `mariadb -u root <<'SQL'
CREATE DATABASE shop;
USE shop;
CREATE TABLE shop.customers (id INT PRIMARY KEY AUTO_INCREMENT, name VARCHAR(64)) ENGINE=InnoDB;
CREATE TABLE shop.orders (id INT PRIMARY KEY AUTO_INCREMENT, customer_id INT, amount DECIMAL(10,2), FOREIGN KEY (customer_id) REFERENCES shop.customers (id)) ENGINE=InnoDB;
INSERT INTO shop.customers (name) SELECT CONCAT('customer ', seq) FROM seq_1_to_500;
INSERT INTO shop.orders (customer_id, amount) SELECT 1 + seq % 500, seq * 1.25 FROM seq_1_to_8000;
CREATE USER 'reader'@'%' IDENTIFIED BY 'reader-pw';
GRANT SELECT ON shop.* TO 'reader'@'%';
CREATE USER 'writer'@'localhost' IDENTIFIED BY 'writer-pw';
GRANT SELECT, INSERT, UPDATE ON shop.orders TO 'writer'@'localhost';
SQL`);
    await sh(await ids('app'), [
      'mkdir -p /data/uploads/2026 /data/private /data/empty-dir',
      'head -c 3000000 /dev/urandom > /data/uploads/2026/photo.jpg && chown 1000:1000 /data/uploads/2026/photo.jpg && chmod 0644 /data/uploads/2026/photo.jpg',
      'echo secret > /data/private/key && chown 33:33 /data/private /data/private/key && chmod 0600 /data/private/key && chmod 0750 /data/private',
      'printf "#!/bin/sh\\necho hi\\n" > /data/run.sh && chmod 4755 /data/run.sh',
      'echo "a file with a space" > "/data/with space.txt" && chown 65534:65534 "/data/with space.txt" && chmod 0444 "/data/with space.txt"',
      'ln -s uploads/2026/photo.jpg /data/latest.jpg && ln -s /nonexistent/target /data/dangling',
      'chmod 1777 /data/empty-dir && touch /data/.hidden',
    ].join(' && '));
    const before = await fingerprints(project);
    assert.match(before.postgres, /table app\.orders owner=reporting 40000:/);
    assert.match(before.mariadb, /GRANT SELECT ON `shop`\.\* TO `reader`@`%`/);
    assert.match(before.files, /\.\/latest\.jpg l 0:0 777 \d+ uploads\/2026\/photo\.jpg/);

    const run = await berth(dir, oldServer, 'backup', 'run', '--json');
    assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
    const ran = JSON.parse(run.stdout) as { results: Array<{ target: string; id: string; status: string }> };
    assert.deepEqual(ran.results.map((r) => [r.target, r.status]), [['db', 'verified'], ['maria', 'verified'], ['app', 'verified']]);
    const encrypted = await sh(server.id, `find /srv/backups/${project} -type f | sort`);
    assert.match(encrypted, /app\.pgdump\.age/);
    assert.doesNotMatch(encrypted, /\.pgdump\n|\.sql\n|\.tar\.gz\n/, 'only ciphertext at the destination');

    // The disaster: the stack with its volumes, berth's state and the local backups are gone.
    const down = await berth(dir, oldServer, 'compose', '--', 'down', '-v');
    assert.equal(down.code, 0, down.stderr);
    rmSync(oldServer.BERTH_STATE_DIR, { recursive: true, force: true });
    rmSync(oldServer.BERTH_BACKUP_DIR, { recursive: true, force: true });
    assert.equal((await engine!.docker.listVolumes({ filters: { label: [`com.docker.compose.project=${project}`] } })).Volumes?.length ?? 0, 0);

    // The new server: the compose project (with its keys) and nothing else.
    const upAgain = await berth(dir, newServer, 'up', '--no-build');
    assert.equal(upAgain.code, 0, upAgain.stderr);
    // Other hosts' backups are listed when asked; a plain list says they are there.
    const plain = await berth(dir, newServer, 'backup', 'list');
    assert.equal(plain.code, 0, plain.stderr);
    assert.match(plain.stdout, /3 backup\(s\) made by old-server not shown: berth backup list --all-hosts/);
    const list = await berth(dir, newServer, 'backup', 'list', '--all-hosts', '--json');
    assert.equal(list.code, 0, list.stderr);
    const listed = JSON.parse(list.stdout) as Array<{ id: string; target: string; status: string; host: string }>;
    assert.deepEqual(listed.map((e) => [e.target, e.status, e.host]).sort(), [['app', 'verified', 'old-server'], ['db', 'verified', 'old-server'], ['maria', 'verified', 'old-server']]);
    for (const target of ['db', 'maria', 'app']) {
      const id = ran.results.find((r) => r.target === target)!.id;
      assert.ok(listed.some((e) => e.id === id), `${target}: the backup made on the old server is listed`);
      const restored = await berth(dir, newServer, 'backup', 'restore', id, '--yes');
      assert.equal(restored.code, 0, `${target}: ${restored.stdout}\n${restored.stderr}`);
    }
    const afterRestore = await fingerprints(project);
    assert.equal(afterRestore.postgres, before.postgres);
    assert.equal(afterRestore.mariadb, before.mariadb);
    assert.equal(afterRestore.files, before.files);
  } finally {
    await berth(dir, newServer, 'compose', '--', 'down', '-v').catch(() => undefined);
    await berth(dir, oldServer, 'compose', '--', 'down', '-v').catch(() => undefined);
  }
});
