/**
 * `.env` files as Compose reads them (compose-go dotenv): `#` comment lines, optional `export `
 * prefix, `KEY=VALUE` (or `KEY: VALUE`), 'single quotes' literal, "double quotes" with escapes
 * (\n \r \t \\ \" \$) and interpolation, unquoted values trimmed with inline comments after
 * whitespace (` # ...`) removed and interpolation applied. Quoted values may span lines.
 */
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { BerthError } from '../lib/errors.js';
import { interpolateString, type Lookup } from './interpolate.js';

const KEY = /^[A-Za-z_][A-Za-z0-9_.-]*/;

/**
 * Parses .env text. `lookup` resolves variables in values that the file does not define itself
 * (Compose: variables defined earlier in the file first, then the environment).
 */
export function parseDotenv(text: string, file = '.env', lookup: Lookup = () => undefined): Record<string, string> {
  const vars: Record<string, string> = {};
  const resolve: Lookup = (name) => (Object.hasOwn(vars, name) ? vars[name] : lookup(name));
  const src = text.replace(/^\uFEFF/, '').replace(/\r\n?/g, '\n');
  let i = 0;
  let line = 1;
  const fail = (message: string): never => {
    throw new BerthError(`${basename(file)}:${line}: ${message}`, { hint: `in ${file}` });
  };
  while (i < src.length) {
    const end = src.indexOf('\n', i) < 0 ? src.length : src.indexOf('\n', i);
    const raw = src.slice(i, end);
    const trimmed = raw.trim();
    if (trimmed === '' || trimmed.startsWith('#')) {
      i = end + 1;
      line++;
      continue;
    }
    let rest = trimmed.replace(/^export\s+/, '');
    const key = KEY.exec(rest)?.[0];
    if (!key) fail(`invalid line "${trimmed}": expected KEY=VALUE`);
    rest = rest.slice(key!.length).replace(/^[ \t]+/, '');
    if (rest === '' || rest.startsWith('#')) {
      // A bare KEY takes its value from the environment when set (compose-go), else is skipped.
      const fromEnv = lookup(key!);
      if (fromEnv !== undefined) vars[key!] = fromEnv;
      i = end + 1;
      line++;
      continue;
    }
    if (rest[0] !== '=' && rest[0] !== ':') fail(`invalid line "${trimmed}": expected = after ${key}`);
    // Work on the raw source from the value on, because quoted values may span lines.
    const valueStart = i + raw.indexOf(rest) + 1;
    let j = valueStart;
    while (src[j] === ' ' || src[j] === '\t') j++;
    const quote = src[j];
    if (quote === "'" || quote === '"') {
      let k = j + 1;
      let body = '';
      while (k < src.length && src[k] !== quote) {
        if (quote === '"' && src[k] === '\\' && k + 1 < src.length) {
          body += src[k]! + src[k + 1]!;
          k += 2;
          continue;
        }
        body += src[k];
        k++;
      }
      if (k >= src.length) fail(`unterminated ${quote === '"' ? 'double' : 'single'}-quoted value for ${key}`);
      let valueText = body;
      if (quote === '"') {
        valueText = body.replace(/\\(.)/gs, (_, c: string) => (c === 'n' ? '\n' : c === 'r' ? '\r' : c === 't' ? '\t' : c === '$' ? '$$' : c));
        valueText = expand(valueText, resolve);
      }
      vars[key!] = valueText;
      line += src.slice(i, k).split('\n').length - 1;
      const after = src.indexOf('\n', k) < 0 ? src.length : src.indexOf('\n', k);
      i = after + 1;
      line++;
      continue;
    }
    let valueText = src.slice(j, end);
    const comment = /[ \t]#/.exec(valueText);
    if (comment) valueText = valueText.slice(0, comment.index);
    valueText = valueText.trim();
    vars[key!] = expand(valueText, resolve);
    i = end + 1;
    line++;
  }
  return vars;
}

/** Expands variables; a `$` that starts no variable stays literal (compose-go's dotenv is lenient there). */
function expand(text: string, lookup: Lookup): string {
  try {
    return interpolateString(text, { lookup });
  } catch (error) {
    if (error instanceof BerthError && error.message.includes('invalid interpolation format')) return text.replaceAll('$$', '$');
    throw error;
  }
}

export async function readDotenv(file: string, lookup?: Lookup): Promise<Record<string, string>> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new BerthError(`cannot read env file ${file}: ${code === 'ENOENT' ? 'no such file' : (error as Error).message}`, { cause: error });
  }
  return parseDotenv(text, file, lookup);
}
