// berth backup against its baselines, side by side in one run (medians of alternating runs):
//   volume: berth's archive-API + gzip + verify + fsync pipeline vs `tar | gzip` of the same
//           volume data on the host, and vs the usual `docker run ... tar | gzip` (goal >= 0.8x throughput);
//   postgres: `berth backup run` (pg_dump -Fc + globals + pg_restore --list verify + sha256 + fsync)
//           vs plain `docker exec db pg_dump -Fc > file` (goal <= 1.1x time);
//   restores (phase by phase in berthPhasesMs; `comparison` says what each side does):
//           `berth backup restore --no-safety-backup` (check first: sha256 of every file; then the restore) vs
//           `docker exec -i db pg_restore --clean --if-exists --single-transaction < dump` (goal <= 1.1x)
//           and vs `tar -xzf` of the same archive into the emptied volume on the host (goal <= 1.2x).
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, openSync, closeSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { median, writeResult } from './machine.mjs';
import { Engine } from '../dist/engine/client.js';
import { StateStore } from '../dist/state/store.js';
import { runBackups } from '../dist/backup/run.js';
import { restoreBackup } from '../dist/backup/restore.js';
import { execInContainer } from '../dist/backup/exec.js';
import { composeLabels, makeProject, startContainer, sql, waitPostgres } from '../dist/backup/testkit.js';
import { removeLabelled } from '../dist/testing/engine.js';

const runs = Number(process.env.BENCH_RUNS ?? 3);
// BENCH_PARTS=restore skips the backup comparisons (one backup of each is still made to restore).
const parts = (process.env.BENCH_PARTS ?? 'volume,postgres,restore').split(',');
const backupRuns = (part) => (parts.includes(part) ? runs : 0);
const id = `bench${Date.now().toString(36)}`;
const label = { 'berth.test': id };
const engine = await Engine.connect();
const work = mkdtempSync(join(tmpdir(), 'berth-bench-backup-'));
const store = StateStore.open(join(work, 'state'));
const seconds = (start) => Number(process.hrtime.bigint() - start) / 1e9;
// CPU seconds, which a shared machine disturbs less than wall time: berth's own (this process)
// plus the engine's (dockerd, which builds the archive and copies streams) vs the baseline's children.
// The engine this bench talks to writes its pid to /var/run/docker.pid (other dockerds may run beside it).
const dockerdPid = (() => { try { return readFileSync('/var/run/docker.pid', 'utf8').trim(); } catch { return undefined; } })();
const dockerdCpu = () => { try { const f = readFileSync(`/proc/${dockerdPid}/stat`, 'utf8').split(') ')[1].split(' '); return (Number(f[11]) + Number(f[12])) / 100; } catch { return 0; } };
const ownCpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; };
const childrenCpu = () => { const f = readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' '); return (Number(f[13]) + Number(f[14])) / 100; };
/** Times berth and its baseline back to back, alternating which goes first; returns [berth, baseline] seconds. */
async function pair(i, berth, baseline) {
  const time = async (fn) => { const start = process.hrtime.bigint(); await fn(); return seconds(start); };
  if (i % 2) { const b = await time(baseline); return [await time(berth), b]; }
  const a = await time(berth);
  return [a, await time(baseline)];
}
/**
 * Times each side back to back, the order rotated every run; returns seconds in the sides' order.
 * `sync` (untimed) before each side: no side starts with the page cache the one before it dirtied
 * (330 MiB after a volume restore), whose writeback otherwise lands on whoever runs next.
 * `settle` (untimed, optional) runs before it: a database's own checkpoint.
 */
async function rotate(i, sides, settle) {
  const times = new Array(sides.length);
  for (let k = 0; k < sides.length; k++) {
    const j = (k + i) % sides.length;
    await settle?.();
    execFileSync('sync');
    const start = process.hrtime.bigint();
    await sides[j]();
    times[j] = seconds(start);
  }
  return times;
}
/** The median of the per-pair ratios: each pair ran under the same load, so load swings cancel. */
const pairedRatio = (a, b) => median(a.map((x, i) => x / b[i]));
const sh = (script, out) => new Promise((resolve, reject) => {
  const fd = out ? openSync(out, 'w') : 'ignore';
  const child = spawn('sh', ['-c', script], { stdio: ['ignore', fd, 'inherit'] });
  child.once('exit', (code) => { if (out) closeSync(fd); code === 0 ? resolve() : reject(new Error(`${script} exited ${code}`)); });
});

