/** From the compose model to a probe spec, and what PID 1 will be (pure functions). */
import type { ServiceModel } from '../compose/types.js';
import type { Pid1Analysis, ShutdownSpec } from './types.js';
import { isPackageManager } from '../lib/commands.js';
import { scriptExecs } from '../check/rules/util.js';

/**
 * Splits a Compose string command into words the way Compose does (shlex: quotes and backslashes;
 * no variables, no operators). `command: npm start` in a compose file is exec form ["npm", "start"],
 * not a shell form: only a Dockerfile's `CMD npm start` runs through /bin/sh -c.
 */
export function splitWords(text: string): string[] {
  const words: string[] = [];
  let current = '';
  let inWord = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quote) {
      if (ch === quote) quote = undefined;
      else if (ch === '\\' && quote === '"' && (text[i + 1] === '"' || text[i + 1] === '\\')) current += text[++i];
      else current += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      inWord = true;
    } else if (ch === '\\' && i + 1 < text.length) {
      current += text[++i];
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) words.push(current);
      current = '';
      inWord = false;
    } else {
      current += ch;
      inWord = true;
    }
  }
  if (inWord) words.push(current);
  return words;
}

function words(value: unknown): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return splitWords(value);
  if (Array.isArray(value)) return value.map(String);
  return undefined;
}

/**
 * The probe spec of a compose service: same image, command, environment, init, stop signal and grace
 * period, attached to the project's networks. Not copied, on purpose: the service's labels (a proxy
 * such as Traefik would route real traffic to the probe), published ports (only the app port, on
 * 127.0.0.1, with an engine-chosen host port), named volumes (a probe must not touch data).
 * `networkNames` maps the service's network keys to engine names when the project renames them.
 */
export function shutdownSpecFromService(service: ServiceModel, projectName: string, networkNames: Record<string, string> = {}): ShutdownSpec {
  const raw = service.raw;
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(service.environment)) if (value !== null && value !== undefined) env[key] = value;
  const mode = service.networkMode;
  const networks = mode && mode !== 'bridge' && mode !== 'default' ? [] : Object.keys(service.networks).map((key) => networkNames[key] ?? `${projectName}_${key}`);
  const drain = service.berth.rollout.drain;
  const port = service.ports.find((p) => p.protocol === 'tcp')?.target ?? (drain?.strategy === 'readiness' ? drain.port : undefined);
  const binds: string[] = [];
  for (const volume of Array.isArray(raw.volumes) ? raw.volumes : []) {
    if (typeof volume === 'string') {
      if (volume.startsWith('/')) binds.push(volume);
    } else if (volume && typeof volume === 'object') {
      const v = volume as { type?: string; source?: string; target?: string; read_only?: boolean };
      if (v.type === 'bind' && v.source?.startsWith('/') && v.target) binds.push(`${v.source}:${v.target}${v.read_only ? ':ro' : ''}`);
    }
  }
  const entrypoint = words(raw.entrypoint);
  const command = words(raw.command);
  return {
    service: service.name,
    project: projectName,
    // A service that only builds gets the image Compose would tag (v1 project_service).
    image: service.image ?? `${projectName}_${service.name}`,
    ...(entrypoint ? { entrypoint } : {}),
    ...(command ? { command } : {}),
    env,
    networks,
    init: service.init,
    stopSignal: service.stopSignal,
    stopGracePeriodMs: service.stopGracePeriodMs,
    labels: { 'berth.probe': service.name, 'berth.probe.project': projectName },
    ...(typeof raw.working_dir === 'string' ? { workingDir: raw.working_dir } : {}),
    ...(typeof raw.user === 'string' ? { user: raw.user } : {}),
    ...(binds.length ? { binds } : {}),
    ...(port !== undefined ? { port } : {}),
    readinessPath: drain?.strategy === 'readiness' ? drain.path : '/readyz',
    ...(service.berth.shutdownDeadlineMs !== undefined ? { appDeadlineMs: service.berth.shutdownDeadlineMs } : {}),
  };
}

