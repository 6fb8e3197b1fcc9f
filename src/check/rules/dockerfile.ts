/** Dockerfile rules: pure functions over a parsed Dockerfile (and build-context files it COPYs). */
import { effective, parseKeyValues, shellWords, substitute, type Dockerfile, type Instruction } from '../dockerfile.js';
import type { DockerfileRule, DockerfileTarget, RuleHit } from '../types.js';
import { imageRef, isFloatingTag } from './util.js';
import { isPackageManager } from '../../lib/commands.js';

const at = (file: string, i: Instruction) => ({ file, line: i.line, column: i.column });
/** The stage judged: the one compose builds (build.target), else the last. */
const judged = (d: Dockerfile, target?: DockerfileTarget) => target?.stageIndex ?? d.stages.length - 1;
const SECRET_NAME = /(PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|ACCESS_?KEY|CREDENTIALS?)(_|$)/i;

/** The words a CMD/ENTRYPOINT runs (exec form as is; shell form split). */
function runWords(i: Instruction): string[] {
  return i.exec ?? shellWords(i.rest);
}

/** Where the build context file for `dest` (an absolute path in the image) came from, via COPY/ADD. */
export function copiedSource(d: Dockerfile, stageIndex: number, dest: string): string | undefined {
  const stage = d.stages[stageIndex];
  if (!stage) return undefined;
  const workdirs: string[] = [];
  let workdir = '/';
  let found: string | undefined;
  for (const i of stage.instructions) {
    if (i.keyword === 'WORKDIR') { workdir = i.rest.startsWith('/') ? i.rest : `${workdir.replace(/\/$/, '')}/${i.rest}`; workdirs.push(workdir); }
    if ((i.keyword !== 'COPY' && i.keyword !== 'ADD') || i.flags.from !== undefined) continue;
    const parts = i.exec ?? shellWords(i.rest);
    if (parts.length < 2) continue;
    let target = parts[parts.length - 1]!;
    if (!target.startsWith('/')) target = `${workdir.replace(/\/$/, '')}/${target}`;
    for (const src of parts.slice(0, -1)) {
      const base = src.split('/').pop()!;
      const resolved = target.endsWith('/') || parts.length > 2 ? `${target.replace(/\/$/, '')}/${base}` : target;
      if (resolved === dest || (target.endsWith('/') && `${target}${base}` === dest)) found = src;
      if (!dest.startsWith('/') && resolved.endsWith(`/${dest}`)) found = src;
    }
  }
  return found;
}

/** For `COPY . DIR` (or `./`): the context-relative path of `path` (absolute, or relative to WORKDIR) under DIR. */
function wholeContextSource(d: Dockerfile, stageIndex: number, path: string): string | undefined {
  let workdir = '/';
  let found: string | undefined;
  for (const i of d.stages[stageIndex]?.instructions ?? []) {
    if (i.keyword === 'WORKDIR') workdir = i.rest.startsWith('/') ? i.rest : `${workdir.replace(/\/$/, '')}/${i.rest}`;
    if ((i.keyword !== 'COPY' && i.keyword !== 'ADD') || i.flags.from !== undefined) continue;
    const parts = i.exec ?? shellWords(i.rest);
    if (parts.length !== 2 || !/^\.\/?$/.test(parts[0]!)) continue;
    const dest = (parts[1]!.startsWith('/') ? parts[1]! : `${workdir.replace(/\/$/, '')}/${parts[1]}`).replace(/\/\.?\/?$/, '').replace(/\/$/, '') || '/';
    const abs = path.startsWith('/') ? path : `${workdir.replace(/\/$/, '')}/${path.replace(/^\.\//, '')}`;
    const prefix = dest === '/' ? '/' : `${dest}/`;
    if (abs.startsWith(prefix)) found = abs.slice(prefix.length);
  }
  return found;
}

/** "the final stage", or "stage NAME (build.target)" when compose builds an earlier one. */
function stageName(d: Dockerfile, index: number, target?: DockerfileTarget): string {
  if (index === d.stages.length - 1 || target === undefined) return 'the final stage';
  return `stage ${d.stages[index]!.name ?? index} (build.target)`;
}

