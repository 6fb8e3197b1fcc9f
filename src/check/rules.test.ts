/**
 * Every rule has a positive fixture (it fires, on the exact line) and a negative one (it does not).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { allRules } from './run.js';
import { at, lintYaml } from './testing/lint.js';

interface Case {
  rule: string;
  bad: string;
  /** Lines where the rule must fire, in order. */
  lines: number[];
  good: string;
  files?: Record<string, string>;
  goodFiles?: Record<string, string>;
}

const y = (s: string) => s.replace(/^\n/, '');
const proxyStack = (image: string, mount: string) => `services:\n  proxy:\n    image: ${image}\n    volumes: ["${mount}"]\n  app:\n    image: acme/app:1\n`;
const nginxStack = proxyStack('nginx:1.27', './nginx.conf:/etc/nginx/nginx.conf:ro');
const haproxyStack = proxyStack('haproxy:2.9', './haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro');

const cases: Case[] = [
  { rule: 'init', bad: y(`
services:
  app:
    image: acme/app:1
`), lines: [2], good: y(`
services:
  app:
    image: acme/app:1
    init: true
`) },
  { rule: 'init-double', bad: y(`
services:
  app:
    build: .
    init: true
`), lines: [4], files: { Dockerfile: 'FROM node:22-slim\nENTRYPOINT ["tini", "--"]\nCMD ["node", "s.js"]\n' }, good: y(`
services:
  app:
    build: .
    init: true
`), goodFiles: { Dockerfile: 'FROM node:22-slim\nCMD ["node", "s.js"]\n' } },
  { rule: 'stop-grace-period', bad: y(`
services:
  app:
    image: acme/app:1
    stop_grace_period: 20s
    x-berth:
      shutdown_deadline: 25s
`), lines: [4], good: y(`
services:
  app:
    image: acme/app:1
    stop_grace_period: 30s
    x-berth:
      shutdown_deadline: 25s
`) },
  { rule: 'stop-grace-period-default', bad: y(`
services:
  web:
    image: acme/web:1
    labels:
      traefik.enable: "true"
`), lines: [2], good: y(`
services:
  web:
    image: acme/web:1
    stop_grace_period: 30s
    labels:
      traefik.enable: "true"
`) },
  { rule: 'shell-exec', bad: y(`
services:
  worker:
    image: acme/app:1
    command: ["sh", "-c", "./migrate && node worker.js"]
`), lines: [4], good: y(`
services:
  worker:
    image: acme/app:1
    command: ["sh", "-c", "./migrate && exec node worker.js"]
`) },
  { rule: 'string-command-shell-syntax', bad: y(`
services:
  worker:
    image: acme/app:1
    command: ./migrate && node worker.js
`), lines: [4], good: y(`
services:
  worker:
    image: acme/app:1
    command: node worker.js --queue default
`) },
  { rule: 'npm-command', bad: y(`
services:
  app:
    image: node:22-slim
    command: npm start
`), lines: [4], good: y(`
services:
  app:
    image: node:22-slim
    command: ["node", "dist/server.js"]
`) },
  { rule: 'stop-signal', bad: y(`
services:
  nginx:
    image: nginx:1.27
    stop_signal: SIGTERM
  fpm:
    image: acme/php-app:8.3
    command: ["php-fpm8.3", "-F"]
`), lines: [4, 5], good: y(`
services:
  nginx:
    image: nginx:1.27
  fpm:
    image: acme/php-app:8.3
    command: ["php-fpm8.3", "-F"]
    stop_signal: SIGQUIT
`) },
  { rule: 'stop-grace-period-short', bad: y(`
services:
  app:
    image: acme/app:1
    stop_grace_period: \${GRACE:-3s}
`), lines: [4], good: y(`
services:
  app:
    image: acme/app:1
    stop_grace_period: 10s
`) },
  { rule: 'healthcheck', bad: y(`
services:
  app:
    image: acme/app:1
`), lines: [2], good: y(`
services:
  app:
    image: acme/app:1
    healthcheck:
      test: ["CMD", "/app/healthcheck"]
`) },
  { rule: 'healthcheck-start-period', bad: y(`
services:
  app:
    image: acme/app:1
    healthcheck:
      test: ["CMD", "/app/healthcheck"]
`), lines: [4], good: y(`
services:
  app:
    image: acme/app:1
    healthcheck:
      test: ["CMD", "/app/healthcheck"]
      start_period: 30s
`) },
  { rule: 'healthcheck-start-interval', bad: y(`
services:
  app:
    image: acme/app:1
    healthcheck:
      test: ["CMD", "/app/healthcheck"]
      start_period: 30s
`), lines: [4], good: y(`
services:
  app:
    image: acme/app:1
    healthcheck:
      test: ["CMD", "/app/healthcheck"]
      start_period: 30s
      start_interval: 3s
`) },
  { rule: 'traffic-networks', bad: y(`
services:
  proxy:
    image: caddy:2.8
    networks: [frontend]
  app:
    image: acme/app:1
    networks: [frontend, backend]
networks: { frontend: {}, backend: {} }
`), lines: [7], good: y(`
services:
  proxy:
    image: caddy:2.8
    networks: [frontend]
  app:
    image: acme/app:1
    networks: [frontend, backend]
    x-berth:
      rollout: { traffic_networks: [frontend] }
  worker:
    image: acme/app:1
    networks: [backend]
networks: { frontend: {}, backend: {} }
`) },
  { rule: 'container-name', bad: y(`
services:
  app:
    image: acme/app:1
    container_name: app
`), lines: [4], good: y(`
services:
  app:
    image: acme/app:1
`) },
  { rule: 'fixed-host-port', bad: y(`
services:
  app:
    image: acme/app:1
    ports:
      - "127.0.0.1:3000:3000"
`), lines: [5], good: y(`
services:
  app:
    image: acme/app:1
    ports:
      - "127.0.0.1::3000"
`) },
  { rule: 'restart-policy', bad: y(`
services:
  app:
    image: acme/app:1
    restart: always
  worker:
    image: acme/app:1
`), lines: [4, 5], good: y(`
services:
  app:
    image: acme/app:1
    restart: unless-stopped
  migrate:
    image: acme/app:1
    profiles: [migrate]
`) },
  { rule: 'docker-socket', bad: y(`
services:
  watchtower:
    image: containrrr/watchtower:1.7.1
    volumes:
      - /var/run/docker.sock:/var/run/docker.sock:ro
`), lines: [5], good: y(`
services:
  watchtower:
    image: containrrr/watchtower:1.7.1
    environment:
      DOCKER_HOST: tcp://socket-proxy:2375
`) },
  { rule: 'traefik-socket', bad: y(`
services:
  traefik:
    image: traefik:v3.3
    volumes:
      - /var/run/docker.sock:/var/run/docker.sock:ro
`), lines: [5], good: y(`
services:
  traefik:
    image: traefik:v3.3
    command: ["--providers.docker.endpoint=tcp://socket-proxy:2375"]
`) },
  { rule: 'use-api-socket', bad: y(`
services:
  ci:
    image: acme/ci:1
    use_api_socket: true
`), lines: [4], good: y(`
services:
  ci:
    image: acme/ci:1
`) },
  { rule: 'socket-proxy-post', bad: y(`
services:
  socket-proxy:
    image: tecnativa/docker-socket-proxy:0.3
    environment:
      CONTAINERS: 1
      POST: 1
`), lines: [6], good: y(`
services:
  socket-proxy:
    image: tecnativa/docker-socket-proxy:0.3
    environment:
      CONTAINERS: 1
      POST: 0
`) },
  { rule: 'socket-proxy-network', bad: y(`
services:
  socket-proxy:
    image: tecnativa/docker-socket-proxy:0.3
    networks: [proxy]
networks:
  proxy: {}
`), lines: [4], good: y(`
services:
  socket-proxy:
    image: tecnativa/docker-socket-proxy:0.3
    networks: [proxy]
networks:
  proxy:
    internal: true
`) },
  { rule: 'traefik-exposed-by-default', bad: y(`
services:
  traefik:
    image: traefik:v3.3
    command:
      - "--providers.docker=true"
`), lines: [4], good: y(`
services:
  traefik:
    image: traefik:v3.3
    command:
      - "--providers.docker=true"
      - "--providers.docker.exposedByDefault=false"
`) },
  { rule: 'read-only', bad: y(`
services:
  app:
    image: acme/app:1
    read_only: false
`), lines: [4], good: y(`
services:
  app:
    image: acme/app:1
    read_only: true
`) },
  { rule: 'read-only-tmpfs', bad: y(`
services:
  app:
    image: acme/app:1
    read_only: true
`), lines: [4], good: y(`
services:
  app:
    image: acme/app:1
    read_only: true
    tmpfs: ["/tmp:noexec,nosuid,size=64m"]
`) },
  { rule: 'cap-drop-all', bad: y(`
services:
  app:
    image: acme/app:1
    cap_drop: [NET_RAW]
`), lines: [4], good: y(`
services:
  app:
    image: acme/app:1
    cap_drop: [ALL]
`) },
  { rule: 'cap-add-dangerous', bad: y(`
services:
  app:
    image: acme/app:1
    cap_add:
      - NET_BIND_SERVICE
      - SYS_ADMIN
`), lines: [6], good: y(`
services:
  app:
    image: acme/app:1
    cap_add: [NET_BIND_SERVICE]
`) },
  { rule: 'no-new-privileges', bad: y(`
services:
  app:
    image: acme/app:1
    security_opt:
      - label:disable
`), lines: [4], good: y(`
services:
  app:
    image: acme/app:1
    security_opt: ["no-new-privileges:true"]
`) },
  { rule: 'unconfined-profile', bad: y(`
services:
  app:
    image: acme/app:1
    security_opt:
      - no-new-privileges:true
      - seccomp:unconfined
`), lines: [6], good: y(`
services:
  app:
    image: acme/app:1
    security_opt: ["no-new-privileges:true"]
`) },
  { rule: 'user', bad: y(`
services:
  app:
    image: acme/app:1
  admin:
    image: acme/app:1
    user: root
`), lines: [2, 6], good: y(`
services:
  app:
    image: acme/app:1
    user: "1000:1000"
  grafana:
    image: grafana/grafana:11.4.0
  prometheus:
    image: docker.io/prom/prometheus:v2.54.1
`) },
  { rule: 'privileged', bad: y(`
services:
  app:
    image: acme/app:1
    privileged: true
`), lines: [4], good: y(`
services:
  app:
    image: acme/app:1
    privileged: false
`) },
  { rule: 'host-namespaces', bad: y(`
services:
  app:
    image: acme/app:1
    network_mode: host
    pid: host
`), lines: [4, 5], good: y(`
services:
  app:
    image: acme/app:1
    network_mode: bridge
`) },
  { rule: 'devices', bad: y(`
services:
  app:
    image: acme/app:1
    devices:
      - /dev/sda:/dev/sda
`), lines: [5], good: y(`
services:
  app:
    image: acme/app:1
`) },
  { rule: 'sensitive-host-mount', bad: y(`
services:
  agent:
    image: acme/agent:1
    volumes:
      - /etc:/host/etc
`), lines: [5], good: y(`
services:
  agent:
    image: acme/agent:1
    volumes:
      - /etc:/host/etc:ro
`) },
  { rule: 'memory-limit', bad: y(`
services:
  app:
    image: acme/app:1
`), lines: [2], good: y(`
services:
  app:
    image: acme/app:1
    deploy:
      resources:
        limits: { memory: 256M }
`) },
  { rule: 'cpu-limit', bad: y(`
services:
  app:
    image: acme/app:1
`), lines: [2], good: y(`
services:
  app:
    image: acme/app:1
    cpus: 0.5
`) },
  { rule: 'pids-limit', bad: y(`
services:
  app:
    image: acme/app:1
`), lines: [2], good: y(`
services:
  app:
    image: acme/app:1
    pids_limit: 200
`) },
  { rule: 'log-rotation', bad: y(`
services:
  app:
    image: acme/app:1
  worker:
    image: acme/app:1
    logging:
      driver: json-file
      options:
        max-size: 10m
`), lines: [2, 6], good: y(`
services:
  app:
    image: acme/app:1
    logging:
      driver: json-file
      options: { max-size: "10m", max-file: "5" }
  worker:
    image: acme/app:1
    logging:
      driver: journald
`) },
  { rule: 'plaintext-secret', bad: y(`
services:
  db:
    image: postgres:17
    environment:
      POSTGRES_USER: app
      POSTGRES_PASSWORD: hunter2
  app:
    image: acme/app:1
    environment:
      - API_TOKEN=abc123
`), lines: [6, 10], good: y(`
services:
  db:
    image: postgres:17
    environment:
      POSTGRES_PASSWORD_FILE: /run/secrets/db_password
    secrets: [db_password]
secrets:
  db_password:
    file: ./secrets/db_password.txt
`) },
  { rule: 'secret-file-reference', bad: y(`
services:
  db:
    image: postgres:17
    environment:
      POSTGRES_PASSWORD_FILE: /run/secrets/db_password
`), lines: [5], good: y(`
services:
  db:
    image: postgres:17
    environment:
      POSTGRES_PASSWORD_FILE: /run/secrets/db_password
    secrets: [db_password]
secrets:
  db_password:
    file: ./db_password.txt
`) },
  { rule: 'image-tag', bad: y(`
services:
  a:
    image: redis
  b:
    image: ghcr.io/acme/app:latest
`), lines: [3, 5], good: y(`
services:
  a:
    image: redis:7.4-alpine
  b:
    build: .
    image: ghcr.io/acme/app:latest
    pull_policy: build
`) },
  { rule: 'image-digest', bad: y(`
services:
  a:
    image: redis:7.4-alpine
`), lines: [3], good: y(`
services:
  a:
    image: redis:7.4-alpine@sha256:0000000000000000000000000000000000000000000000000000000000000000
`) },
  { rule: 'datastore-internal-network', bad: y(`
services:
  db:
    image: postgres:17
`), lines: [2], good: y(`
services:
  db:
    image: postgres:17
    networks: [backend]
networks:
  backend:
    internal: true
`) },
  { rule: 'datastore-published-port', bad: y(`
services:
  db:
    image: mysql:8.4
    ports:
      - "3306:3306"
`), lines: [5], good: y(`
services:
  db:
    image: mysql:8.4
    ports:
      - "127.0.0.1:3306:3306"
`) },
  { rule: 'port-all-interfaces', bad: y(`
services:
  grafana:
    image: grafana/grafana:11.4.0
    ports:
      - "3000:3000"
`), lines: [5], good: y(`
services:
  grafana:
    image: grafana/grafana:11.4.0
    ports:
      - "127.0.0.1:3000:3000"
  proxy:
    image: caddy:2.8
    ports: ["80:80", "443:443"]
`) },
  { rule: 'backup-target', bad: y(`
services:
  db:
    image: postgres:17
    volumes:
      - pgdata:/var/lib/postgresql/data
  mysql:
    image: mysql:8.4
    volumes:
      - ./conf/my.cnf:/etc/mysql/conf.d/my.cnf
      - ./data/mysql:/var/lib/mysql
volumes:
  pgdata: {}
`), lines: [5, 10], good: y(`
services:
  db:
    image: postgres:17
    volumes:
      - pgdata:/var/lib/postgresql/data
    x-berth:
      backup:
        type: postgres
volumes:
  pgdata: {}
`) },
  { rule: 'depends-on-healthy', bad: y(`
services:
  app:
    image: acme/app:1
    depends_on: [db]
  db:
    image: postgres:17
    healthcheck:
      test: ["CMD-SHELL", "pg_isready -U postgres"]
`), lines: [4], good: y(`
services:
  app:
    image: acme/app:1
    depends_on: [db]
  db:
    image: postgres:17
`) },
  { rule: 'compose-refused', bad: y(`
services:
  web:
    image: acme/web:1
    container_name: web
    deploy:
      replicas: 3
`), lines: [4], good: y(`
services:
  web:
    image: acme/web:1
    deploy:
      replicas: 3
`) },
  { rule: 'datastore-no-auth', bad: y(`
services:
  db:
    image: postgres:16
    environment:
      POSTGRES_HOST_AUTH_METHOD: trust
  pgbouncer:
    image: edoburu/pgbouncer:1.23.1
    environment:
      AUTH_TYPE: trust
`), lines: [5, 9], good: y(`
services:
  db:
    image: postgres:16
    environment:
      POSTGRES_HOST_AUTH_METHOD: scram-sha-256
  pgbouncer:
    image: edoburu/pgbouncer:1.23.1
    environment:
      AUTH_TYPE: scram-sha-256
`) },
  { rule: 'datastore-volume', bad: y(`
services:
  db:
    image: mariadb:11.4
    environment:
      MARIADB_DATABASE: app
`), lines: [2], good: y(`
services:
  db:
    image: mariadb:11.4
    environment:
      MARIADB_DATABASE: app
    volumes:
      - db:/var/lib/mysql
volumes:
  db:
`) },
  { rule: 'depends-on-no-healthcheck', bad: y(`
services:
  app:
    image: acme/app:1
    depends_on:
      api:
        condition: service_healthy
  api:
    build: ./api
`), lines: [5], files: { 'api/Dockerfile': 'FROM node:22-slim\nUSER node\nCMD ["node", "s.js"]\n' }, good: y(`
services:
  app:
    image: acme/app:1
    depends_on:
      api:
        condition: service_healthy
  api:
    build: ./api
`), goodFiles: { 'api/Dockerfile': 'FROM node:22-slim\nHEALTHCHECK CMD ["node", "hc.js"]\nCMD ["node", "s.js"]\n' } },
  { rule: 'healthcheck-probe-binary', bad: y(`
services:
  app:
    build: .
    healthcheck:
      test: ["CMD", "curl", "-f", "http://localhost:3000/health"]
  cache:
    image: redis:7.4-alpine
    healthcheck:
      test: curl -f http://localhost
`), lines: [5, 9], files: { Dockerfile: 'FROM node:22-alpine\nCMD ["node", "s.js"]\n' }, good: y(`
services:
  app:
    build: .
    healthcheck:
      test: ["CMD", "curl", "-f", "http://localhost:3000/health"]
`), goodFiles: { Dockerfile: 'FROM node:22-alpine\nRUN apk add --no-cache \\\n    curl tini\nCMD ["node", "s.js"]\n' } },
  // The proxy's own config, bind-mounted: nginx and HAProxy re-resolving the service name.
  { rule: 'proxy-static-upstream', bad: nginxStack, lines: [4, 10], files: { 'nginx.conf': y(`
events {}
http {
  upstream backend {
    server app:3000 max_fails=0;
  }
  server {
    listen 80;
    location /api { proxy_pass http://backend; }
    location / {
      proxy_pass http://app:3000;
    }
  }
}
`) }, good: nginxStack, goodFiles: { 'nginx.conf': y(`
events {}
http {
  resolver 127.0.0.11 valid=1s;
  upstream backend {
    zone backend 64k;
    server app:3000 resolve;
  }
  server {
    location / {
      set $app http://app:3000;
      proxy_pass $app;
      proxy_pass http://example.com;
    }
  }
}
`) } },
  { rule: 'proxy-static-upstream', bad: haproxyStack, lines: [6], files: { 'haproxy.cfg': y(`
defaults
  mode http
frontend web
  bind :80
backend app
  server app1 app:3000 check
`) }, good: haproxyStack, goodFiles: { 'haproxy.cfg': y(`
resolvers docker
  nameserver dns 127.0.0.11:53
backend app
  server-template app 10 app:3000 check resolvers docker init-addr none
  server other 10.0.0.5:80 check
`) } },
  { rule: 'proxy-connect-timeout', bad: nginxStack, lines: [4, 6], files: { 'nginx.conf': y(`
events {}
http {
  server {
    proxy_connect_timeout 1s;
    location / {
      proxy_connect_timeout 500ms;   # tighter still
    }
  }
}
`) }, good: nginxStack, goodFiles: { 'nginx.conf': 'events {}\nhttp {\n  proxy_connect_timeout 3s;\n  # proxy_connect_timeout 1s;\n}\n' } },
  { rule: 'proxy-connect-timeout', bad: haproxyStack, lines: [2], files: { 'haproxy.cfg': 'defaults\n  timeout connect 1000\n  timeout server 1s\n' }, good: haproxyStack, goodFiles: { 'haproxy.cfg': 'defaults\n  timeout connect 3s\n  timeout client 1s\n' } },
];

