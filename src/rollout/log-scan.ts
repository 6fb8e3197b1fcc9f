/**
 * The deploy's log scan: the new replicas' first log lines against error patterns, minus an ignore
 * list (x-berth deploy.log_scan). Blocking: a gate in the rollout, after the health gate and before
 * the replicas get traffic, so a finding leaves the old replicas serving (rolled back). Advisory:
 * after the rollout, reported, the deploy still succeeds. The exit code and the history agree.
 */
import type { LogScanConfig } from '../compose/types.js';
import type { Engine } from '../engine/client.js';
import { lastLogLines } from './execute.js';

export const DEFAULT_LOG_SCAN: LogScanConfig = { mode: 'blocking', patterns: ['\\b(error|exception|fatal|panic)\\b'], ignore: [], lines: 50 };

export interface LogFinding {
  container: string;
  line: string;
}

/** The lines that match a pattern and no ignore entry (all case-insensitive). */
export function matchLogLines(lines: string[], scan: Pick<LogScanConfig, 'patterns' | 'ignore'>): string[] {
  const patterns = scan.patterns.map((p) => new RegExp(p, 'i'));
  const ignore = scan.ignore.map((p) => new RegExp(p, 'i'));
  return lines.filter((line) => patterns.some((p) => p.test(line)) && !ignore.some((p) => p.test(line)));
}

export async function scanReplicaLogs(engine: Engine, names: string[], scan: LogScanConfig): Promise<LogFinding[]> {
  const findings: LogFinding[] = [];
  for (const name of names) {
    // The engine's log API tails from the end; a young replica's whole log is short, so read it all and keep the head.
    const lines = (await lastLogLines(engine, name, 2000)).slice(0, scan.lines);
    for (const line of matchLogLines(lines, scan)) findings.push({ container: name, line });
  }
  return findings;
}

export function describeLogScan(scan: LogScanConfig): string {
  return `/${scan.patterns.join('|')}/i${scan.ignore.length ? ` except /${scan.ignore.join('|')}/i` : ''} in the first ${scan.lines} lines`;
}

export function findingsMessage(findings: LogFinding[]): string {
  const first = findings[0]!;
  return `${findings.length} error line(s) in the new replicas' logs: ${first.container}: ${first.line.slice(0, 160)}`;
}

export const LOG_SCAN_HINT = 'a harmless line? add a pattern to x-berth deploy.log_scan.ignore, or set its mode to advisory';
