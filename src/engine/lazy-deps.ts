import Module, { createRequire } from 'node:module';

/**
 * dockerode loads its SSH transport (ssh2) and its BuildKit session support (gRPC) when it is
 * imported, about half of its import time, though berth needs them only for ssh:// hosts and
 * BuildKit sessions. Before dockerode is imported, those two modules (each exports one function)
 * are registered in the CommonJS cache as stubs that load the real module on first call.
 */
export function deferHeavyDockerodeModules(): void {
  const require = createRequire(import.meta.url);
  let dockerode: string;
  try {
    dockerode = require.resolve('dockerode');
  } catch {
    return;
  }
  const fromDockerode = createRequire(dockerode);
  const targets = [fromDockerode.resolve('./session.js'), createRequire(fromDockerode.resolve('docker-modem')).resolve('./ssh.js')];
  for (const path of targets) {
    if (require.cache[path]) continue;
    let real: ((...args: unknown[]) => unknown) | undefined;
    const stub = new Module(path);
    stub.filename = path;
    stub.loaded = true;
    stub.exports = function deferred(this: unknown, ...args: unknown[]) {
      if (!real) {
        delete require.cache[path];
        real = require(path) as (...args: unknown[]) => unknown;
      }
      return real.apply(this, args);
    };
    require.cache[path] = stub;
  }
}