// Dockerfile rules: the compose file builds from ./Dockerfile; lines are Dockerfile lines.
const build = y(`
services:
  app:
    build: .
`);
const dfCases: Array<{ rule: string; bad: string; lines: number[]; good: string; files?: Record<string, string> }> = [
  { rule: 'df-exec-form', bad: 'FROM node:22-slim\nCMD node server.js\n', lines: [2], good: 'FROM node:22-slim\nCMD ["node", "server.js"]\n' },
  { rule: 'df-npm-start', bad: 'FROM node:22-slim\nCMD ["npm", "start"]\n', lines: [2], good: 'FROM node:22-slim\nCMD ["node", "dist/server.js"]\n' },
  { rule: 'df-entrypoint-exec', bad: 'FROM node:22-slim\nCOPY docker-entrypoint.sh /usr/local/bin/\nENTRYPOINT ["docker-entrypoint.sh"]\nCMD ["node", "s.js"]\n', lines: [3], files: { 'docker-entrypoint.sh': '#!/bin/sh\nset -e\n"$@"\n' }, good: 'FROM node:22-slim\nCOPY docker-entrypoint.sh /usr/local/bin/\nENTRYPOINT ["docker-entrypoint.sh"]\nCMD ["node", "s.js"]\n' },
  { rule: 'df-healthcheck', bad: 'FROM node:22-slim\nCMD ["node", "s.js"]\n', lines: [1], good: 'FROM node:22-slim\nHEALTHCHECK CMD ["node", "hc.js"]\nCMD ["node", "s.js"]\n' },
  { rule: 'df-user', bad: 'FROM node:22-slim AS build\nUSER node\nFROM node:22-slim\nCMD ["node", "s.js"]\n', lines: [3], good: 'FROM node:22-slim\nUSER node\nCMD ["node", "s.js"]\n' },
  { rule: 'df-base-latest', bad: 'FROM node AS build\nFROM build\nFROM alpine:latest\n', lines: [1, 3], good: 'ARG NODE=22\nFROM node:${NODE}-slim AS build\nFROM build\nFROM scratch\n' },
  { rule: 'df-secret-arg-env', bad: 'FROM node:22-slim\nARG NPM_TOKEN\nENV DB_PASSWORD=hunter2 \\\n    APP_ENV=production\n', lines: [2, 3], good: 'FROM node:22-slim\nENV DB_PASSWORD_FILE=/run/secrets/db_password APP_ENV=production\n' },
  { rule: 'df-add-remote', bad: 'FROM node:22-slim\nADD https://example.com/x.tgz /opt/\n', lines: [2], good: 'FROM node:22-slim\nCOPY x.tgz /opt/\nADD --checksum=sha256:24454f830cdb571e2c4ad15481119c43b3cafd48dd869a9b2945d1036d1dc68d https://example.com/x.tgz /opt/\n' },
];

