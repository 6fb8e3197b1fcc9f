/**
 * The kinds of false alarm (1-5) and miss (6-15) the second review of `berth check` found on
 * real stacks, each as a small stack modeled on what popular self-hosted projects do, both ways:
 * the false alarm stays silent, the real problem is found (at its file:line).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { at, lintYaml } from './testing/lint.js';
import { lintStack, where } from './testing/stack.js';

const y = (s: string) => s.replace(/^\n/, '');

test('1. backup-target: a backup sidecar that mounts the volume, or a pg_dump job in a backup profile, is a backup', () => {
  const base = y(`
services:
  app:
    image: ghcr.io/acme/wiki:2.5.3
    volumes:
      - uploads:/app/uploads
  db:
    image: postgres:16.4-alpine
    volumes:
      - pgdata:/var/lib/postgresql/data
`);
  const sidecars = y(`
  backup:
    image: offen/docker-volume-backup:v2.43.0
    restart: unless-stopped
    volumes:
      - uploads:/backup/uploads:ro
  dump:
    image: postgres:16.4-alpine
    profiles: [backup]
    command: ["sh", "-c", "pg_dump -h db -U wiki wiki > /dumps/wiki.sql"]
    volumes:
      - ./dumps:/dumps
volumes:
  uploads:
  pgdata:
`);
  assert.deepEqual(at(lintYaml(base + sidecars), 'backup-target'), []);
  // Without them both volumes are found.
  assert.deepEqual(at(lintYaml(`${base}volumes:\n  uploads:\n  pgdata:\n`), 'backup-target'), ['backup-target@5', 'backup-target@9']);
  // A sidecar for another volume does not cover this one; a dump of another database does not either.
  const other = sidecars.replace('uploads:/backup/uploads:ro', 'other:/backup/other:ro').replace('-h db', '-h olddb').replace('  pgdata:\n', '  pgdata:\n  other:\n');
  assert.deepEqual(at(lintYaml(base + other), 'backup-target'), ['backup-target@5', 'backup-target@9']);
  // mysqldump against the database, and restic and borgmatic containers, count too.
  const mysql = y(`
services:
  db:
    image: mariadb:11.4.3
    volumes: [dbdata:/var/lib/mysql]
  backup:
    image: fradelg/mysql-cron-backup:1.14.0
    environment:
      MYSQL_HOST: db
volumes:
  dbdata:
`);
  assert.deepEqual(at(lintYaml(mysql), 'backup-target').filter((f) => f === 'backup-target@5'), []);
});

test('2. init: s6-overlay images (linuxserver.io, S6_* settings) and a Dockerfile ENTRYPOINT of tini or dumb-init bring their own init', () => {
  const stack = y(`
services:
  jellyfin:
    image: lscr.io/linuxserver/jellyfin:10.9.11
    restart: unless-stopped
  custom:
    image: ghcr.io/acme/media-tools:3.1
    restart: unless-stopped
    environment:
      S6_KEEP_ENV: "1"
  app:
    build: .
    restart: unless-stopped
  plain:
    image: ghcr.io/acme/api:1.4.2
    restart: unless-stopped
`);
  const files = { Dockerfile: 'FROM python:3.12.7-slim\nRUN apt-get update && apt-get install -y dumb-init\nENTRYPOINT ["/usr/bin/dumb-init", "--"]\nCMD ["gunicorn", "app:app"]\n' };
  assert.deepEqual(at(lintYaml(stack, files), 'init'), ['init@13']);
  assert.deepEqual(at(lintYaml(stack, { Dockerfile: 'FROM python:3.12.7-slim\nCMD ["gunicorn", "app:app"]\n' }), 'init'), ['init@10', 'init@13']);
});

test('3. plaintext-secret: password policy settings are not secrets; a password is', () => {
  const stack = y(`
services:
  auth:
    image: ghcr.io/acme/sso:2024.8
    environment:
      PASSWORD_MIN_LENGTH: "12"
      AUTH_PASSWORD_COMPLEXITY: "strong"
      USER_PASSWORD_HASH_ALGO: argon2id
      PASSWORD_RESET_TOKEN_TTL: 1h
      SMTP_PASSWORD: correct-horse-battery
`);
  assert.deepEqual(at(lintYaml(stack), 'plaintext-secret'), ['plaintext-secret@9']);
});

test('4. restart: one-shot jobs that say restart: "no" (migrations, init jobs, services awaited with service_completed_successfully) are not told to restart', () => {
  const stack = y(`
services:
  migrate:
    image: ghcr.io/acme/shop:3.2.0
    command: ["bin/rails", "db:migrate"]
    restart: "no"
  createbuckets:
    image: minio/mc:RELEASE.2024-10-02T08-27-28Z
    restart: "no"
    entrypoint: ["sh", "-c", "mc mb -p local/shop"]
  web:
    image: ghcr.io/acme/shop:3.2.0
    restart: "no"
    depends_on:
      migrate:
        condition: service_completed_successfully
      createbuckets:
        condition: service_completed_successfully
`);
  assert.deepEqual(at(lintYaml(stack), 'restart-policy'), ['restart-policy@12']);
  // The jobs are not held to the other long-running rules either.
  assert.deepEqual(lintYaml(stack).filter((f) => ['healthcheck', 'memory-limit', 'init'].includes(f.rule)).map((f) => f.service), ['web', 'web', 'web']);
});

test('5. depends-on-healthy: no advice to wait for a dependency that has no healthcheck; the healthcheck advice goes to the dependency', () => {
  const stack = y(`
services:
  app:
    image: ghcr.io/acme/app:2.0.1
    depends_on: [cache]
  cache:
    image: redis:7.4.1-alpine
`);
  const findings = lintYaml(stack);
  assert.deepEqual(at(findings, 'depends-on-healthy'), []);
  const advice = findings.find((f) => f.rule === 'healthcheck' && f.service === 'cache')!;
  assert.match(advice.message, /"app" cannot wait for it to be healthy until it has one/);
  const withHc = `${stack}    healthcheck:\n      test: ["CMD", "redis-cli", "ping"]\n`;
  assert.deepEqual(at(lintYaml(withHc), 'depends-on-healthy'), ['depends-on-healthy@4']);
});

test('6. stop_grace_period: workers and game servers without one; values under 10 s from an interpolation default, an override or an extends child', async () => {
  const stack = y(`
services:
  sidekiq:
    image: ghcr.io/acme/shop:3.2.0
    command: ["bundle", "exec", "sidekiq", "-C", "config/sidekiq.yml"]
  celery:
    image: ghcr.io/acme/dash:1.8.0
    command: celery -A dash worker -l info
    stop_grace_period: 2m
  minecraft:
    image: itzg/minecraft-server:java21
  web:
    image: ghcr.io/acme/shop:3.2.0
    stop_grace_period: \${WEB_GRACE:-5s}
`);
  const findings = lintYaml(stack);
  assert.deepEqual(at(findings, 'stop-grace-period-default'), ['stop-grace-period-default@2', 'stop-grace-period-default@9']);
  assert.deepEqual(at(findings, 'stop-grace-period-short'), ['stop-grace-period-short@13']);
  // An override that shortens the base's value is found at the override's line; extends likewise.
  const split = await lintStack({
    'compose.yaml': 'services:\n  worker:\n    image: ghcr.io/acme/shop:3.2.0\n    command: ["bundle", "exec", "sidekiq"]\n    stop_grace_period: 60s\n',
    'compose.prod.yaml': 'services:\n  worker:\n    stop_grace_period: 3s\n',
  }, { composeFiles: ['compose.yaml', 'compose.prod.yaml'] });
  assert.deepEqual(where(split, 'stop-grace-period-short', 'stop-grace-period-default'), ['stop-grace-period-short@compose.prod.yaml:3']);
  const extended = await lintStack({
    'base.yaml': 'services:\n  worker:\n    image: ghcr.io/acme/shop:3.2.0\n    stop_grace_period: 60s\n',
    'compose.yaml': 'services:\n  jobs:\n    extends: { file: base.yaml, service: worker }\n    command: ["bundle", "exec", "sidekiq"]\n    stop_grace_period: 1s\n',
  });
  assert.deepEqual(where(extended, 'stop-grace-period-short'), ['stop-grace-period-short@compose.yaml:5']);
  const fine = await lintStack({ 'compose.yaml': 'services:\n  worker:\n    image: ghcr.io/acme/shop:3.2.0\n    command: ["bundle", "exec", "sidekiq"]\n    stop_grace_period: 60s\n' });
  assert.deepEqual(where(fine, 'stop-grace-period-short', 'stop-grace-period-default'), []);
});

test('7. port-all-interfaces: the edge proxy on 80/443 is public by design; an admin UI on 8081:80 is not the edge proxy', () => {
  const stack = y(`
services:
  caddy:
    image: caddy:2.8.4
    ports: ["80:80", "443:443", "443:443/udp"]
  adminer:
    image: adminer:4.8.1
    ports: ["8081:8080"]
  pihole-ui:
    image: ghcr.io/acme/dns-admin:5.1
    ports: ["8082:80"]
`);
  assert.deepEqual(at(lintYaml(stack), 'port-all-interfaces'), ['port-all-interfaces@7', 'port-all-interfaces@10']);
});

test('8. a project Compose refuses is a finding at file:line, and the rest is linted', async () => {
  const result = await lintStack({ 'compose.yaml': y(`
services:
  web:
    image: ghcr.io/acme/web:1.2.0
    container_name: web
    deploy:
      replicas: 3
  worker:
    image: ghcr.io/acme/web:1.2.0
    networks: [backend]
`) });
  assert.deepEqual(where(result, 'compose-refused'), ['compose-refused@compose.yaml:4', 'compose-refused@compose.yaml:9']);
  assert.ok(result.findings.some((f) => f.rule === 'memory-limit' && f.service === 'worker'), 'the rest is linted');
});

test('9. plaintext-secret: secrets without PASSWORD/SECRET/TOKEN in the name, and credentials inside connection URLs', () => {
  const stack = y(`
services:
  app:
    image: ghcr.io/acme/social:4.3.1
    environment:
      ACTIVE_RECORD_ENCRYPTION_PRIMARY_KEY: 8f1c2a
      ACTIVE_RECORD_ENCRYPTION_KEY_DERIVATION_SALT: c2a9e1
      SECRET_KEY_BASE: 4b7d0e
      OTP_SIGNING_KEY: 1e2d3c
      SAML_PRIVATE_KEY: abc
      LEGACY_DES_KEY: 0f0f0f
      REDIS_URL: redis://:hunter2@redis:6379/0
      DATABASE_URL: postgres://social:hunter2@db:5432/social
      CACHE_URL: redis://redis:6379/1
      ENCRYPTION_KEY_FILE: /run/secrets/encryption_key
`);
  assert.deepEqual(at(lintYaml(stack), 'plaintext-secret'), [5, 6, 7, 8, 9, 10, 11, 12].map((l) => `plaintext-secret@${l}`));
});

test('10. datastores recognised by what they are: pgvector, TimescaleDB, Bitnami, Valkey, KeyDB, Dragonfly, and a custom image by its settings and port', () => {
  const stack = y(`
services:
  pgvector:
    image: pgvector/pgvector:0.7.4-pg16
    ports: ["5432:5432"]
  vectors:
    image: tensorchord/pgvecto-rs:pg16-v0.3.0
    ports: ["5433:5432"]
  bitnami:
    image: bitnami/postgresql:16.4.0
    ports: ["5434:5432"]
  keydb:
    image: eqalpha/keydb:x86_64_v6.3.4
    ports: ["6379:6379"]
  custom:
    image: registry.acme.internal/pg-custom:16
    environment:
      POSTGRES_PASSWORD_FILE: /run/secrets/pg
      POSTGRES_DB: app
    ports: ["5435:5432"]
  exporter:
    image: prometheuscommunity/postgres-exporter:v0.15.0
    ports: ["9187:9187"]
`);
  const findings = lintYaml(stack);
  assert.deepEqual(at(findings, 'datastore-published-port'), [4, 7, 10, 13, 19].map((l) => `datastore-published-port@${l}`));
  // The exporter is no datastore: its port is an ordinary published port.
  assert.deepEqual(at(findings, 'port-all-interfaces'), ['port-all-interfaces@22']);
});

test('11. image-tag: a build: service whose image: is untagged or :latest is still pulled as a moving tag by compose pull', () => {
  const stack = y(`
services:
  app:
    build: .
    image: ghcr.io/acme/app
  worker:
    build: .
    image: ghcr.io/acme/app:latest
  pinned:
    build: .
    image: ghcr.io/acme/app:2.4.0
  local:
    build: .
    image: acme-app
    pull_policy: build
`);
  assert.deepEqual(at(lintYaml(stack, { Dockerfile: 'FROM node:22.11-slim\nUSER node\nCMD ["node", "s.js"]\n' }), 'image-tag'), ['image-tag@4', 'image-tag@7']);
});

test('12. floating tags without a version number move as much as latest (compose and Dockerfile FROM)', () => {
  const stack = y(`
services:
  db:
    image: postgres:alpine
  cloud:
    image: nextcloud:apache
  proxy:
    image: caddy:2.8.4-alpine
  app:
    build: .
`);
  const findings = lintYaml(stack, { Dockerfile: 'FROM node:lts AS build\nFROM node:22.11-slim\nUSER node\nCMD ["node", "s.js"]\n' });
  assert.deepEqual(at(findings, 'image-tag'), ['image-tag@3', 'image-tag@5']);
  assert.deepEqual(at(findings, 'df-base-latest'), ['df-base-latest@1']);
  assert.match(findings.find((f) => f.rule === 'image-tag')!.message, /floating tag "alpine"/);
});

test('13. application data outside named volumes: user content in bind mounts, and a database with no volume at all', () => {
  const stack = y(`
services:
  photos:
    image: ghcr.io/acme/photos:1.118.2
    volumes:
      - ./library:/usr/src/app/upload
      - /etc/localtime:/etc/localtime:ro
      - ./config/app.yml:/app/config.yml:ro
  db:
    image: postgres:16.4-alpine
  cache:
    image: redis:7.4.1-alpine
`);
  const findings = lintYaml(stack);
  assert.deepEqual(at(findings, 'backup-target'), ['backup-target@5']);
  assert.deepEqual(at(findings, 'datastore-volume'), ['datastore-volume@8']);
  const kept = stack.replace('    image: postgres:16.4-alpine\n', '    image: postgres:16.4-alpine\n    volumes: [pgdata:/var/lib/postgresql/data]\n').replace('./library', './library-not-user-data').concat('volumes:\n  pgdata:\n');
  assert.deepEqual(at(lintYaml(kept), 'datastore-volume'), []);
});

test('14. passwordless database access (trust, empty passwords) is reported', () => {
  const stack = y(`
services:
  db:
    image: postgres:16.4
    environment:
      POSTGRES_HOST_AUTH_METHOD: trust
  pgbouncer:
    image: edoburu/pgbouncer:v1.23.1-p2
    environment:
      AUTH_TYPE: trust
  mysql:
    image: mysql:8.4.2
    environment:
      MYSQL_ALLOW_EMPTY_PASSWORD: "yes"
  safe:
    image: postgres:16.4
    environment:
      POSTGRES_HOST_AUTH_METHOD: scram-sha-256
`);
  assert.deepEqual(at(lintYaml(stack), 'datastore-no-auth'), ['datastore-no-auth@5', 'datastore-no-auth@9', 'datastore-no-auth@13']);
});

test('15. roles: a log shipper on 5000 is no web service; a container_name the image requires; proxy_pass to an upstream block; env_file findings point into the env file', async () => {
  const stack = y(`
services:
  logstash:
    image: docker.elastic.co/logstash/logstash:8.15.2
    ports: ["127.0.0.1:5000:5000"]
  aio:
    image: nextcloud/all-in-one:latest
    container_name: nextcloud-aio-mastercontainer
  wiki:
    image: ghcr.io/acme/wiki:2.5.3
    # container_name is required: the backup script finds the container by this name
    container_name: wiki
  app:
    image: ghcr.io/acme/app:2.0.1
    container_name: app
`);
  const findings = lintYaml(stack);
  assert.deepEqual(findings.filter((f) => f.service === 'logstash' && /^(fixed-host-port|stop-grace-period-default)$/.test(f.rule)), []);
  assert.deepEqual(at(findings, 'container-name'), ['container-name@14']);
  const nginx = 'events {}\nhttp {\n  upstream app {\n    server app:3000;\n  }\n  server {\n    location / {\n      proxy_pass http://app;\n    }\n  }\n}\n';
  const proxied = 'services:\n  proxy:\n    image: nginx:1.27\n    volumes: ["./nginx.conf:/etc/nginx/nginx.conf:ro"]\n  app:\n    image: ghcr.io/acme/app:2.0.1\n';
  assert.deepEqual(at(lintYaml(proxied, { 'nginx.conf': nginx }), 'proxy-static-upstream'), ['proxy-static-upstream@4']);
  const result = await lintStack({
    'compose.yaml': 'services:\n  app:\n    image: ghcr.io/acme/app:2.0.1\n    env_file: [app.env]\n    environment:\n      LOG_LEVEL: info\n',
    'app.env': '# app settings\nLOG_LEVEL=debug\nSMTP_PASSWORD=correct-horse\n',
  });
  assert.deepEqual(where(result, 'plaintext-secret'), ['plaintext-secret@app.env:3']);
});
