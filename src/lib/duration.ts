import { BerthError, quoted } from './errors.js';

const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Parses a Compose/Go duration ("1m30s", "10s", "500ms", "1.5h") into milliseconds.
 * A bare number is taken as seconds, as Compose does for stop_grace_period.
 */
export function parseDuration(value: string | number, what = 'duration'): number {
  if (typeof value === 'number') return value * 1000;
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text) * 1000;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let matched = 0;
  for (const m of text.matchAll(re)) {
    total += Number(m[1]) * (UNIT_MS[m[2]!] ?? 0);
    matched += m[0].length;
  }
  if (matched === 0 || matched !== text.length) {
    throw new BerthError(`invalid ${what} ${quoted(value)}: expected a duration such as 30s, 1m30s or 500ms`);
  }
  return total;
}

/** Formats milliseconds for people: 850ms, 12.3s, 2m05s. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const minutes = Math.floor(ms / 60_000);
  const seconds = Math.round((ms % 60_000) / 1000);
  if (minutes < 60) return `${minutes}m${String(seconds).padStart(2, '0')}s`;
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, '0')}m`;
}