test('every rule has a positive and a negative fixture', () => {
  const covered = new Set([...cases.map((c) => c.rule), ...dfCases.map((c) => c.rule)]);
  // The swarm rules (berth check --swarm) have theirs in swarm-rules.test.ts.
  assert.deepEqual(allRules.filter((r) => r.target !== 'swarm').map((r) => r.id).filter((id) => !covered.has(id)), []);
});

for (const c of cases) {
  test(`compose rule ${c.rule}: fires on lines ${c.lines.join(', ')} and not on the good fixture`, () => {
    assert.deepEqual(at(lintYaml(c.bad, c.files), c.rule), c.lines.map((l) => `${c.rule}@${l}`));
    assert.deepEqual(at(lintYaml(c.good, c.goodFiles ?? c.files), c.rule), []);
  });
}

for (const c of dfCases) {
  test(`Dockerfile rule ${c.rule}: fires on lines ${c.lines.join(', ')} and not on the good fixture`, () => {
    const bad = lintYaml(build, { Dockerfile: c.bad, ...c.files }).filter((f) => f.rule === c.rule);
    assert.deepEqual(bad.map((f) => `${f.location?.file}:${f.location?.line}`), c.lines.map((l) => `/project/Dockerfile:${l}`));
    assert.deepEqual(at(lintYaml(build, { Dockerfile: c.good, 'docker-entrypoint.sh': '#!/bin/sh\nset -e\nexec "$@"\n' }), c.rule), []);
  });
}

