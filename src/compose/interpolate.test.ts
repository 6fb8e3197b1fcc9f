import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BerthError } from '../lib/errors.js';
import { parseDotenv } from './dotenv.js';
import { interpolateString } from './interpolate.js';

const vars: Record<string, string> = { SET: 'value', EMPTY: '', B: 'bee', PORT: '8080' };
const lookup = (name: string) => vars[name];
const render = (text: string) => interpolateString(text, { lookup });

test('plain and braced variables', () => {
  assert.equal(render('$SET'), 'value');
  assert.equal(render('${SET}'), 'value');
  assert.equal(render('a-$SET-b'), 'a-value-b');
  assert.equal(render('${SET}s and $SET.x'), 'values and value.x');
  assert.equal(render('127.0.0.1:${PORT}:80'), '127.0.0.1:8080:80');
  assert.equal(render('no variables'), 'no variables');
});

test('default operators distinguish unset from empty', () => {
  assert.equal(render('${UNSET:-d}'), 'd');
  assert.equal(render('${EMPTY:-d}'), 'd');
  assert.equal(render('${SET:-d}'), 'value');
  assert.equal(render('${UNSET-d}'), 'd');
  assert.equal(render('${EMPTY-d}'), '');
  assert.equal(render('${SET-d}'), 'value');
  assert.equal(render('${UNSET:-}'), '');
  assert.equal(render('${UNSET:-with spaces and : colons}'), 'with spaces and : colons');
});

test('alternative operators', () => {
  assert.equal(render('${SET:+alt}'), 'alt');
  assert.equal(render('${EMPTY:+alt}'), '');
  assert.equal(render('${UNSET:+alt}'), '');
  assert.equal(render('${SET+alt}'), 'alt');
  assert.equal(render('${EMPTY+alt}'), 'alt');
  assert.equal(render('${UNSET+alt}'), '');
});

test('nested defaults are interpolated only when used', () => {
  assert.equal(render('${UNSET:-${B}}'), 'bee');
  assert.equal(render('${UNSET:-${ALSO_UNSET:-deep}}'), 'deep');
  assert.equal(render('${UNSET:-x${B}y}'), 'xbeey');
  assert.equal(render('${SET:-${MISSING:?never evaluated}}'), 'value');
  assert.equal(render('${SET:+[${B}]}'), '[bee]');
});

test('$$ is a literal dollar and is not interpolated', () => {
  assert.equal(render('$$'), '$');
  assert.equal(render('$$SET'), '$SET');
  assert.equal(render('$${SET}'), '${SET}');
  assert.equal(render('echo $$HOME; $SET'), 'echo $HOME; value');
  assert.equal(render('${UNSET:-$$literal}'), '$literal');
});

test('required variables: :? fails on unset and empty, ? only on unset', () => {
  assert.equal(render('${SET:?needed}'), 'value');
  assert.equal(render('${EMPTY?needed}'), '');
  assert.throws(() => render('${UNSET:?set it in .env}'), (e: unknown) => e instanceof BerthError && e.message === 'required variable UNSET is missing: set it in .env');
  assert.throws(() => render('${EMPTY:?must not be empty}'), /required variable EMPTY is missing: must not be empty/);
  assert.throws(() => render('${UNSET?}'), (e: unknown) => e instanceof BerthError && e.message === 'required variable UNSET is missing');
  const loc = { file: '/p/compose.yaml', line: 7, column: 12 };
  assert.throws(() => interpolateString('${DB_PASSWORD:?set DB_PASSWORD}', { lookup, loc }), (e: unknown) => e instanceof BerthError && e.message === 'compose.yaml:7: required variable DB_PASSWORD is missing: set DB_PASSWORD');
});

test('unset variables without default become empty and are reported once per use', () => {
  const unset: string[] = [];
  assert.equal(interpolateString('a${NOPE}b$NOPE2', { lookup, onUnset: (n) => unset.push(n) }), 'ab');
  assert.deepEqual(unset, ['NOPE', 'NOPE2']);
});

test('invalid templates are errors that suggest $$', () => {
  assert.throws(() => render('cost $5'), /invalid interpolation format.*escape any \$ with another \$/);
  assert.throws(() => render('${UNCLOSED'), /unclosed/);
  assert.throws(() => render('${}'), /invalid interpolation format/);
  assert.throws(() => render('${A:=x}'), /unknown operator/);
  assert.throws(() => render('trailing $'), /invalid interpolation format/);
});

test('.env parsing: comments, export, quotes, escapes, inline comments', () => {
  const text = [
    '# a comment',
    '',
    'PLAIN=value',
    'export EXPORTED=yes',
    'SPACED = padded value  ',
    'INLINE=abc # a comment',
    'HASH=abc#not-a-comment',
    "SINGLE='literal $PLAIN \\n # kept'",
    'DOUBLE="line1\\nline2 \\"q\\" $PLAIN # kept"',
    'EXPANDED=${PLAIN}-x',
    'DEFAULTED=${NOPE:-fallback}',
    'EMPTY=',
    'MULTI="first',
    'second"',
    'COLON: yaml-style',
    'DOLLAR=pa$$word',
    'LONE=cost $5',
    'AFTER=ok',
  ].join('\n');
  const vars = parseDotenv(text, '/p/.env');
  assert.deepEqual(vars, {
    PLAIN: 'value',
    EXPORTED: 'yes',
    SPACED: 'padded value',
    INLINE: 'abc',
    HASH: 'abc#not-a-comment',
    SINGLE: 'literal $PLAIN \\n # kept',
    DOUBLE: 'line1\nline2 "q" value # kept',
    EXPANDED: 'value-x',
    DEFAULTED: 'fallback',
    EMPTY: '',
    MULTI: 'first\nsecond',
    COLON: 'yaml-style',
    DOLLAR: 'pa$word',
    LONE: 'cost $5',
    AFTER: 'ok',
  });
});

test('.env values expand from the file first, then the given environment', () => {
  const vars = parseDotenv('A=file\nB=${A}-${HOME_DIR}\n', '.env', (n) => ({ A: 'env', HOME_DIR: '/home/x' })[n]);
  assert.equal(vars.B, 'file-/home/x');
});

test('.env errors say file and line', () => {
  assert.throws(() => parseDotenv('OK=1\n=nokey\n', '/p/.env'), (e: unknown) => e instanceof BerthError && e.message.startsWith('.env:2: invalid line'));
  assert.throws(() => parseDotenv('A=1\nB="never closed\n', '/p/.env'), /\.env:2: unterminated double-quoted value for B/);
});