export const dockerfileRules: DockerfileRule[] = [
  {
    id: 'df-exec-form', family: 'dockerfile', severity: 'error', scope: 'dockerfile',
    title: 'CMD and ENTRYPOINT in exec form',
    rationale: 'Shell form (`CMD npm start`) runs `/bin/sh -c`, so sh is PID 1, swallows SIGTERM and the app never sees it; the container is SIGKILLed after the grace period.',
    advice: 'Use exec form: `CMD ["node", "dist/server.js"]`.',
    check: (file, d, _read, target) => {
      const stage = d.stages[judged(d, target)];
      return (stage?.instructions ?? []).filter((i) => (i.keyword === 'CMD' || i.keyword === 'ENTRYPOINT') && !i.exec && i.rest !== '').map((i) => ({ message: `${i.keyword} uses shell form (${i.rest.slice(0, 40)}): /bin/sh becomes PID 1 and swallows SIGTERM`, location: at(file, i) }));
    },
  },
  {
    id: 'df-npm-start', family: 'dockerfile', severity: 'error', scope: 'dockerfile',
    title: 'No npm/yarn/pnpm as the container command',
    rationale: 'npm, yarn and pnpm do not forward signals to the node process: graceful shutdown never runs.',
    advice: 'Run node directly: `CMD ["node", "dist/server.js"]`.',
    check: (file, d, _read, target) => {
      const stage = d.stages[judged(d, target)];
      return (stage?.instructions ?? []).filter((i) => i.keyword === 'CMD' || i.keyword === 'ENTRYPOINT').flatMap((i) => {
        const words = runWords(i);
        const exe = words[0]?.split('/').pop();
        return isPackageManager(exe) ? [{ message: `${i.keyword} runs the app through ${words.slice(0, 2).join(' ')}, which does not forward SIGTERM`, location: at(file, i) }] : [];
      });
    },
  },
  {
    id: 'df-entrypoint-exec', family: 'dockerfile', severity: 'error', scope: 'dockerfile',
    title: 'Entrypoint scripts end with exec "$@"',
    rationale: 'Without `exec`, the script\'s shell stays PID 1 and the app runs as its child: SIGTERM goes to the shell, which ignores it.',
    advice: 'End the entrypoint script with `exec "$@"` (or `exec app ...`).',
    check: (file, d, read, target) => {
      const index = judged(d, target);
      const ep = effective(d, index, 'ENTRYPOINT');
      if (!ep) return [];
      const script = runWords(ep)[0];
      if (!script || !/\.(sh|bash)$|entrypoint/i.test(script)) return [];
      if (/^(tini|dumb-init)$/.test(script.split('/').pop()!)) return [];
      // Look the script up as COPYed into the image (absolute path or by name on the PATH).
      const candidates = script.startsWith('/') ? [script] : [script, `/usr/local/bin/${script}`, `/usr/bin/${script}`, `/${script}`];
      let source: string | undefined;
      for (const c of candidates) source ??= copiedSource(d, index, c);
      if (!source) {
        for (const stage of d.stages) for (const i of stage.instructions) if ((i.keyword === 'COPY' || i.keyword === 'ADD') && !i.flags.from) for (const src of (i.exec ?? shellWords(i.rest)).slice(0, -1)) if (src.split('/').pop() === script.split('/').pop()) source = src;
      }
      // `COPY . /app` (the whole context) and the script under /app: its context path is the rest.
      source ??= wholeContextSource(d, index, script);
      if (!source) return [];
      const text = read(source);
      if (text === undefined) return [];
      if (/^\s*exec\s+\S/m.test(text)) return [];
      return [{ message: `ENTRYPOINT script ${source} does not exec the app ("exec \\"$@\\""); its shell stays PID 1`, location: at(file, ep) }];
    },
  },
  {
    id: 'df-healthcheck', family: 'dockerfile', severity: 'info', scope: 'dockerfile',
    title: 'Images of long-running services define a HEALTHCHECK',
    rationale: 'A HEALTHCHECK in the image travels with it; without one (and none in compose) nobody knows whether the app inside works.',
    advice: 'Add `HEALTHCHECK CMD ["node", "healthcheck.js"]` (or define the healthcheck in compose).',
    check: (file, d, _read, target) => {
      const index = judged(d, target);
      if (index < 0 || effective(d, index, 'HEALTHCHECK') || target?.base?.healthcheck) return [];
      return [{ message: `no HEALTHCHECK in ${stageName(d, index, target)}${target?.base && !target.base.checked ? ` (base image not checked: ${target.base.basis})` : ''}`, location: at(file, d.stages[index]!.from) }];
    },
  },
  {
    id: 'df-user', family: 'dockerfile', severity: 'warning', scope: 'dockerfile',
    title: 'USER is set and not root',
    rationale: 'Without USER the app runs as root; a compromise then has root inside the container, one kernel bug from root on the host.',
    advice: 'Create an unprivileged user and switch to it: `USER node` / `USER 10001`.',
    check: (file, d, _read, target) => {
      const index = judged(d, target);
      if (index < 0) return [];
      const base = imageRef(substitute(d.stages[index]!.image, d.globalArgs));
      if (base && /nonroot|distroless.*nonroot/.test(`${base.repo}:${base.tag ?? ''}`)) return [];
      const user = effective(d, index, 'USER');
      if (!user && target?.base?.nonRootUser) return []; // the base image's USER carries over
      if (!user) return [{ message: `${stageName(d, index, target)} sets no USER: the app runs as root${target?.base?.checked ? ` (its base sets none: ${target.base.basis})` : ''}`, location: at(file, d.stages[index]!.from) }];
      if (/^(root|0)(:.*)?$/.test(user.rest.trim())) return [{ message: `${stageName(d, index, target)} runs as ${user.rest.trim()}`, location: at(file, user) }];
      return [];
    },
  },
  {
    id: 'df-base-latest', family: 'dockerfile', severity: 'warning', scope: 'dockerfile',
    title: 'Pin base images',
    rationale: 'FROM image:latest, no tag, or a tag without a version number (node:lts, python:alpine) makes builds unreproducible: the same Dockerfile builds something else tomorrow.',
    advice: 'Pin a version tag (node:22.11-bookworm-slim), ideally with a digest.',
    check: (file, d) => d.stages.flatMap((stage) => {
      if (stage.parent !== undefined || stage.image.toLowerCase() === 'scratch') return [];
      const image = substitute(stage.image, d.globalArgs);
      if (image.includes('$')) return [];
      const ref = imageRef(image)!;
      if (ref.digest || !isFloatingTag(ref.tag)) return [];
      return [{ message: `FROM ${image} ${!ref.tag ? 'has no tag' : ref.tag === 'latest' ? 'uses latest' : `uses the floating tag "${ref.tag}" (no version number)`}`, location: at(file, stage.from) }];
    }),
  },
  {
    id: 'df-secret-arg-env', family: 'dockerfile', severity: 'error', scope: 'dockerfile',
    title: 'No secrets in ARG or ENV',
    rationale: 'ARG values are recorded in the image history and ENV values ship in the image config: anyone with the image can read them.',
    advice: 'Use BuildKit secrets (`RUN --mount=type=secret,id=npm_token ...`) at build time and compose secrets at run time.',
    check: (file, d) => d.instructions.filter((i) => i.keyword === 'ARG' || i.keyword === 'ENV').flatMap((i) => Object.entries(parseKeyValues(i.rest, i.keyword as 'ARG' | 'ENV')).flatMap(([k, v]): RuleHit[] => {
      if (!SECRET_NAME.test(k) || /_FILE$/i.test(k)) return [];
      if (i.keyword === 'ENV' && (v === undefined || v === '' || /^\$\{?[A-Za-z_]/.test(v) || v.startsWith('/run/secrets/'))) return [];
      return [{ message: `${i.keyword} ${k} ${i.keyword === 'ARG' ? 'passes a secret as a build argument (kept in the image history)' : 'bakes a secret into the image'}`, location: at(file, i) }];
    })),
  },
  {
    id: 'df-add-remote', family: 'dockerfile', severity: 'info', scope: 'dockerfile',
    title: 'COPY instead of ADD',
    rationale: 'ADD fetches URLs and unpacks archives implicitly; an unverified download or a surprise extraction ends up in the image.',
    advice: 'Use COPY for local files; for downloads use `ADD --checksum=sha256:...` or RUN curl with verification.',
    check: (file, d) => d.instructions.filter((i) => i.keyword === 'ADD' && !i.flags.checksum).map((i) => ({ message: `ADD ${i.rest.slice(0, 50)}: use COPY (or ADD --checksum for downloads)`, location: at(file, i) })),
  },
];