test('every rule has a title, rationale, advice and a known family', () => {
  const ids = new Set<string>();
  for (const r of allRules) {
    assert.ok(!ids.has(r.id), `duplicate id ${r.id}`);
    ids.add(r.id);
    assert.match(r.id, /^[a-z0-9-]+$/);
    assert.ok(r.title.length > 5 && r.rationale.length > 40 && r.advice.length > 10, r.id);
  }
  assert.ok(allRules.length >= 45, `rule count ${allRules.length}`);
});

test('a build whose Dockerfile cannot be read is reported as not checked, not silently skipped', async () => {
  const { lintProject } = await import('./run.js');
  const { projectFromYaml } = await import('./testing/project.js');
  const result = lintProject(projectFromYaml('services:\n  app:\n    build: ./missing\n  remote:\n    build: https://github.com/acme/app.git\n', '/p/compose.yaml'), { read: () => undefined });
  assert.deepEqual(result.notes.filter((n) => !n.startsWith('image facts')), ['service "app": cannot read /p/missing/Dockerfile, Dockerfile rules skipped', 'service "remote": remote build context https://github.com/acme/app.git, Dockerfile rules skipped']);
});

test('Dockerfile CMD findings are dropped when every service replaces the command', () => {
  const df = { Dockerfile: 'FROM node:22-slim\nUSER node\nCMD npm start\n' };
  assert.deepEqual(at(lintYaml('services:\n  app:\n    build: .\n', df)).filter((f) => /^df-(exec-form|npm-start)/.test(f)), ['df-exec-form@3', 'df-npm-start@3']);
  assert.deepEqual(at(lintYaml('services:\n  app:\n    build: .\n    command: ["node", "s.js"]\n', df)).filter((f) => /^df-(exec-form|npm-start)/.test(f)), []);
  assert.deepEqual(at(lintYaml('services:\n  app:\n    build: .\n    command: ["node", "s.js"]\n  worker:\n    build: .\n', df)).filter((f) => /^df-(exec-form|npm-start)/.test(f)), ['df-exec-form@3', 'df-npm-start@3']);
});

