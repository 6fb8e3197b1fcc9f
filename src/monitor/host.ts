/**
 * The host's disk space (the Docker root and each local backup destination), memory and load,
 * read from statfs(2), /proc/meminfo and loadavg: no engine call. Reported under
 * node_exporter's names so the same rules work with or without node_exporter.
 */
import { readFileSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { cpus, loadavg, totalmem } from 'node:os';

export interface FilesystemSample {
  device: string;
  fstype: string;
  mountpoint: string;
  /** The paths berth was asked about that live on it. */
  paths: string[];
  availBytes: number;
  sizeBytes: number;
  files: number;
  filesFree: number;
}

export interface HostSample {
  filesystems: FilesystemSample[];
  memAvailableBytes: number | undefined;
  memTotalBytes: number;
  load1: number;
  cpuCores: number;
}

interface Mount {
  device: string;
  mountpoint: string;
  fstype: string;
}

/** Mounts from /proc/self/mounts (octal escapes decoded). */
export function parseMounts(text: string): Mount[] {
  const unescape = (s: string) => s.replace(/\\(\d{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
  return text
    .split('\n')
    .map((line) => line.split(' '))
    .filter((f) => f.length >= 3)
    .map(([device = '', mountpoint = '', fstype = '']) => ({ device: unescape(device), mountpoint: unescape(mountpoint), fstype }));
}

/** The mount a path lives on: the longest mountpoint that is a prefix of it (the last one mounted wins). */
export function mountOf(path: string, mounts: Mount[]): Mount | undefined {
  let best: Mount | undefined;
  for (const m of mounts) {
    const prefix = m.mountpoint === '/' ? '/' : `${m.mountpoint}/`;
    if ((path === m.mountpoint || path.startsWith(prefix)) && (!best || m.mountpoint.length >= best.mountpoint.length)) best = m;
  }
  return best;
}

export function parseMemAvailable(meminfo: string): number | undefined {
  const m = /^MemAvailable:\s+(\d+) kB/m.exec(meminfo);
  return m ? Number(m[1]) * 1024 : undefined;
}

/** Reads the host now; a path that cannot be read (not mounted into the agent's container) is left out. */
export async function readHost(paths: string[]): Promise<HostSample> {
  let mounts: Mount[] = [];
  try {
    mounts = parseMounts(readFileSync('/proc/self/mounts', 'utf8'));
  } catch {
    // Not Linux: filesystems are reported by path.
  }
  const byMount = new Map<string, FilesystemSample>();
  for (const path of paths) {
    try {
      const s = await statfs(path);
      const mount = mountOf(path, mounts) ?? { device: 'unknown', mountpoint: path, fstype: 'unknown' };
      const known = byMount.get(mount.mountpoint);
      if (known) {
        known.paths.push(path);
        continue;
      }
      byMount.set(mount.mountpoint, {
        ...mount,
        paths: [path],
        // f_bavail: what an unprivileged writer can still use, as node_exporter's avail.
        availBytes: s.bavail * s.bsize,
        sizeBytes: s.blocks * s.bsize,
        files: s.files,
        filesFree: s.ffree,
      });
    } catch {
      // Missing path: nothing to report for it.
    }
  }
  let memAvailableBytes: number | undefined;
  try {
    memAvailableBytes = parseMemAvailable(readFileSync('/proc/meminfo', 'utf8'));
  } catch {
    memAvailableBytes = undefined;
  }
  return { filesystems: [...byMount.values()], memAvailableBytes, memTotalBytes: totalmem(), load1: loadavg()[0] ?? 0, cpuCores: cpus().length };
}
