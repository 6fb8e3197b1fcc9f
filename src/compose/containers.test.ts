import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compareNames } from './containers.js';

test('compareNames orders as localeCompare does', () => {
  const alphabet = 'abcxyz019AZ._-';
  let seed = 42;
  const random = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const name = () => Array.from({ length: 1 + random(6) }, () => alphabet[random(alphabet.length)]).join('');
  const pairs: Array<[string, string]> = [['app', 'db'], ['socket-proxy', 'proxy'], ['app', 'app2'], ['app', 'app-x'], ['app_1', 'app-1'], ['App', 'app'], ['a', 'a'], ['web10', 'web9']];
  for (let i = 0; i < 20000; i++) {
    const prefix = random(2) ? name() : '';
    pairs.push([prefix + name(), prefix + name()], [prefix + name(), prefix]);
  }
  for (const [a, b] of pairs) assert.equal(Math.sign(compareNames(a, b)), Math.sign(a.localeCompare(b)), `${a} vs ${b}`);
});
