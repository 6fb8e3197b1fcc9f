/**
 * Address placeholders. The engine hands a reconnecting container the lowest free address of the
 * network; when free addresses lie below an old replica's, its disconnect/reconnect (to leave the
 * service's DNS name) would move it and cut its connections. berth fills those holes for the moment
 * of the reconnect with tiny placeholder containers: an image berth imports itself (a static
 * ~130-byte program that only waits), so no registry and no shell are needed.
 */
import type { Engine } from '../engine/client.js';

export const PLACEHOLDER_IMAGE = 'berth/placeholder:1';
export const PLACEHOLDER_LABEL = 'berth.placeholder';

/** An x86-64 Linux ELF executable: loop { pause() }. */
function pauseElfAmd64(): Buffer {
  const code = Buffer.from([0xb8, 0x22, 0x00, 0x00, 0x00, 0x0f, 0x05, 0xeb, 0xf7]); // mov eax,34; syscall; jmp -9
  const base = 0x400000;
  const headerSize = 64 + 56;
  const file = Buffer.alloc(headerSize + code.length);
  // ELF header
  file.write('\x7fELF', 0, 'latin1');
  file[4] = 2; // 64-bit
  file[5] = 1; // little endian
  file[6] = 1; // version
  file.writeUInt16LE(2, 16); // ET_EXEC
  file.writeUInt16LE(0x3e, 18); // x86-64
  file.writeUInt32LE(1, 20);
  file.writeBigUInt64LE(BigInt(base + headerSize), 24); // entry
  file.writeBigUInt64LE(64n, 32); // program header offset
  file.writeUInt16LE(64, 52); // header size
  file.writeUInt16LE(56, 54); // program header size
  file.writeUInt16LE(1, 56); // one program header
  // Program header: PT_LOAD, R+X, the whole file
  file.writeUInt32LE(1, 64);
  file.writeUInt32LE(5, 68);
  file.writeBigUInt64LE(0n, 72);
  file.writeBigUInt64LE(BigInt(base), 80);
  file.writeBigUInt64LE(BigInt(base), 88);
  file.writeBigUInt64LE(BigInt(file.length), 96);
  file.writeBigUInt64LE(BigInt(file.length), 104);
  file.writeBigUInt64LE(0x1000n, 112);
  code.copy(file, headerSize);
  return file;
}

/** A one-file tar archive (ustar). */
function tarOf(name: string, body: Buffer, mode = 0o755): Buffer {
  const header = Buffer.alloc(512);
  header.write(name, 0, 'utf8');
  header.write(`${mode.toString(8).padStart(7, '0')}\0`, 100);
  header.write('0000000\0', 108);
  header.write('0000000\0', 116);
  header.write(`${body.length.toString(8).padStart(11, '0')}\0`, 124);
  header.write(`${Math.floor(Date.now() / 1000).toString(8).padStart(11, '0')}\0`, 136);
  header.write('        ', 148);
  header.write('0', 156);
  header.write('ustar\0', 257);
  header.write('00', 263);
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  const pad = Buffer.alloc((512 - (body.length % 512)) % 512);
  return Buffer.concat([header, body, pad, Buffer.alloc(1024)]);
}

/** Imports the placeholder image once; undefined when this engine's architecture is not supported. */
export async function ensurePlaceholderImage(engine: Engine): Promise<string | undefined> {
  if (await engine.inspectImage(PLACEHOLDER_IMAGE)) return PLACEHOLDER_IMAGE;
  if (engine.version.arch !== 'amd64' && engine.version.arch !== 'x86_64') return undefined;
  const tar = tarOf('pause', pauseElfAmd64());
  const { Readable } = await import('node:stream');
  const stream = (await engine.call('import the placeholder image', () => (engine.docker.importImage as (src: unknown, opts: unknown) => Promise<unknown>)(Readable.from([tar]), { repo: 'berth/placeholder', tag: '1', changes: ['ENTRYPOINT ["/pause"]', `LABEL ${PLACEHOLDER_LABEL}=image`] }))) as NodeJS.ReadableStream;
  await new Promise((resolve, reject) => engine.docker.modem.followProgress(stream, (error: unknown) => (error ? reject(error) : resolve(undefined))));
  return PLACEHOLDER_IMAGE;
}

function ipToInt(ip: string): number {
  return ip.split('.').reduce((n, part) => n * 256 + Number(part), 0);
}

function intToIp(n: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.');
}

/** Free addresses of a network below `address` (pure): subnet minus network, gateway and used addresses. */
export function holesBelow(subnet: string, gateway: string | undefined, used: string[], address: string): string[] {
  const [base, bits] = subnet.split('/');
  if (!base || !bits || base.includes(':')) return [];
  const start = ipToInt(base);
  const gw = gateway ? ipToInt(gateway) : start + 1;
  const taken = new Set(used.map(ipToInt));
  const holes: string[] = [];
  for (let n = start + 1; n < ipToInt(address); n++) {
    if (n === gw || taken.has(n)) continue;
    holes.push(intToIp(n));
  }
  return holes;
}

/**
 * Fills the holes below `address` on `network` with placeholders; returns a function that removes
 * them. At most `max` holes are filled (more would mean a network berth should not churn).
 */
export async function fillHoles(engine: Engine, network: string, address: string, labels: Record<string, string>, max = 32): Promise<{ filled: number; release: () => Promise<void> }> {
  const info = await engine.call(`inspect network ${network}`, () => engine.docker.getNetwork(network).inspect());
  const config = (info.IPAM?.Config ?? []).find((c: { Subnet?: string }) => c.Subnet && !c.Subnet.includes(':')) as { Subnet: string; Gateway?: string } | undefined;
  if (!config) return { filled: 0, release: async () => undefined };
  const used = Object.values((info.Containers ?? {}) as Record<string, { IPv4Address?: string }>).map((c) => (c.IPv4Address ?? '').split('/')[0]!).filter(Boolean);
  const holes = holesBelow(config.Subnet, config.Gateway, used, address);
  if (holes.length === 0 || holes.length > max) return { filled: 0, release: async () => undefined };
  const image = await ensurePlaceholderImage(engine);
  if (!image) return { filled: 0, release: async () => undefined };
  const ids: string[] = [];
  const release = async () => {
    await Promise.all(ids.map((id) => engine.docker.getContainer(id).remove({ force: true }).catch(() => undefined)));
  };
  try {
    // One at a time: each takes the lowest free address, so they fill the holes from the bottom.
    for (let i = 0; i < holes.length; i++) {
      const container = await engine.docker.createContainer({
        Image: image,
        Labels: { ...labels, [PLACEHOLDER_LABEL]: network },
        HostConfig: { NetworkMode: network, AutoRemove: false, Memory: 8 * 1024 * 1024 },
        NetworkingConfig: { EndpointsConfig: { [network]: {} } },
      });
      ids.push(container.id);
      await container.start();
    }
  } catch (error) {
    await release();
    throw error;
  }
  return { filled: ids.length, release };
}

/** Removes placeholders a crashed berth left for this project. */
export async function removePlaceholders(engine: Engine, project: string): Promise<number> {
  const left = await engine.listContainers([`${PLACEHOLDER_LABEL}.project=${project}`]);
  await Promise.all(left.map((c) => engine.docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
  return left.length;
}