test('df-entrypoint-exec reads the script from the context when the whole context is copied', () => {
  const dockerfile = 'FROM node:22-slim\nWORKDIR /app\nCOPY . .\nENTRYPOINT ["./bin/entrypoint.sh"]\nCMD ["node", "s.js"]\n';
  assert.deepEqual(at(lintYaml('services:\n  app:\n    build: .\n', { Dockerfile: dockerfile, 'bin/entrypoint.sh': '#!/bin/sh\nnode migrate.js\n"$@"\n' }), 'df-entrypoint-exec'), ['df-entrypoint-exec@4']);
  assert.deepEqual(at(lintYaml('services:\n  app:\n    build: .\n', { Dockerfile: dockerfile, 'bin/entrypoint.sh': '#!/bin/sh\nnode migrate.js\nexec "$@"\n' }), 'df-entrypoint-exec'), []);
});

test('the proxy configs docs/proxies.md gives (the rollout tests run them) pass both proxy rules; with the 1 s timeout the tests measured, one fires', () => {
  for (const [name, stack] of [['nginx.conf', nginxStack], ['haproxy.cfg', haproxyStack]] as const) {
    const text = readFileSync(new URL(`../../src/rollout/fixtures/${name}`, import.meta.url), 'utf8');
    assert.deepEqual(at(lintYaml(stack, { [name]: text })).filter((f) => f.startsWith('proxy-')), [], name);
    const short = text.replace(/(proxy_connect_timeout|timeout connect) 3s/, '$1 1s');
    assert.notEqual(short, text, name);
    assert.equal(at(lintYaml(stack, { [name]: short }), 'proxy-connect-timeout').length, 1, name);
  }
});

test('a proxy config that cannot be read is reported as not checked', async () => {
  const { lintProject } = await import('./run.js');
  const { projectFromYaml } = await import('./testing/project.js');
  const result = lintProject(projectFromYaml(nginxStack, '/p/compose.yaml'), { read: () => undefined });
  assert.deepEqual(result.notes.filter((n) => !n.startsWith('image facts')), ['service "proxy": cannot read /p/nginx.conf, proxy config rules skipped']);
});
