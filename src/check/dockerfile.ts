/**
 * A small Dockerfile parser: parser directives (escape), comments, continuation lines, heredocs,
 * exec (JSON array) vs shell form, ARG/ENV key-values and build stages. Pure; keeps line numbers.
 */

export interface Instruction {
  /** Upper-case keyword: FROM, RUN, CMD, ... */
  keyword: string;
  /** Arguments as one logical line (continuations joined, flags included). */
  args: string;
  /** `--flag=value` options in front of the arguments (FROM --platform, COPY --from, ...). */
  flags: Record<string, string>;
  /** Arguments without the flags. */
  rest: string;
  /** For RUN/CMD/ENTRYPOINT/SHELL/HEALTHCHECK CMD: the JSON array when exec form. */
  exec?: string[];
  /** Heredoc bodies attached to this instruction (RUN <<EOF ... EOF). */
  heredocs: string[];
  /** 1-based first and last source lines. */
  line: number;
  endLine: number;
  /** 1-based column of the keyword. */
  column: number;
}

export interface Stage {
  index: number;
  /** FROM image as written (before ARG substitution). */
  image: string;
  /** `AS name`, lower-cased. */
  name?: string;
  /** Index of the stage this one builds on (FROM <earlier stage>). */
  parent?: number;
  from: Instruction;
  instructions: Instruction[];
}

export interface Dockerfile {
  instructions: Instruction[];
  stages: Stage[];
  /** ARGs before the first FROM, with defaults. */
  globalArgs: Record<string, string | undefined>;
  escape: string;
}

const EXEC_FORM = new Set(['RUN', 'CMD', 'ENTRYPOINT', 'SHELL', 'VOLUME']);