// Stopped from outside (Ctrl-C, a timeout): remove what the run made, as at its end.
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    removeLabelled(engine, id).finally(() => {
      rmSync(work, { recursive: true, force: true });
      process.exit(130);
    });
  });
}

let stage = 'setup';
try {
  // ---- volume ----
  const volume = `${id}_data`;
  await engine.docker.createVolume({ Name: volume, Labels: label });
  const seeder = await startContainer(engine, { name: `${id}_app_1`, image: 'local/debian:bookworm', cmd: ['sleep', 'infinity'], init: true, binds: [`${volume}:/data`], labels: { ...label, ...composeLabels(id, 'app') } });
  const seed = [
    'head -c 96M /dev/urandom > /data/random.bin',
    'i=0; while [ $i -lt 40 ]; do seq $((i*100000)) $((i*100000+99999)) | sed "s/^/2026-11-27T01:00:00Z INFO request handled id=/"; i=$((i+1)); done > /data/app.log',
    'mkdir -p /data/small && cd /data/small && i=0; while [ $i -lt 2000 ]; do head -c 8192 /data/app.log > f$i.txt; i=$((i+1)); done',
  ].join(' && ');
  const seeded = await execInContainer(engine, seeder.id, ['bash', '-c', seed]);
  if (seeded.exitCode !== 0) throw new Error(`seeding the volume failed: ${seeded.stderr}`);
  const mountpoint = (await engine.docker.getVolume(volume).inspect()).Mountpoint;
  const sourceBytes = Number(execFileSync('du', ['-sb', mountpoint], { encoding: 'utf8' }).split('\t')[0]);
  const volumeProject = makeProject(id, { app: { backup: { type: 'volume', volumes: [volume], stopContainers: false } } }, { destinations: { local: { type: 'local', path: join(work, 'backups') } } });
  const berthVolume = [], hostTarGzip = [], dockerTarGzip = [], berthVolumeCpu = [], hostTarGzipCpu = [];
  let artifactBytes = 0;
  let lastVolumeBackup;
  for (let i = 0; i < backupRuns('volume'); i++) {
    execFileSync('sync');
    let start = process.hrtime.bigint();
    let cpu0 = ownCpu() + dockerdCpu();
    const report = await runBackups({ engine, store, project: volumeProject, helperLabels: label });
    berthVolume.push(seconds(start));
    lastVolumeBackup = report.results[0].id;
    berthVolumeCpu.push(ownCpu() + dockerdCpu() - cpu0);
    if (!report.ok) throw new Error(report.results[0].error);
    artifactBytes = report.results[0].totalBytes;
    const out = join(work, `host-${i}.tar.gz`);
    start = process.hrtime.bigint();
    cpu0 = childrenCpu();
    await sh(`tar -C '${mountpoint}' -cf - . | gzip -6 && sync`, out);
    hostTarGzip.push(seconds(start));
    hostTarGzipCpu.push(childrenCpu() - cpu0);
    const out2 = join(work, `docker-${i}.tar.gz`);
    start = process.hrtime.bigint();
    await sh(`docker run --rm -v ${volume}:/data:ro --label berth.test=${id} local/debian:bookworm sh -c 'tar -C /data -cf - . | gzip -6' && sync`, out2);
    dockerTarGzip.push(seconds(start));
    rmSync(out); rmSync(out2);
  }
  // Gone before the restores too: they compare the data path (a restore would stop and start it, tar -x would not).
  await engine.docker.getContainer(seeder.id).remove({ force: true });

  // ---- postgres ----
  const db = await startContainer(engine, { name: `${id}_db_1`, image: 'local/postgres:latest', env: ['POSTGRES_USER=app', 'POSTGRES_DB=app', 'POSTGRES_PASSWORD=bench'], labels: { ...label, ...composeLabels(id, 'db') } });
  await waitPostgres(engine, db.id);
  await sql(engine, db.id, 'postgres', "CREATE TABLE events AS SELECT g AS id, now() - g * interval '1 second' AS at, md5(g::text) AS key, repeat(md5((g % 1000)::text), 4) AS body FROM generate_series(1, 1500000) g; CREATE INDEX ON events (key); ANALYZE events;");
  const tableBytes = Number(await sql(engine, db.id, 'postgres', "SELECT pg_total_relation_size('events')"));
  const pgProject = makeProject(id, { db: { backup: { type: 'postgres' }, environment: { POSTGRES_USER: 'app', POSTGRES_DB: 'app' } } }, { destinations: { local: { type: 'local', path: join(work, 'backups') } } });
  const berthPg = [], plainPgDump = [];
  let dumpBytes = 0;
  for (let i = 0; i < backupRuns('postgres'); i++) {
    const out = join(work, `pg-${i}.dump`);
    const [b, p] = await pair(i, async () => {
      const report = await runBackups({ engine, store, project: pgProject });
      if (!report.ok) throw new Error(report.results[0].error);
    }, () => sh(`docker exec ${db.id} pg_dump -Fc -U app -d app && sync`, out));
    berthPg.push(b);
    plainPgDump.push(p);
    dumpBytes = statSync(out).size;
    rmSync(out);
  }

  // ---- restores, alternating with their baselines ----
  stage = 'volume backup for the restores';
  lastVolumeBackup ??= (await runBackups({ engine, store, project: volumeProject, helperLabels: label })).results[0].id;
  stage = 'postgres backup for the restores';
  const pgBackup = (await runBackups({ engine, store, project: pgProject })).results[0].id;
  const pgDumpFile = join(work, 'backups', id, 'db', pgBackup, 'app.pgdump');
  const volumeArchive = join(work, 'backups', id, 'app', lastVolumeBackup, `${volume}.tar.gz`);
  const berthPgRestore = [], plainPgRestore = [], berthVolumeRestore = [], hostTarX = [], checkedPgRestore = [], checkedTarX = [];
  // berth's own account of each restore (RestoreReport.timings), phase by phase.
  const pgRestorePhases = [], volumeRestorePhases = [];
  const pgRestore = `docker exec -i ${db.id} pg_restore -U app -d app --clean --if-exists --single-transaction --exit-on-error < '${pgDumpFile}'`;
  // Postgres' dirty buffers of the side before (and of the bulk load and the backups' first full
  // reads, which set hint bits) are written by a CHECKPOINT before each side, untimed.
  const checkpoint = () => sh(`docker exec ${db.id} psql -U app -d app -qc CHECKPOINT`);
  if (parts.includes('restore')) {
    // Warm-up, untimed: the first restore after the load paid 2-4 s more than the rest (whichever side ran it).
    stage = 'postgres restore warm-up';
    await sh(pgRestore);
  }
  for (let i = 0; i < (parts.includes('restore') ? runs : 0); i++) {
    stage = `postgres restore run ${i}`;
    const [b, p, pc] = await rotate(i, [
      async () => {
        const restored = await restoreBackup({ engine, store, project: pgProject, id: pgBackup, yes: true, safetyBackup: false });
        if (!restored.ok) throw new Error(restored.error);
        pgRestorePhases.push(restored.timings);
      },
      () => sh(pgRestore),
      // The floor of a restore that checks first: the same tool after a sha256 pass over the file.
      () => sh(`sha256sum '${pgDumpFile}' >/dev/null && ${pgRestore}`),
    ], checkpoint);
    berthPgRestore.push(b);
    plainPgRestore.push(p);
    checkedPgRestore.push(pc);
    const tarX = `find '${mountpoint}' -mindepth 1 -delete && tar -C '${mountpoint}' --strip-components=1 --numeric-owner -xpzf '${volumeArchive}'`;
    stage = `volume restore run ${i}`;
    const [bv, pv, vc] = await rotate(i, [
      async () => {
        const restored = await restoreBackup({ engine, store, project: volumeProject, id: lastVolumeBackup, yes: true, safetyBackup: false, helperLabels: label });
        if (!restored.ok) throw new Error(restored.error);
        volumeRestorePhases.push(restored.timings);
      },
      () => sh(tarX),
      () => sh(`sha256sum '${volumeArchive}' >/dev/null && ${tarX}`),
    ]);
    berthVolumeRestore.push(bv);
    hostTarX.push(pv);
    checkedTarX.push(vc);
  }

  /** Median milliseconds of each phase over the runs, in the order of the phases. */
  const phaseMedians = (runsOfPhases) => Object.fromEntries((runsOfPhases[0] ?? []).map(({ phase }) => [phase, median(runsOfPhases.map((r) => r.filter((p) => p.phase === phase).reduce((a, p) => a + p.ms, 0)))]));
  const mb = (bytes, s) => bytes / 2 ** 20 / s;
  const result = {
    runs,
    // Which comparisons ran (BENCH_PARTS): the others hold no samples.
    parts,
    volume: {
      sourceBytes,
      artifactBytes,
      berthSeconds: median(berthVolume),
      hostTarGzipSeconds: median(hostTarGzip),
      dockerRunTarGzipSeconds: median(dockerTarGzip),
      berthMiBps: mb(sourceBytes, median(berthVolume)),
      hostTarGzipMiBps: mb(sourceBytes, median(hostTarGzip)),
      dockerRunTarGzipMiBps: mb(sourceBytes, median(dockerTarGzip)),
      throughputVsHostTarGzip: median(hostTarGzip) / median(berthVolume),
      throughputVsDockerRunTarGzip: median(dockerTarGzip) / median(berthVolume),
      goal: 'throughputVsHostTarGzip >= 0.8',
      // berth also verifies (tar listing, every gzip block decoded back), hashes and fsyncs.
      berthCpuSeconds: median(berthVolumeCpu),
      hostTarGzipCpuSeconds: median(hostTarGzipCpu),
      samples: { berthVolume, hostTarGzip, dockerTarGzip, berthVolumeCpu, hostTarGzipCpu },
    },
    postgres: {
      tableBytes,
      dumpBytes,
      berthSeconds: median(berthPg),
      plainPgDumpSeconds: median(plainPgDump),
      timeVsPlainPgDump: median(berthPg) / median(plainPgDump),
      pairedTimeVsPlainPgDump: pairedRatio(berthPg, plainPgDump),
      goal: 'timeVsPlainPgDump <= 1.1',
      samples: { berthPg, plainPgDump },
    },
    postgresRestore: {
      berthSeconds: median(berthPgRestore),
      plainPgRestoreSeconds: median(plainPgRestore),
      timeVsPlainPgRestore: median(berthPgRestore) / median(plainPgRestore),
      pairedTimeVsPlainPgRestore: pairedRatio(berthPgRestore, plainPgRestore),
      // sha256sum of the dump, then pg_restore: what checking first costs at the least.
      checkedPgRestoreSeconds: median(checkedPgRestore),
      pairedTimeVsCheckedPgRestore: pairedRatio(berthPgRestore, checkedPgRestore),
      goal: 'timeVsPlainPgRestore <= 1.1',
      // What the two sides do, so the ratio is read right.
      comparison: 'berth restore --no-safety-backup (with data in the target a real restore first takes a full safety backup: backup time, not restore time), no dependent containers (none to stop and start, as for the baseline). berth checks the manifest and the sha256 of both files first (the server probe - maintenance db, database present, roles - runs meanwhile), applies globals.sql only when it holds more than settings for roles that exist, then runs the same pg_restore through the Engine API',
      berthPhasesMs: phaseMedians(pgRestorePhases),
      samples: { berthPgRestore, plainPgRestore, checkedPgRestore },
    },
    volumeRestore: {
      berthSeconds: median(berthVolumeRestore),
      hostTarXSeconds: median(hostTarX),
      timeVsHostTarX: median(berthVolumeRestore) / median(hostTarX),
      pairedTimeVsHostTarX: pairedRatio(berthVolumeRestore, hostTarX),
      // sha256sum of the archive, then tar -x: what checking first costs at the least.
      checkedTarXSeconds: median(checkedTarX),
      pairedTimeVsCheckedTarX: pairedRatio(berthVolumeRestore, checkedTarX),
      goal: 'timeVsHostTarX <= 1.2',
      comparison: 'berth restore --no-safety-backup, no container uses the volume (none to stop and start, as for the baseline). berth checks the manifest and sha256 first (its helper container starts meanwhile and changes nothing), empties the volume in the helper and sends the .tar.gz to the engine (putArchive; the engine decompresses and extracts). The baseline runs find -delete and tar -x on the host straight into the volume mountpoint, with no container and no check; checkedTarX adds sha256sum first',
      berthPhasesMs: phaseMedians(volumeRestorePhases),
      samples: { berthVolumeRestore, hostTarX, checkedTarX },
    },
  };
  process.stdout.write(writeResult('backup', result));
} catch (error) {
  // Where it broke: the engine's errors carry no stack into this script.
  process.stderr.write(`bench backup failed at ${stage}: ${error.message}\n`);
  process.exitCode = 1;
} finally {
  store.close();
  await removeLabelled(engine, id);
  rmSync(work, { recursive: true, force: true });
}
