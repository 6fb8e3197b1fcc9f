/**
 * What a dry run must show besides its steps: per service the image running now and the image it
 * would run (with IDs), and what Compose itself would do to it. `compose up` recreates a service
 * in place when its config hash or its image changed: the old container stops before the new one
 * starts, an outage that `berth rollout` avoids. Planned from facts (pure); gathered read-only.
 */
import type { ComposeRunner } from '../compose/cli.js';
import { ComposeLabel, listServiceContainers } from '../compose/containers.js';
import type { ComposeProject } from '../compose/types.js';
import type { Engine } from '../engine/client.js';
import { errorMessage } from '../lib/errors.js';
import { configHashes } from './run.js';

export interface ServicePreviewFacts {
  service: string;
  /** The image the service should run (the model's), and its ID here (undefined: to pull or build). */
  target: { ref: string; imageId: string | undefined; build: boolean };
  /** Running containers: their image and the config hash Compose labelled them with. */
  running: Array<{ name: string; image: string; imageId: string; configHash: string | undefined }>;
  /** `compose config --hash` now (undefined: Compose could not say). */
  configHash: string | undefined;
}

/** What differs between what runs and what the model says. */
export type ServiceChange = 'create' | 'changed' | 'unchanged' | 'unknown';

export interface ServicePreview {
  service: string;
  current: string;
  target: string;
  change: ServiceChange;
  /** Why, in words: which of image and configuration changed. */
  why: string;
  imageChanged: boolean;
  configChanged: boolean;
}

const short = (id: string | undefined) => (id ? id.replace('sha256:', '').slice(0, 12) : undefined);

function describeImages(images: Array<{ image: string; imageId: string }>): string {
  const distinct = [...new Map(images.map((i) => [i.imageId, i])).values()];
  return distinct.map((i) => `${i.image} (${short(i.imageId)})`).join(', ');
}

export function previewService(f: ServicePreviewFacts): ServicePreview {
  const current = f.running.length ? describeImages(f.running) : 'not running';
  const target = f.target.imageId ? `${f.target.ref} (${short(f.target.imageId)})` : `${f.target.ref} (${f.target.build ? 'to build' : 'to pull'})`;
  const imageChanged = f.target.imageId !== undefined && f.running.some((r) => r.imageId !== f.target.imageId);
  const configChanged = f.configHash !== undefined && f.running.some((r) => r.configHash !== f.configHash);
  const base = { service: f.service, current, target, imageChanged, configChanged };
  if (!f.running.length) return { ...base, change: 'create', why: 'nothing runs' };
  if (imageChanged || configChanged) return { ...base, change: 'changed', why: [imageChanged ? 'its image changed' : '', configChanged ? 'its configuration changed' : ''].filter(Boolean).join(' and ') };
  if (f.target.build) return { ...base, change: 'unknown', why: 'built first: it changes if the build gives a new image' };
  if (f.target.imageId === undefined) return { ...base, change: 'unknown', why: 'its image is not here yet: it changes if the pull gives a new one' };
  if (f.configHash === undefined) return { ...base, change: 'unknown', why: 'Compose could not tell its configuration hash' };
  return { ...base, change: 'unchanged', why: 'same image and configuration' };
}

/** `up --dry-run`: Compose recreates a changed service in place, an outage berth rollout avoids. */
export function renderUpPreview(previews: ServicePreview[] | Error): string {
  if (previews instanceof Error) return `  current images unknown: ${errorMessage(previews)}`;
  return previews.map((p) => {
    const what = p.change === 'create' ? 'Compose creates it'
      : p.change === 'unchanged' ? 'Compose leaves it running'
        : `${p.change === 'changed' ? 'RECREATED IN PLACE' : 'maybe recreated in place'}: the old container stops before the new one starts (an outage; berth rollout ${p.service} has none)`;
    return `  ${p.service}: ${p.current} → ${p.target}\n      ${p.why}: ${what}`;
  }).join('\n');
}

/** `deploy --dry-run`: the rollout replaces changed services beside the old replicas. */
export function renderDeployPreview(previews: ServicePreview[] | Error): string {
  if (previews instanceof Error) return `  current images unknown: ${errorMessage(previews)}`;
  return previews.map((p) => {
    // The rollout replaces replicas for a new image (or --force), not for a configuration change alone.
    const what = p.change === 'create' ? 'first deploy: Compose creates it'
      : p.imageChanged ? 'new replicas beside the old ones (no downtime)'
        : p.configChanged ? 'the rollout replaces replicas only for a new image: pass --force to apply the configuration'
          : p.change === 'unknown' ? 'rolled out if the new image differs'
            : 'left alone';
    return `  ${p.service}: ${p.current} → ${p.target}\n      ${p.why}: ${what}`;
  }).join('\n');
}

/** Reads the facts (containers, images, Compose's config hashes) and previews each service. */
export async function previewServices(engine: Engine, project: ComposeProject, services: string[], compose: () => Promise<ComposeRunner>): Promise<ServicePreview[]> {
  const [hashes, containers] = await Promise.all([configHashes({ compose }, services), listServiceContainers(engine, project.name, { services, includeStopped: false })]);
  return Promise.all(services.map(async (service) => {
    const model = project.services[service]!;
    const ref = model.image ?? `${project.name}_${service}`;
    const image = await engine.inspectImage(ref).catch(() => undefined);
    return previewService({
      service,
      target: { ref, imageId: image?.Id, build: model.hasBuild },
      running: containers.filter((c) => c.service === service && c.state === 'running').map((c) => ({ name: c.name, image: c.image, imageId: c.imageId, configHash: c.labels[ComposeLabel.configHash] })),
      configHash: hashes.get(service),
    });
  }));
}