/**
 * The command line the engine runs, as Docker composes it: a service entrypoint replaces the image's
 * and drops the image's CMD unless the service also sets a command.
 */
export function effectiveCommand(
  spec: Pick<ShutdownSpec, 'entrypoint' | 'command'>,
  image: { Entrypoint?: string[] | string | null; Cmd?: string[] | string | null },
): { argv: string[]; source: Pid1Analysis['source'] } {
  const asArray = (v: string[] | string | null | undefined) => (v === null || v === undefined ? undefined : typeof v === 'string' ? splitWords(v) : v);
  const specEntry = asArray(spec.entrypoint);
  const specCmd = asArray(spec.command);
  const entrypoint = specEntry ?? asArray(image.Entrypoint) ?? [];
  const cmd = specCmd ?? (specEntry ? [] : (asArray(image.Cmd) ?? []));
  const fromService = specEntry !== undefined || specCmd !== undefined;
  const fromImage = (specEntry === undefined && entrypoint.length > 0) || (specCmd === undefined && cmd.length > 0);
  return { argv: [...entrypoint, ...cmd], source: fromService && fromImage ? 'service+image' : fromService ? 'service' : 'image' };
}

const SHELLS = new Set(['sh', 'bash', 'dash', 'ash', 'zsh', 'ksh']);
const INITS = new Set(['tini', 'docker-init', 'dumb-init', 'catatonit']);
const base = (path: string) => path.slice(path.lastIndexOf('/') + 1);

/** What PID 1 will be and how it treats SIGTERM, from the command line alone (the probe measures the rest). */
export function analyzePid1(argv: string[], source: Pid1Analysis['source'] = 'image'): Pid1Analysis {
  const first = argv[0];
  if (!first) return { argv, kind: 'unknown', source, note: 'no command: the image has neither ENTRYPOINT nor CMD' };
  const name = base(first);
  if (INITS.has(name)) {
    const rest = argv.slice(1);
    const dashdash = rest.indexOf('--');
    const child = analyzePid1(dashdash >= 0 ? rest.slice(dashdash + 1) : rest.filter((a) => !a.startsWith('-')), source);
    return { ...child, argv, note: `${name} in the command forwards signals to: ${child.note}` };
  }
  if (SHELLS.has(name)) {
    const flag = argv.findIndex((a, i) => i > 0 && /^-[a-z]*c[a-z]*$/.test(a));
    if (flag === -1) return { argv, kind: 'script', source, wrapper: name, note: `${name} runs a script as PID 1: it must end with exec "$@" or signals stop at the shell` };
    const script = (argv[flag + 1] ?? '').trim();
    const firstWord = splitWords(script)[0] ?? '';
    if (/^exec\s/.test(script) && !/[;&|]/.test(script)) {
      return { argv, kind: 'shell-exec', source, wrapper: name, note: `${name} -c "exec ..." replaces the shell with the app, which then receives the signal` };
    }
    // `… && exec app`: the shell runs its setup, then execs the app into PID 1 (as the lint rule shell-exec accepts).
    if (scriptExecs(script)) {
      return { argv, kind: 'shell-exec', source, wrapper: name, note: `${name} -c runs its setup, then exec replaces the shell with the app, which then receives the signal` };
    }
    const pm = isPackageManager(firstWord) ? ` and ${base(firstWord)}` : '';
    return {
      argv,
      kind: 'shell',
      source,
      wrapper: name,
      note: `${name} -c (shell form${pm}) is PID 1: the shell does not forward SIGTERM to "${script.length > 60 ? `${script.slice(0, 57)}...` : script}"`,
    };
  }
  if (isPackageManager(name)) {
    return { argv, kind: 'package-manager', source, wrapper: name, note: `${name} is PID 1 and runs the app through a shell: the signal may never reach the app's handler` };
  }
  if (/\.sh$/.test(name) || /entrypoint/i.test(name)) {
    return { argv, kind: 'script', source, wrapper: name, note: `${name} is PID 1: the script must end with exec "$@" so the app replaces it` };
  }
  return { argv, kind: 'exec', source, note: `exec form: ${name} is PID 1 and receives the signal itself` };
}
