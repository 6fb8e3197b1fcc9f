/**
 * maintain's prune, planned (pure): which images of the project go and why each kept one stays.
 * Never removed: an image any container uses (of any project), every rollback target berth
 * recorded (berth-keep/<project>-<service>:<deploy> tags), the image each service's compose entry
 * names, and the last N versions of every service (deploy history first, then the newest builds
 * in the service's repository). Only the project's images are considered: tags in the
 * repositories its services name, images its deploy history recorded, and (with --dangling)
 * untagged images.
 */

export interface ImageFact {
  id: string;
  tags: string[];
  /** Unix seconds. */
  created: number;
  size: number;
}

export interface ContainerFact {
  id: string;
  name: string;
  imageId: string;
  /** Of this project (one-off containers are pruned only within the project). */
  mine: boolean;
  oneoff: boolean;
  state: string;
}

export interface HistoryFact {
  id: number;
  service: string;
  result: string;
  imageIdBefore: string | null;
  imageIdAfter: string | null;
}

export interface PruneInput {
  project: string;
  services: Array<{ name: string; imageRef?: string; imageId?: string }>;
  images: ImageFact[];
  containers: ContainerFact[];
  history: HistoryFact[];
  /** berth-keep repository prefix of the project: berth-keep/<project>- */
  keepPrefix: string;
  keep: number;
  dangling: boolean;
}

export interface KeptImage {
  id: string;
  tags: string[];
  reasons: string[];
}

export interface RemovedImage {
  id: string;
  /** Tags removed; empty for an untagged image (removed by id). */
  tags: string[];
  /** Only these tags go: the image has others outside the project and stays. */
  untagOnly: boolean;
  size: number;
  reason: string;
}

export interface PrunePlan {
  keep: KeptImage[];
  remove: RemovedImage[];
  containers: Array<{ id: string; name: string; reason: string }>;
}

/** The repository of an image reference: `local/app:1` -> `local/app`, `host:5000/a/b:t` -> `host:5000/a/b`. */
export function repositoryOf(ref: string): string {
  const noDigest = ref.split('@')[0]!;
  const slash = noDigest.lastIndexOf('/');
  const colon = noDigest.lastIndexOf(':');
  return colon > slash ? noDigest.slice(0, colon) : noDigest;
}

function realTags(tags: string[] | null | undefined): string[] {
  return (tags ?? []).filter((t) => t !== '<none>:<none>');
}

export function planPrune(input: PruneInput): PrunePlan {
  const repos = new Map<string, string>();
  for (const s of input.services) if (s.imageRef) repos.set(repositoryOf(s.imageRef), s.name);
  const historyIds = new Map<string, string>();
  for (const h of input.history) for (const d of [h.imageIdAfter, h.imageIdBefore]) if (d && !historyIds.has(d)) historyIds.set(d, h.service);
  const reasons = new Map<string, string[]>();
  const why = (id: string | undefined, reason: string) => {
    if (!id) return;
    if (!reasons.has(id)) reasons.set(id, []);
    reasons.get(id)!.push(reason);
  };
  const goes = (c: ContainerFact) => c.mine && c.oneoff && c.state !== 'running' && c.state !== 'restarting' && c.state !== 'paused';
  // A stopped one-off container is removed first, so it does not keep its image.
  for (const c of input.containers) if (!goes(c)) why(c.imageId, `used by container ${c.name}${c.state === 'running' ? '' : ` (${c.state})`}`);
  for (const image of input.images) {
    for (const tag of realTags(image.tags)) {
      if (!tag.startsWith(input.keepPrefix)) continue;
      const deploy = /:(\d+)(-before)?$/.exec(tag);
      why(image.id, `rollback target: ${tag}${deploy ? ` (the image ${deploy[2] ? 'before' : 'of'} deploy #${deploy[1]})` : ''}`);
    }
  }
  for (const s of input.services) if (s.imageRef) why(s.imageId, `the image the compose file names for ${s.name} (${s.imageRef})`);
  // The last N versions of each service: its current image, then what it ran, newest deploy first, then newer builds.
  for (const s of input.services) {
    const versions: string[] = [];
    const add = (id: string | null | undefined) => { if (id && !versions.includes(id)) versions.push(id); };
    add(s.imageId);
    for (const h of [...input.history].filter((h) => h.service === s.name).sort((a, b) => b.id - a.id)) {
      if (h.result === 'succeeded') add(h.imageIdAfter);
      add(h.imageIdBefore);
    }
    const repo = s.imageRef ? repositoryOf(s.imageRef) : undefined;
    for (const image of [...input.images].sort((a, b) => b.created - a.created)) if (repo && realTags(image.tags).some((t) => repositoryOf(t) === repo)) add(image.id);
    versions.slice(0, input.keep).forEach((id, i) => why(id, `${s.name}: version ${i + 1} of the last ${input.keep} kept (--keep)`));
  }
  const plan: PrunePlan = { keep: [], remove: [], containers: [] };
  for (const image of input.images) {
    const tags = realTags(image.tags);
    const ours = tags.filter((t) => repos.has(repositoryOf(t)) || t.startsWith(input.keepPrefix));
    const service = ours.map((t) => repos.get(repositoryOf(t))).find(Boolean) ?? historyIds.get(image.id);
    const inScope = ours.length > 0 || historyIds.has(image.id) || (input.dangling && tags.length === 0);
    if (!inScope) continue;
    const kept = reasons.get(image.id);
    if (kept) {
      plan.keep.push({ id: image.id, tags, reasons: kept });
      continue;
    }
    const others = tags.filter((t) => !ours.includes(t));
    if (ours.length === 0 && others.length) continue; // in the history, but now someone else's image: not ours to touch
    const what = service ? `an older version of ${service}` : 'an untagged image';
    plan.remove.push({
      id: image.id,
      tags: ours,
      untagOnly: others.length > 0,
      size: image.size,
      reason: `${what}: not among the last ${input.keep} versions, no rollback target, no container uses it${others.length ? `; only the project's tags go (also tagged ${others.join(', ')})` : ''}`,
    });
  }
  for (const c of input.containers) if (goes(c)) plan.containers.push({ id: c.id, name: c.name, reason: `a stopped one-off container (compose run), ${c.state}` });
  return plan;
}
