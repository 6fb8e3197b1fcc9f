/**
 * Retention (keep-last plus grandfather-father-son) as a pure function over the catalog.
 *
 * Guarantees:
 * - only verified backups count towards, and are removed by, retention; failed or running
 *   records are never pruned by it;
 * - ages are measured from the newest verified backup of the target, not from the wall clock,
 *   so a server that was off for a month does not wake up and delete its history;
 * - the newest verified backup is never pruned;
 * - a failed run does not block pruning (it changes nothing the policy counts: only verified
 *   backups count and ages run from the newest verified one); a run in progress does;
 * - safety backups (taken by a restore) never count and are kept `safety_days` (default 7) by
 *   the wall clock, apart from the policy;
 * - backups dated in the future (clock skew) are kept and do not become the anchor;
 * - no policy at all keeps everything.
 */

export interface RetentionPolicy {
  keepLast?: number;
  daily?: number;
  weekly?: number;
  monthly?: number;
  /** Days a safety backup is kept (default 7). */
  safetyDays?: number;
}

export const DEFAULT_SAFETY_DAYS = 7;

export interface RetentionEntry {
  id: string;
  project: string;
  target: string;
  status: 'running' | 'verified' | 'failed' | 'pruned';
  /** UTC ISO timestamp. */
  startedAt: string;
  /** Safety backups are kept for a time, apart from the policy. */
  purpose?: 'backup' | 'safety';
}

export interface RetentionDecision {
  id: string;
  project: string;
  target: string;
  startedAt: string;
  action: 'keep' | 'prune';
  reasons: string[];
}

export interface RetentionPlan {
  decisions: RetentionDecision[];
  /** Targets left alone entirely, with why. */
  skipped: Array<{ project: string; target: string; reason: string }>;
}

const DAY_MS = 86_400_000;

function dayNumber(ms: number): number {
  return Math.floor(ms / DAY_MS);
}

/** Days since the epoch of the Monday starting the ISO week of ms (UTC). */
function weekNumber(ms: number): number {
  const day = dayNumber(ms);
  // 1970-01-01 was a Thursday: shift so weeks start on Monday.
  return Math.floor((day + 3) / 7);
}

function monthNumber(ms: number): number {
  const d = new Date(ms);
  return d.getUTCFullYear() * 12 + d.getUTCMonth();
}

function isoWeekLabel(ms: number): string {
  const d = new Date(ms);
  const target = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
  const dayOfWeek = (target.getUTCDay() + 6) % 7;
  target.setUTCDate(target.getUTCDate() - dayOfWeek + 3);
  const firstThursday = new Date(Date.UTC(target.getUTCFullYear(), 0, 4));
  const week = 1 + Math.round(((target.getTime() - firstThursday.getTime()) / DAY_MS - 3 + ((firstThursday.getUTCDay() + 6) % 7)) / 7);
  return `${target.getUTCFullYear()}-W${String(week).padStart(2, '0')}`;
}

function hasPolicy(policy: RetentionPolicy): boolean {
  return [policy.keepLast, policy.daily, policy.weekly, policy.monthly].some((n) => (n ?? 0) > 0);
}

export function validatePolicy(policy: RetentionPolicy): string[] {
  const problems: string[] = [];
  for (const [key, value] of Object.entries(policy).filter(([k]) => k !== 'safetyDays')) {
    if (value === undefined) continue;
    if (!Number.isInteger(value) || value < 0) problems.push(`retention ${key} must be a whole number ≥ 0, got ${String(value)}`);
  }
  return problems;
}

/**
 * Decides, per project and target, which backups to keep and which to prune.
 * `now` is used only to recognise future-dated backups (clock skew), never to age backups.
 */
