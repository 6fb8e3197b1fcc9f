/**
 * What can be known about an image without pulling it: from a service's Dockerfile (base image
 * family, package installs, ENTRYPOINT, USER, HEALTHCHECK) or from the image name alone.
 * `undefined` means "cannot tell" — rules stay silent then.
 */
import { effective, stageChain, substitute, type Dockerfile } from './dockerfile.js';
import { imageRef } from './rules/util.js';

export interface ImageFacts {
  /** Whether `curl` / `wget` are on the PATH. */
  curl?: boolean;
  wget?: boolean;
  /** ENTRYPOINT runs an init (tini, dumb-init, s6). */
  init?: boolean;
  /** USER is set to a non-root user. */
  nonRootUser?: boolean;
  /** HEALTHCHECK is defined. */
  healthcheck?: boolean;
  /** How we know (for messages). */
  basis: string;
}

/** Images whose Dockerfile sets an unprivileged USER (checked against their published Dockerfiles). */
const NON_ROOT_IMAGES = /^(grafana\/grafana(-oss|-enterprise)?|prom\/(prometheus|alertmanager|node-exporter|pushgateway|blackbox-exporter)|bitnami\/.+|n8nio\/n8n|keycloak\/keycloak|elasticsearch\/elasticsearch|kibana\/kibana|logstash\/logstash|traefik\/whoami)$/;

/** Whether an image (by name) is known to run as a non-root user; undefined when not known. */
export function knownNonRoot(image: string): boolean | undefined {
  const ref = imageRef(image);
  if (!ref) return undefined;
  if (NON_ROOT_IMAGES.test(ref.repo) || /:nonroot$|-nonroot$/.test(`${ref.repo}:${ref.tag ?? ''}`)) return true;
  return undefined;
}

/** Probe binaries by base image family, only where we are sure. */
export function baseImageFacts(image: string): Pick<ImageFacts, 'curl' | 'wget'> {
  const ref = imageRef(image);
  if (!ref) return {};
  const tag = ref.tag ?? 'latest';
  if (ref.repo === 'scratch' || /distroless|chainguard|-dhi$|^dhi\.io/.test(ref.repo)) return { curl: false, wget: false };
  if (ref.base === 'alpine' || /(^|-)alpine/.test(tag)) return { curl: false, wget: true }; // busybox wget
  if (ref.base === 'busybox') return { curl: false, wget: true };
  const official = ['node', 'python', 'ruby', 'golang', 'openjdk', 'eclipse-temurin', 'php', 'debian', 'ubuntu', 'rust', 'elixir', 'perl'];
  if (official.includes(ref.repo)) {
    if (/slim/.test(tag) || ['debian', 'ubuntu', 'eclipse-temurin', 'php'].includes(ref.repo)) return { curl: false, wget: false };
    // Full official language images are built on buildpack-deps: curl and wget are there.
    return { curl: true, wget: true };
  }
  return {};
}

const INSTALL = /\b(apk\s+add|apt-get\s+install|apt\s+install|yum\s+install|dnf\s+install|microdnf\s+install)\b([^;&|]*)/g;

export function dockerfileFacts(dockerfile: Dockerfile, stageIndex: number): ImageFacts {
  const chain = stageChain(dockerfile, stageIndex);
  const root = chain[chain.length - 1];
  const base = root ? substitute(root.image, dockerfile.globalArgs) : '';
  const facts: ImageFacts = { ...baseImageFacts(base), basis: `Dockerfile (FROM ${base || '?'})` };
  if (base.includes('$')) { delete facts.curl; delete facts.wget; }
  for (const stage of chain) {
    for (const i of stage.instructions) {
      if (i.keyword !== 'RUN') continue;
      const text = [i.args, ...i.heredocs].join('\n');
      for (const m of text.matchAll(INSTALL)) {
        const pkgs = m[2]!.split(/\s+/);
        if (pkgs.includes('curl')) facts.curl = true;
        if (pkgs.includes('wget') || pkgs.includes('busybox')) facts.wget = true;
      }
      if (/\b(apk\s+del|apt-get\s+(purge|remove))\b[^;&|]*\bcurl\b/.test(text)) facts.curl = false;
    }
  }
  const entrypoint = effective(dockerfile, stageIndex, 'ENTRYPOINT');
  if (entrypoint) {
    const first = (entrypoint.exec?.[0] ?? entrypoint.rest.split(/\s+/)[0] ?? '').split('/').pop() ?? '';
    facts.init = /^(tini|tini-static|dumb-init|s6-svscan|init)$/.test(first) || (first === 'docker-init');
  } else if (root && !root.image.includes('$')) {
    facts.init = undefined;
  }
  const user = effective(dockerfile, stageIndex, 'USER');
  facts.nonRootUser = user ? !/^(root|0)(:.*)?$/.test(user.rest.trim()) : undefined;
  const hc = effective(dockerfile, stageIndex, 'HEALTHCHECK');
  facts.healthcheck = hc ? !/^NONE\b/i.test(hc.rest) : undefined;
  return facts;
}
