/**
 * Builds the socket proxy's container image from a temporary context: the compiled proxy (no
 * tests) and its runtime packages (pino, prom-client, yaml and what they depend on).
 */
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url)); // dist/socket-proxy
const root = join(here, '..', '..');

/** The package closure of the runtime dependencies, found through node_modules package.json files. */
export function runtimePackages(roots = ['pino', 'prom-client', 'yaml']): string[] {
  const seen = new Set<string>();
  const visit = (name: string) => {
    if (seen.has(name)) return;
    const manifest = join(root, 'node_modules', name, 'package.json');
    if (!existsSync(manifest)) return; // optional dependency not installed
    seen.add(name);
    const pkg = JSON.parse(readFileSync(manifest, 'utf8')) as { dependencies?: Record<string, string> };
    for (const dep of Object.keys(pkg.dependencies ?? {})) visit(dep);
  };
  roots.forEach(visit);
  return [...seen].sort();
}

export async function buildSocketProxyImage(tag: string, baseImage = 'local/node:latest'): Promise<void> {
  const context = mkdtempSync(join(tmpdir(), 'berth-socket-proxy-image-'));
  try {
    const app = join(context, 'app');
    for (const file of readdirSync(here)) {
      if (file.endsWith('.js') && !file.includes('.test.') && file !== 'testkit.js' && file !== 'image.js') {
        cpSync(join(here, file), join(app, 'dist', 'socket-proxy', file));
      }
    }
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'berth-socket-proxy', private: true, type: 'module' }, null, 2));
    for (const name of runtimePackages()) cpSync(join(root, 'node_modules', name), join(app, 'node_modules', name), { recursive: true, dereference: true });
    cpSync(join(root, 'src', 'socket-proxy', 'Dockerfile'), join(context, 'Dockerfile'));
    await run('docker', ['build', '-q', '--build-arg', `BASE_IMAGE=${baseImage}`, '-t', tag, context], { maxBuffer: 16 * 1024 * 1024 });
  } finally {
    rmSync(context, { recursive: true, force: true });
  }
}