export function parseDockerfile(text: string): Dockerfile {
  const lines = text.replace(/\r\n?/g, '\n').split('\n');
  let escape = '\\';
  // Parser directives: only at the very top, before any other comment or instruction.
  for (const line of lines) {
    const m = /^#\s*([a-zA-Z]+)\s*=\s*(\S+)\s*$/.exec(line);
    if (!m) break;
    if (m[1]!.toLowerCase() === 'escape' && (m[2] === '`' || m[2] === '\\')) escape = m[2];
  }
  const instructions: Instruction[] = [];
  let i = 0;
  while (i < lines.length) {
    const raw = lines[i]!;
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#')) { i++; continue; }
    const start = i;
    const column = raw.length - raw.trimStart().length + 1;
    let logical = '';
    let current = raw.trimStart();
    // Join continuation lines; comment and empty lines inside a continuation are dropped.
    for (;;) {
      const body = current.replace(/\s+$/, '');
      if (body.endsWith(escape) && i + 1 < lines.length) {
        logical += body.slice(0, -1);
        i++;
        while (i < lines.length && /^\s*(#.*)?$/.test(lines[i]!) && i + 1 < lines.length) i++;
        current = lines[i]!;
        continue;
      }
      logical += body;
      break;
    }
    const m = /^(\S+)\s*([\s\S]*)$/.exec(logical.trim());
    const keyword = (m?.[1] ?? '').toUpperCase();
    const args = (m?.[2] ?? '').trim();
    // Heredocs: <<EOF / <<-EOF / <<"EOF" in RUN/COPY; bodies follow the instruction line.
    const heredocs: string[] = [];
    for (const h of args.matchAll(/<<(-?)(["']?)([A-Za-z_][A-Za-z0-9_]*)\2/g)) {
      if (!['RUN', 'COPY', 'ADD'].includes(keyword)) break;
      const terminator = h[3]!;
      const body: string[] = [];
      i++;
      while (i < lines.length && (h[1] ? lines[i]!.replace(/^\t+/, '') : lines[i]!) !== terminator) body.push(lines[i++]!);
      heredocs.push(body.join('\n'));
    }
    const { flags, rest } = splitFlags(args);
    const instruction: Instruction = { keyword, args, flags, rest, heredocs, line: start + 1, endLine: i + 1, column };
    if (EXEC_FORM.has(keyword)) {
      const exec = parseJsonArray(rest);
      if (exec) instruction.exec = exec;
    } else if (keyword === 'HEALTHCHECK') {
      const cmd = /^CMD\s+([\s\S]*)$/i.exec(rest);
      const exec = cmd ? parseJsonArray(cmd[1]!) : undefined;
      if (exec) instruction.exec = exec;
    }
    instructions.push(instruction);
    i++;
  }
  return { instructions, ...buildStages(instructions), escape };
}

function splitFlags(args: string): { flags: Record<string, string>; rest: string } {
  const flags: Record<string, string> = {};
  let rest = args;
  for (;;) {
    const m = /^--([a-zA-Z-]+)(?:=(\S*))?\s*/.exec(rest);
    if (!m) break;
    flags[m[1]!] = m[2] ?? 'true';
    rest = rest.slice(m[0].length);
  }
  return { flags, rest };
}

function parseJsonArray(text: string): string[] | undefined {
  const t = text.trim();
  if (!t.startsWith('[')) return undefined;
  try {
    const value: unknown = JSON.parse(t);
    return Array.isArray(value) && value.every((v) => typeof v === 'string') ? (value as string[]) : undefined;
  } catch {
    return undefined;
  }
}

function buildStages(instructions: Instruction[]): { stages: Stage[]; globalArgs: Record<string, string | undefined> } {
  const stages: Stage[] = [];
  const globalArgs: Record<string, string | undefined> = {};
  for (const instruction of instructions) {
    if (instruction.keyword === 'FROM') {
      const parts = instruction.rest.split(/\s+/);
      const image = parts[0] ?? '';
      const name = parts[1]?.toUpperCase() === 'AS' ? parts[2]?.toLowerCase() : undefined;
      const parent = stages.findIndex((s) => s.name !== undefined && s.name === image.toLowerCase());
      stages.push({ index: stages.length, image, name, parent: parent >= 0 ? parent : undefined, from: instruction, instructions: [] });
      continue;
    }
    const stage = stages[stages.length - 1];
    if (stage) stage.instructions.push(instruction);
    else if (instruction.keyword === 'ARG') Object.assign(globalArgs, parseKeyValues(instruction.rest, 'ARG'));
  }
  return { stages, globalArgs };
}

/** ARG/ENV arguments: `K=V K2="v 2"`, ARG `K` without a value, legacy `ENV K value with spaces`. */
export function parseKeyValues(text: string, keyword: 'ARG' | 'ENV' | 'LABEL'): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  const t = text.trim();
  if (keyword === 'ENV' && /^[^\s=]+\s/.test(t) && !/^[^\s=]+=/.test(t)) {
    const m = /^(\S+)\s+([\s\S]*)$/.exec(t)!;
    out[m[1]!] = m[2]!;
    return out;
  }
  const re = /([^\s=]+)(?:=("(?:[^"\\]|\\.)*"|'[^']*'|\S*))?/g;
  for (const m of t.matchAll(re)) {
    let value = m[2];
    if (value !== undefined && /^(["']).*\1$/s.test(value)) value = value.slice(1, -1).replace(/\\(.)/g, '$1');
    out[m[1]!] = value;
  }
  return out;
}

/** The stage chain of `stage`: itself, then the stages it builds on (FROM <stage>). */
export function stageChain(dockerfile: Dockerfile, index: number): Stage[] {
  const chain: Stage[] = [];
  let stage: Stage | undefined = dockerfile.stages[index];
  while (stage && !chain.includes(stage)) {
    chain.push(stage);
    stage = stage.parent === undefined ? undefined : dockerfile.stages[stage.parent];
  }
  return chain;
}

/** The last instruction with `keyword` that applies to the stage (inherited from parent stages). */
export function effective(dockerfile: Dockerfile, index: number, keyword: string): Instruction | undefined {
  for (const stage of stageChain(dockerfile, index)) {
    const found = stage.instructions.filter((i) => i.keyword === keyword).pop();
    if (found) return found;
  }
  return undefined;
}

/** Substitutes $VAR / ${VAR} / ${VAR:-default} from `vars` (unknown ones stay as written). */
export function substitute(text: string, vars: Record<string, string | undefined>): string {
  return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?[-+]([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (whole, a: string | undefined, def: string | undefined, b: string | undefined) => {
    const value = vars[(a ?? b)!];
    if (value !== undefined && value !== '') return value;
    return def ?? whole;
  });
}

/** Shell-like split of a command line (quotes, backslashes); good enough for the first words. */
export function shellWords(text: string): string[] {
  const words: string[] = [];
  let word = '';
  let quote: string | undefined;
  let inWord = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === '\\' && quote === '"' && i + 1 < text.length) word += text[++i];
      else word += c;
    } else if (c === '"' || c === "'") { quote = c; inWord = true; }
    else if (c === '\\' && i + 1 < text.length) { word += text[++i]; inWord = true; }
    else if (/\s/.test(c)) { if (inWord) words.push(word); word = ''; inWord = false; }
    else { word += c; inWord = true; }
  }
  if (inWord) words.push(word);
  return words;
}