export function planRetention(
  entries: ReadonlyArray<RetentionEntry>,
  policy: RetentionPolicy,
  options: { now?: Date; futureToleranceMs?: number } = {},
): RetentionPlan {
  const problems = validatePolicy(policy);
  if (problems.length) throw new Error(problems.join('; '));
  const groups = new Map<string, RetentionEntry[]>();
  const plan: RetentionPlan = { decisions: [], skipped: [] };
  const nowMs = (options.now ?? new Date()).getTime();
  const safetyDays = policy.safetyDays ?? DEFAULT_SAFETY_DAYS;
  for (const entry of entries) {
    if (entry.status === 'pruned') continue;
    if (entry.purpose === 'safety') {
      const ageDays = (nowMs - Date.parse(entry.startedAt)) / DAY_MS;
      const expired = entry.status !== 'running' && ageDays > safetyDays;
      plan.decisions.push({ id: entry.id, project: entry.project, target: entry.target, startedAt: entry.startedAt, action: expired ? 'prune' : 'keep', reasons: [expired ? `safety backup older than ${safetyDays} days` : `safety backup, kept ${safetyDays} days (not counted by retention)`] });
      continue;
    }
    const key = `${entry.project}\u0000${entry.target}`;
    const list = groups.get(key) ?? [];
    list.push(entry);
    groups.set(key, list);
  }
  const futureLimit = options.now ? options.now.getTime() + (options.futureToleranceMs ?? 3_600_000) : Infinity;

  for (const group of groups.values()) {
    const sorted = [...group].sort((a, b) => Date.parse(b.startedAt) - Date.parse(a.startedAt) || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
    const { project, target } = sorted[0]!;
    const keepAll = (reason: string) => {
      for (const e of sorted) plan.decisions.push({ id: e.id, project, target, startedAt: e.startedAt, action: 'keep', reasons: [e.status === 'verified' ? reason : `${e.status}: not counted by retention`] });
    };
    if (!hasPolicy(policy)) {
      keepAll('no retention policy');
      continue;
    }
    const latest = sorted.find((e) => Date.parse(e.startedAt) <= futureLimit) ?? sorted[0]!;
    if (latest.status === 'running') {
      plan.skipped.push({ project, target, reason: `the latest run ${latest.id} is still running: nothing is pruned` });
      keepAll('latest run not verified');
      continue;
    }
    const reasons = new Map<string, string[]>(sorted.map((e) => [e.id, []]));
    const verified: RetentionEntry[] = [];
    for (const e of sorted) {
      if (e.status !== 'verified') reasons.get(e.id)!.push(`${e.status}: not counted by retention`);
      else if (Date.parse(e.startedAt) > futureLimit) reasons.get(e.id)!.push('dated in the future (clock skew?): kept');
      else verified.push(e);
    }
    if (verified.length > 0) {
      const anchor = Date.parse(verified[0]!.startedAt);
      reasons.get(verified[0]!.id)!.push('newest verified backup');
      verified.slice(0, policy.keepLast ?? 0).forEach((e, i) => reasons.get(e.id)!.push(`keep-last ${i + 1}/${policy.keepLast}`));
      const buckets: Array<{ name: string; count: number | undefined; index: (ms: number) => number; label: (ms: number) => string }> = [
        { name: 'daily', count: policy.daily, index: (ms) => dayNumber(anchor) - dayNumber(ms), label: (ms) => new Date(ms).toISOString().slice(0, 10) },
        { name: 'weekly', count: policy.weekly, index: (ms) => weekNumber(anchor) - weekNumber(ms), label: isoWeekLabel },
        { name: 'monthly', count: policy.monthly, index: (ms) => monthNumber(anchor) - monthNumber(ms), label: (ms) => new Date(ms).toISOString().slice(0, 7) },
      ];
      for (const bucket of buckets) {
        if (!bucket.count) continue;
        const taken = new Set<number>();
        for (const e of verified) {
          const ms = Date.parse(e.startedAt);
          const index = bucket.index(ms);
          // Newest first: the first backup seen in a period is the one kept for it.
          if (index < 0 || index >= bucket.count || taken.has(index)) continue;
          taken.add(index);
          reasons.get(e.id)!.push(`${bucket.name} ${bucket.label(ms)}`);
        }
      }
    }
    for (const e of sorted) {
      const why = reasons.get(e.id)!;
      const keep = why.length > 0;
      plan.decisions.push({ id: e.id, project, target, startedAt: e.startedAt, action: keep ? 'keep' : 'prune', reasons: keep ? why : ['outside every retention rule'] });
    }
  }
  return plan;
}
