/**
 * Variable interpolation as Compose does it (compose-go template): `$VAR`, `${VAR}`,
 * `${VAR:-default}`, `${VAR-default}`, `${VAR:?err}`, `${VAR?err}`, `${VAR:+alt}`, `${VAR+alt}`,
 * nested templates in the default/alternative, and `$$` for a literal `$`. Values only, never keys.
 */
import { BerthError, quoted } from '../lib/errors.js';
import { formatLocation, formatPath, type LNode } from './source.js';
import type { SourceLocation } from './types.js';

export type Lookup = (name: string) => string | undefined;

export interface InterpolationContext {
  lookup: Lookup;
  /** Called once per variable that is unset and has no default. */
  onUnset?: (name: string, loc: SourceLocation | undefined) => void;
  /** For messages. */
  loc?: SourceLocation;
  path?: string;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*/;

class TemplateError extends Error {}

/** Interpolates one string. Throws BerthError for a missing required variable or a bad template. */
export function interpolateString(text: string, ctx: InterpolationContext): string {
  try {
    return render(text, ctx);
  } catch (error) {
    if (error instanceof TemplateError) {
      const where = ctx.loc ? `${formatLocation(ctx.loc)}: ` : '';
      const what = ctx.path ? ` for ${ctx.path}` : '';
      throw new BerthError(`${where}invalid interpolation format${what}: ${quoted(text)} (${error.message}); you may need to escape any $ with another $`);
    }
    throw error;
  }
}

function render(text: string, ctx: InterpolationContext): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const dollar = text.indexOf('$', i);
    if (dollar < 0) {
      out += text.slice(i);
      break;
    }
    out += text.slice(i, dollar);
    const next = text[dollar + 1];
    if (next === '$') {
      out += '$';
      i = dollar + 2;
      continue;
    }
    if (next === '{') {
      const close = matchingBrace(text, dollar + 2);
      if (close < 0) throw new TemplateError('unclosed ${');
      out += braced(text.slice(dollar + 2, close), ctx);
      i = close + 1;
      continue;
    }
    const name = NAME.exec(text.slice(dollar + 1))?.[0];
    if (!name) throw new TemplateError(`a $ must be followed by a variable name, { or $`);
    out += value(name, ctx);
    i = dollar + 1 + name.length;
  }
  return out;
}

/** Index of the `}` closing a `${` whose body starts at `start`; nested `${...}` and `$$` are skipped. */
function matchingBrace(text: string, start: number): number {
  let depth = 0;
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (c === '$' && text[i + 1] === '$') {
      i++;
      continue;
    }
    if (c === '$' && text[i + 1] === '{') {
      depth++;
      i++;
      continue;
    }
    if (c === '}') {
      if (depth === 0) return i;
      depth--;
    }
  }
  return -1;
}

function braced(body: string, ctx: InterpolationContext): string {
  const name = NAME.exec(body)?.[0];
  if (!name) throw new TemplateError(`"\${${body}}" does not start with a variable name`);
  const rest = body.slice(name.length);
  if (rest === '') return value(name, ctx);
  const op = /^(:-|:\?|:\+|-|\?|\+)/.exec(rest)?.[0];
  if (!op) throw new TemplateError(`unknown operator in "\${${body}}"`);
  const arg = rest.slice(op.length);
  const current = ctx.lookup(name);
  const set = current !== undefined;
  const nonEmpty = set && current !== '';
  switch (op) {
    case ':-':
      return nonEmpty ? current! : render(arg, ctx);
    case '-':
      return set ? current! : render(arg, ctx);
    case ':+':
      return nonEmpty ? render(arg, ctx) : '';
    case '+':
      return set ? render(arg, ctx) : '';
    case ':?':
    case '?': {
      if (op === ':?' ? nonEmpty : set) return current!;
      const where = ctx.loc ? `${ctx.loc.file === '' ? '' : formatLocation(ctx.loc).replace(/:\d+$/, '')}: ` : '';
      const message = render(arg, ctx);
      throw new BerthError(`${where}required variable ${name} is missing${message ? `: ${message.replace(/\s+/g, ' ').slice(0, 200)}` : ''}`);
    }
  }
  return '';
}

function value(name: string, ctx: InterpolationContext): string {
  const current = ctx.lookup(name);
  if (current === undefined) {
    ctx.onUnset?.(name, ctx.loc);
    return '';
  }
  return current;
}

/**
 * Interpolates every string value of a located tree in place (keys are left alone). Marks scalars
 * that came from a template so the loader can coerce them ("3" → 3) where Compose does.
 */
export function interpolateTree(node: LNode, ctx: InterpolationContext, path: (string | number)[] = []): void {
  if (node.kind === 'scalar') {
    if (typeof node.value === 'string' && node.value.includes('$')) {
      const hadVariable = /\$(?!\$)/.test(node.value.replaceAll('$$', ''));
      node.value = interpolateString(node.value, { ...ctx, loc: node.loc, path: formatPath(path) });
      if (hadVariable) node.interpolated = true;
    }
    return;
  }
  if (node.kind === 'seq') {
    node.items.forEach((item, i) => interpolateTree(item, ctx, [...path, i]));
    return;
  }
  for (const [key, child] of node.entries) interpolateTree(child, ctx, [...path, key]);
}
