import { readFileSync } from 'node:fs';

// `berth --version` answers without loading the rest of the CLI: it is called by scripts in loops.
const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  process.stdout.write(`${pkg.version}\n`);
} else {
  const { run } = await import('./program.js');
  process.exitCode = await run(process.argv);
}
