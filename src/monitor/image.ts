/**
 * Builds the berth agent's container image (local/berth) from a temporary context: the compiled
 * dist (no tests), berth's runtime packages, and the node binary that runs this build, whose ABI
 * the native modules (better-sqlite3) were built for (Debian's nodejs is 18; berth needs 20).
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { runtimePackages } from '../socket-proxy/image.js';

const run = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url)); // dist/monitor
const root = join(here, '..', '..');

export async function buildAgentImage(tag = 'local/berth:latest', baseImage = 'local/debian:bookworm'): Promise<void> {
  const context = mkdtempSync(join(tmpdir(), 'berth-agent-image-'));
  try {
    const app = join(context, 'app');
    cpSync(join(root, 'dist'), join(app, 'dist'), { recursive: true, filter: (src) => !/\.test\.(js|d\.ts)$|\/testkit\.js$|\/bundle(\/|$)|\.tsbuildinfo$/.test(src) });
    const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { name: string; version: string; dependencies: Record<string, string> };
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: manifest.name, version: manifest.version, private: true, type: 'module' }, null, 2));
    for (const name of runtimePackages(Object.keys(manifest.dependencies))) cpSync(join(root, 'node_modules', name), join(app, 'node_modules', name), { recursive: true, dereference: true });
    cpSync(process.execPath, join(context, 'node'));
    cpSync(join(root, 'src', 'monitor', 'agent-image', 'Dockerfile'), join(context, 'Dockerfile'));
    await run('docker', ['build', '-q', '--build-arg', `BASE_IMAGE=${baseImage}`, '-t', tag, context], { maxBuffer: 16 * 1024 * 1024 });
  } finally {
    rmSync(context, { recursive: true, force: true });
  }
}
