/**
 * `berth debug SERVICE`, planned (pure): the helper container beside a target that has no shell.
 * It shares the target's pid and network namespaces, sees the target's filesystem read-only at
 * /target (the container's root, and its volumes and bind mounts at their own paths), and gets every
 * busybox tool on its PATH. The docker debug of Docker Desktop, without Desktop.
 */
import type Docker from 'dockerode';
import { helperLabels } from '../helper.js';

export interface DebugPlan {
  target: string;
  targetId: string;
  image: string;
  command: string[];
  interactive: boolean;
  /** What the helper gets, each with why. */
  parts: Array<{ what: string; reason: string }>;
  create: Docker.ContainerCreateOptions;
}

/** Installs busybox's applets into a tmpfs on PATH (the helper image may link only a few), then runs the command. */
const BOOT = 'busybox mkdir -p /tmp/bin && busybox --install -s /tmp/bin && export PATH=/tmp/bin:$PATH && cd /target 2>/dev/null; exec "$@"';

export function planDebug(target: Docker.ContainerInspectInfo, options: { image: string; command: string[]; interactive: boolean; tty: boolean; readWriteProc?: boolean }): DebugPlan {
  const name = target.Name.replace(/^\//, '');
  const merged = (target.GraphDriver?.Data as Record<string, string> | undefined)?.MergedDir;
  const command = options.command.length ? options.command : ['sh'];
  const binds: string[] = [];
  const parts: DebugPlan['parts'] = [
    { what: `pid namespace of ${name}`, reason: 'ps, top and kill see its processes; /proc/1 is its PID 1' },
    { what: `network namespace of ${name}`, reason: 'its interfaces, its DNS, its localhost: netstat, nslookup, wget, nc from where it stands' },
  ];
  if (merged) {
    binds.push(`${merged}:/target:ro`);
    parts.push({ what: `its filesystem at /target, read-only`, reason: 'look, never change: the container\'s own root (overlay merged directory)' });
  } else {
    parts.push({ what: 'no /target', reason: `the storage driver (${target.Driver}) exposes no merged directory; its files are under /proc/1/root` });
  }
  const volumes = (target.Mounts ?? []).filter((m) => m.Destination);
  const clash = volumes.find((m) => m.Destination === '/tmp' || m.Destination === '/target' || m.Destination.startsWith('/target/'));
  if (clash) parts.push({ what: 'no volumes of the target', reason: `it mounts ${clash.Destination}, where the helper has its own; see them under /proc/1/root${clash.Destination}` });
  else if (volumes.length) parts.push({ what: `its volumes and bind mounts, read-only, at their own paths (${volumes.map((m) => m.Destination).join(', ')})`, reason: 'data the root filesystem does not hold' });
  parts.push({ what: `busybox tools from ${options.image} on PATH, a tmpfs /tmp`, reason: 'a shell and tools the target image does not have; the helper\'s own root is read-only' });
  parts.push({ what: 'removed on exit', reason: 'nothing stays behind (auto-remove, and removed by berth as well)' });
  const create: Docker.ContainerCreateOptions = {
    Image: options.image,
    Entrypoint: ['busybox', 'sh', '-c', BOOT, 'berth-debug'],
    Cmd: command,
    Tty: options.tty,
    OpenStdin: options.interactive,
    StdinOnce: options.interactive,
    AttachStdin: options.interactive,
    AttachStdout: true,
    AttachStderr: true,
    Env: ['PS1=berth-debug:' + name + ':\\w\\$ ', 'HOME=/tmp'],
    Labels: helperLabels('debug-helper', target),
    HostConfig: {
      PidMode: `container:${target.Id}`,
      NetworkMode: `container:${target.Id}`,
      VolumesFrom: clash || !volumes.length ? undefined : [`${target.Id}:ro`],
      Binds: binds,
      ReadonlyRootfs: true,
      Tmpfs: { '/tmp': 'rw,exec,nosuid,size=64m' },
      // Reading another user's /proc/PID (environ, fd, root) needs ptrace access.
      CapAdd: ['SYS_PTRACE'],
      AutoRemove: true,
    },
  };
  return { target: name, targetId: target.Id, image: options.image, command, interactive: options.interactive, parts, create };
}
