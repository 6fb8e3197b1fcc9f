// Facts about the machine a benchmark ran on, written beside every result.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import os from 'node:os';

export function machineFacts() {
  const run = (cmd, args) => { try { return execFileSync(cmd, args, { encoding: 'utf8', timeout: 5000 }).trim(); } catch { return undefined; } };
  return {
    date: new Date().toISOString(),
    host: os.hostname(),
    cpu: os.cpus()[0]?.model,
    cores: os.cpus().length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    docker: run('docker', ['version', '--format', '{{.Server.Version}} (API {{.Server.APIVersion}})']),
    compose: run('docker-compose', ['version', '--short']) ?? run('docker', ['compose', 'version', '--short']),
  };
}

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export function percentile(values, p) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** Writes bench/results/NAME-DATE.json and NAME-latest.json. */
export function writeResult(name, result) {
  const body = JSON.stringify({ benchmark: name, machine: machineFacts(), ...result }, null, 2) + '\n';
  const stamp = new Date().toISOString().slice(0, 19).replace(/[:T]/g, '-');
  const dir = new URL('./results/', import.meta.url);
  writeFileSync(new URL(`${name}-${stamp}.json`, dir), body);
  writeFileSync(new URL(`${name}-latest.json`, dir), body);
  return body;
}
