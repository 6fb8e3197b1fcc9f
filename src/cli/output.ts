/** Rendering for people (text, colours honouring NO_COLOR) and machines (--json). */

export interface Output {
  json: boolean;
  color: boolean;
  /** A line to stdout. */
  line(text?: string): void;
  /** Progress and notes to stderr (never mixed into --json stdout). */
  note(text: string): void;
  /** The machine-readable result. */
  data(value: unknown): void;
  paint: Painter;
}

export interface Painter {
  green(text: string): string;
  red(text: string): string;
  yellow(text: string): string;
  dim(text: string): string;
  bold(text: string): string;
}

export function useColor(stream: NodeJS.WriteStream = process.stdout, env = process.env): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR && env.FORCE_COLOR !== '0') return true;
  return Boolean(stream.isTTY) && env.TERM !== 'dumb';
}

export function painter(enabled: boolean): Painter {
  const wrap = (open: number, close: number) => (text: string) => (enabled ? `\x1b[${open}m${text}\x1b[${close}m` : text);
  return { green: wrap(32, 39), red: wrap(31, 39), yellow: wrap(33, 39), dim: wrap(2, 22), bold: wrap(1, 22) };
}

export function createOutput(options: { json?: boolean; color?: boolean } = {}): Output {
  const color = options.color ?? useColor();
  return {
    json: options.json ?? false,
    color,
    line: (text = '') => process.stdout.write(`${text}\n`),
    note: (text) => process.stderr.write(`${text}\n`),
    data: (value) => process.stdout.write(`${JSON.stringify(value, null, 2)}\n`),
    paint: painter(color),
  };
}

/** Lays out rows as aligned columns (ANSI colour codes do not count towards width). */
export function table(rows: string[][], gap = 2): string {
  const visible = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '').length;
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, visible(cell))));
  return rows
    .map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell + ' '.repeat((widths[i] ?? 0) - visible(cell) + gap))).join('').trimEnd())
    .join('\n');
}
