/**
 * One log line as people read it: pino and bunyan JSON (numeric levels), other JSON loggers
 * (string `level`/`severity`), logfmt (`level=info msg="..."`), and plain text, which is kept
 * exactly as written. Pure.
 */

export type Level = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';
export const LEVELS: readonly Level[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'];

export interface ParsedLine {
  format: 'pino' | 'bunyan' | 'json' | 'logfmt' | 'plain';
  level?: Level;
  /** The message (plain lines: the whole line). */
  message: string;
  /** The other fields of a structured line, in order (time, level, msg, pid, hostname, v left out). */
  fields: Array<[string, string]>;
  /** The logger's own timestamp, when the line has one. */
  time?: string;
}

/** pino/bunyan numeric levels: 10 trace ... 60 fatal. */
export function levelFromNumber(n: number): Level {
  if (n >= 60) return 'fatal';
  if (n >= 50) return 'error';
  if (n >= 40) return 'warn';
  if (n >= 30) return 'info';
  if (n >= 20) return 'debug';
  return 'trace';
}

export function levelFromName(name: string): Level | undefined {
  const n = name.toLowerCase();
  if (n === 'warning') return 'warn';
  if (n === 'err' || n === 'critical' || n === 'crit' || n === 'alert' || n === 'emergency' || n === 'emerg') return n === 'err' ? 'error' : 'fatal';
  if (n === 'panic') return 'fatal';
  if (n === 'information') return 'info';
  return (LEVELS as readonly string[]).includes(n) ? (n as Level) : undefined;
}

const HIDDEN = new Set(['time', 'timestamp', 'ts', '@timestamp', 'level', 'severity', 'lvl', 'msg', 'message', 'pid', 'hostname', 'v', 'name']);

function show(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

export function parseLine(line: string): ParsedLine {
  const trimmed = line.trim();
  if (trimmed.startsWith('{') && trimmed.endsWith('}')) {
    let obj: Record<string, unknown> | undefined;
    try {
      const value = JSON.parse(trimmed) as unknown;
      if (value && typeof value === 'object' && !Array.isArray(value)) obj = value as Record<string, unknown>;
    } catch {
      obj = undefined;
    }
    if (obj) {
      const rawLevel = obj.level ?? obj.severity ?? obj.lvl;
      const level = typeof rawLevel === 'number' ? levelFromNumber(rawLevel) : typeof rawLevel === 'string' ? levelFromName(rawLevel) : undefined;
      // bunyan writes v: 0 and a name; pino writes neither v nor (by default) a name.
      const format = typeof rawLevel === 'number' ? (obj.v === 0 ? 'bunyan' : 'pino') : 'json';
      const timeValue = obj.time ?? obj.timestamp ?? obj['@timestamp'] ?? obj.ts;
      const time = typeof timeValue === 'number' ? new Date(timeValue > 1e12 ? timeValue : timeValue * 1000).toISOString() : typeof timeValue === 'string' ? timeValue : undefined;
      const fields = Object.entries(obj).filter(([k]) => !HIDDEN.has(k)).map(([k, v]): [string, string] => [k, show(v)]);
      if (format === 'bunyan' && typeof obj.name === 'string') fields.unshift(['name', obj.name]);
      return { format, level, message: show(obj.msg ?? obj.message ?? ''), fields, time };
    }
  }
  const logfmt = parseLogfmt(trimmed);
  if (logfmt) {
    const get = (...keys: string[]) => logfmt.find(([k]) => keys.includes(k))?.[1];
    const rawLevel = get('level', 'lvl', 'severity');
    return {
      format: 'logfmt',
      level: rawLevel ? levelFromName(rawLevel) : undefined,
      message: get('msg', 'message') ?? '',
      fields: logfmt.filter(([k]) => !HIDDEN.has(k)),
      time: get('time', 'ts', 'timestamp'),
    };
  }
  return { format: 'plain', message: line, fields: [] };
}

/**
 * logfmt: `key=value key="quoted value"` pairs and nothing else; a line counts as logfmt only when it
 * has a level or msg key (so `a=b` inside prose stays plain).
 */
export function parseLogfmt(line: string): Array<[string, string]> | undefined {
  const pairs: Array<[string, string]> = [];
  const re = /\s*([A-Za-z_][\w.@-]*)=("(?:[^"\\]|\\.)*"|[^\s"]*)/y;
  let at = 0;
  while (at < line.length) {
    re.lastIndex = at;
    const m = re.exec(line);
    if (!m) return undefined;
    const raw = m[2]!;
    pairs.push([m[1]!, raw.startsWith('"') ? raw.slice(1, -1).replace(/\\(.)/g, '$1') : raw]);
    at = re.lastIndex;
    while (line[at] === ' ') at++;
  }
  return pairs.length >= 2 && pairs.some(([k]) => k === 'level' || k === 'lvl' || k === 'msg') ? pairs : undefined;
}

/** A plain line's level, guessed only from a leading or bracketed level word (for --level and doctor). */
export function plainLevel(line: string): Level | undefined {
  const m = /^\s*(?:\S+\s+){0,3}?\[?(TRACE|DEBUG|INFO|WARN|WARNING|ERROR|FATAL|PANIC|CRITICAL)\]?[\s:]/i.exec(line);
  return m ? levelFromName(m[1]!) : undefined;
}

/** The level a line carries, structured or plain. */
export function lineLevel(parsed: ParsedLine): Level | undefined {
  return parsed.level ?? (parsed.format === 'plain' ? plainLevel(parsed.message) : undefined);
}

/** Whether a line reports an error: error/fatal level, or (plain) the words of a failure. */
export function isErrorLine(parsed: ParsedLine): boolean {
  const level = lineLevel(parsed);
  if (level) return level === 'error' || level === 'fatal';
  return /\b(error|fatal|panic|exception|traceback|segfault|ECONNREFUSED|ENOTFOUND|EAI_AGAIN|out of memory)\b/i.test(parsed.message);
}

export function atLeast(level: Level | undefined, min: Level): boolean {
  return level !== undefined && LEVELS.indexOf(level) >= LEVELS.indexOf(min);
}

/** Renders a structured line readably: `INFO  message key=value`; plain lines are returned untouched. */
export function renderParsed(parsed: ParsedLine, paint?: { red(s: string): string; yellow(s: string): string; dim(s: string): string }): string {
  if (parsed.format === 'plain') return parsed.message;
  const level = (parsed.level ?? '-').toUpperCase().padEnd(5);
  const coloured = !paint ? level : parsed.level === 'error' || parsed.level === 'fatal' ? paint.red(level) : parsed.level === 'warn' ? paint.yellow(level) : parsed.level === 'debug' || parsed.level === 'trace' ? paint.dim(level) : level;
  const fields = parsed.fields.map(([k, v]) => `${k}=${/[\s"]/.test(v) ? JSON.stringify(v) : v}`).join(' ');
  return `${coloured} ${parsed.message}${fields ? ` ${paint ? paint.dim(fields) : fields}` : ''}`;
}
