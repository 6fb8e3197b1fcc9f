/**
 * age (https://age-encryption.org/v1) file encryption to X25519 recipients, in Node's own crypto:
 * no binary needed on the server. Streaming: 64 KiB ChaCha20-Poly1305 chunks (STREAM), so
 * artifacts of any size pass through in constant memory. Files are readable by `age -d`.
 */
import { createCipheriv, createDecipheriv, createHmac, createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, hkdfSync, randomBytes, timingSafeEqual, type KeyObject } from 'node:crypto';
import { Transform } from 'node:stream';
import { BerthError } from '../lib/errors.js';

const CHUNK = 64 * 1024;
const TAG = 16;
const VERSION_LINE = 'age-encryption.org/v1';
const X25519_INFO = 'age-encryption.org/v1/X25519';
const SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex');
const PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

// ---- bech32 (BIP 173), as age uses it for keys ----
const CHARSET = 'qpzry9x8gf2tvdw0s3jn54khce6mua7l';
const GENERATOR = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3];

function polymod(values: number[]): number {
  let chk = 1;
  for (const v of values) {
    const top = chk >>> 25;
    chk = ((chk & 0x1ffffff) << 5) ^ v;
    for (let i = 0; i < 5; i++) if ((top >>> i) & 1) chk ^= GENERATOR[i]!;
  }
  return chk;
}

function hrpExpand(hrp: string): number[] {
  const out: number[] = [];
  for (const c of hrp) out.push(c.charCodeAt(0) >>> 5);
  out.push(0);
  for (const c of hrp) out.push(c.charCodeAt(0) & 31);
  return out;
}

function convertBits(data: ArrayLike<number>, from: number, to: number, pad: boolean): number[] {
  let acc = 0;
  let bits = 0;
  const out: number[] = [];
  const maxv = (1 << to) - 1;
  for (let i = 0; i < data.length; i++) {
    acc = (acc << from) | data[i]!;
    bits += from;
    while (bits >= to) {
      bits -= to;
      out.push((acc >>> bits) & maxv);
    }
  }
  if (pad && bits > 0) out.push((acc << (to - bits)) & maxv);
  else if (!pad && (bits >= from || ((acc << (to - bits)) & maxv))) throw new Error('invalid padding');
  return out;
}

export function bech32Encode(hrp: string, data: Buffer): string {
  const words = convertBits(data, 8, 5, true);
  const checksum = polymod([...hrpExpand(hrp), ...words, 0, 0, 0, 0, 0, 0]) ^ 1;
  const check = Array.from({ length: 6 }, (_, i) => (checksum >>> (5 * (5 - i))) & 31);
  return `${hrp}1${[...words, ...check].map((w) => CHARSET[w]).join('')}`;
}

export function bech32Decode(text: string): { hrp: string; data: Buffer } {
  const lower = text.toLowerCase();
  if (lower !== text && text.toUpperCase() !== text) throw new Error('mixed case');
  const sep = lower.lastIndexOf('1');
  if (sep < 1 || sep + 7 > lower.length) throw new Error('no separator');
  const hrp = lower.slice(0, sep);
  const words = [...lower.slice(sep + 1)].map((c) => {
    const v = CHARSET.indexOf(c);
    if (v < 0) throw new Error(`invalid character "${c}"`);
    return v;
  });
  if (polymod([...hrpExpand(hrp), ...words]) !== 1) throw new Error('bad checksum');
  return { hrp, data: Buffer.from(convertBits(words.slice(0, -6), 5, 8, false)) };
}

// ---- keys ----
function publicKeyFromRaw(raw: Buffer): KeyObject {
  return createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: 'der', type: 'spki' });
}

function privateKeyFromRaw(raw: Buffer): KeyObject {
  return createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, raw]), format: 'der', type: 'pkcs8' });
}

function rawPublic(key: KeyObject): Buffer {
  return key.export({ format: 'der', type: 'spki' }).subarray(-32);
}

export function parseRecipient(recipient: string): Buffer {
  try {
    const { hrp, data } = bech32Decode(recipient.trim());
    if (hrp !== 'age' || data.length !== 32) throw new Error('not an X25519 recipient');
    return data;
  } catch (error) {
    throw new BerthError(`invalid age recipient "${recipient}": ${(error as Error).message} (expected age1...)`);
  }
}

/** Reads AGE-SECRET-KEY-1... identities from an identity file's text (comments allowed). */
export function parseIdentities(text: string): Array<{ secret: Buffer; publicKey: Buffer }> {
  const identities = text.split('\n').map((l) => l.trim()).filter((l) => l.startsWith('AGE-SECRET-KEY-1')).map((line) => {
    const { hrp, data } = bech32Decode(line);
    if (hrp !== 'age-secret-key-' || data.length !== 32) throw new BerthError('invalid age identity');
    return { secret: data, publicKey: rawPublic(createPublicKey(privateKeyFromRaw(data))) };
  });
  if (identities.length === 0) throw new BerthError('no AGE-SECRET-KEY-1 identity in the identity file');
  return identities;
}

export function generateIdentity(): { identity: string; recipient: string } {
  const { privateKey, publicKey } = generateKeyPairSync('x25519');
  const secret = privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(-32);
  return { identity: bech32Encode('age-secret-key-', secret).toUpperCase(), recipient: bech32Encode('age', rawPublic(publicKey)) };
}

// ---- format ----
const b64 = (data: Buffer) => data.toString('base64').replace(/=+$/, '');
const unb64 = (text: string) => Buffer.from(text, 'base64');

function hkdf(ikm: Buffer, salt: Buffer, info: string): Buffer {
  return Buffer.from(hkdfSync('sha256', ikm, salt, info, 32));
}

function seal(key: Buffer, nonce: Buffer, plaintext: Buffer): Buffer {
  const cipher = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG });
  return Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
}

function open(key: Buffer, nonce: Buffer, sealed: Buffer): Buffer {
  if (sealed.length < TAG) throw new BerthError('age: truncated ciphertext');
  const decipher = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG });
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG));
  try {
    return Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - TAG)), decipher.final()]);
  } catch {
    throw new BerthError('age: authentication failed (wrong key, or the file was altered)');
  }
}

function wrapBody(body: string): string {
  const lines: string[] = [];
  for (let i = 0; i < body.length; i += 64) lines.push(body.slice(i, i + 64));
  // A body line of exactly 64 columns is never the last one.
  if (body.length % 64 === 0) lines.push('');
  return lines.join('\n');
}

function chunkNonce(counter: number, last: boolean): Buffer {
  const nonce = Buffer.alloc(12);
  nonce.writeUIntBE(counter, 5, 6);
  nonce[11] = last ? 1 : 0;
  return nonce;
}

/** Builds the header (stanzas for each recipient, MAC) and the payload key. */
function header(recipients: Buffer[]): { header: Buffer; payloadKey: Buffer; nonce: Buffer } {
  const fileKey = randomBytes(16);
  let text = `${VERSION_LINE}\n`;
  for (const recipient of recipients) {
    const ephemeral = generateKeyPairSync('x25519');
    const share = rawPublic(ephemeral.publicKey);
    const shared = diffieHellman({ privateKey: ephemeral.privateKey, publicKey: publicKeyFromRaw(recipient) });
    const wrapKey = hkdf(shared, Buffer.concat([share, recipient]), X25519_INFO);
    text += `-> X25519 ${b64(share)}\n${wrapBody(b64(seal(wrapKey, Buffer.alloc(12), fileKey)))}\n`;
  }
  text += '---';
  const mac = createHmac('sha256', hkdf(fileKey, Buffer.alloc(0), 'header')).update(text).digest();
  const nonce = randomBytes(16);
  return { header: Buffer.concat([Buffer.from(`${text} ${b64(mac)}\n`), nonce]), payloadKey: hkdf(fileKey, nonce, 'payload'), nonce };
}

/** Encrypts a stream to the recipients (age1...). */
export class AgeEncrypt extends Transform {
  private readonly payloadKey: Buffer;
  private pending: Buffer = Buffer.alloc(0);
  private counter = 0;

  constructor(recipients: string[]) {
    super();
    if (recipients.length === 0) throw new BerthError('age encryption needs at least one recipient');
    const built = header(recipients.map(parseRecipient));
    this.payloadKey = built.payloadKey;
    this.push(built.header);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: (error?: Error | null) => void): void {
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    // Keep at least one byte back: the final chunk must be marked as such.
    while (this.pending.length > CHUNK) {
      this.push(seal(this.payloadKey, chunkNonce(this.counter++, false), this.pending.subarray(0, CHUNK)));
      this.pending = this.pending.subarray(CHUNK);
    }
    done();
  }

  override _flush(done: (error?: Error | null) => void): void {
    this.push(seal(this.payloadKey, chunkNonce(this.counter++, true), this.pending));
    done();
  }
}

/** Decrypts an age stream with X25519 identities. */
export class AgeDecrypt extends Transform {
  private buffer: Buffer = Buffer.alloc(0);
  private payloadKey: Buffer | undefined;
  private counter = 0;
  private finished = false;

  constructor(private readonly identities: Array<{ secret: Buffer; publicKey: Buffer }>) {
    super();
  }

  private parseHeader(): boolean {
    const end = this.buffer.indexOf('\n---');
    if (end < 0) return false;
    const macEnd = this.buffer.indexOf('\n', end + 4);
    if (macEnd < 0 || this.buffer.length < macEnd + 1 + 16) return false;
    const text = this.buffer.subarray(0, end + 4).toString('latin1');
    const macLine = this.buffer.subarray(end + 1, macEnd).toString('latin1');
    const lines = text.split('\n');
    if (lines[0] !== VERSION_LINE) throw new BerthError('not an age v1 file');
    let fileKey: Buffer | undefined;
    for (let i = 1; i < lines.length - 1; ) {
      const args = lines[i]!.split(' ');
      if (args[0] !== '->') throw new BerthError('age: malformed header');
      let body = '';
      i++;
      for (;;) {
        const line = lines[i++] ?? '';
        body += line;
        if (line.length < 64) break;
      }
      if (args[1] !== 'X25519' || fileKey) continue;
      const share = unb64(args[2] ?? '');
      for (const identity of this.identities) {
        const shared = diffieHellman({ privateKey: privateKeyFromRaw(identity.secret), publicKey: publicKeyFromRaw(share) });
        const wrapKey = hkdf(shared, Buffer.concat([share, identity.publicKey]), X25519_INFO);
        try {
          fileKey = open(wrapKey, Buffer.alloc(12), unb64(body));
          break;
        } catch {
          // not for this identity
        }
      }
    }
    if (!fileKey) throw new BerthError('age: no identity matches a recipient of this file');
    const mac = createHmac('sha256', hkdf(fileKey, Buffer.alloc(0), 'header')).update(text).digest();
    const given = unb64(macLine.slice(4));
    if (given.length !== mac.length || !timingSafeEqual(given, mac)) throw new BerthError('age: header MAC mismatch (the file was altered)');
    const nonce = this.buffer.subarray(macEnd + 1, macEnd + 17);
    this.payloadKey = hkdf(fileKey, Buffer.from(nonce), 'payload');
    this.buffer = this.buffer.subarray(macEnd + 17);
    return true;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: (error?: Error | null) => void): void {
    try {
      this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
      if (!this.payloadKey && !this.parseHeader()) return done();
      while (this.buffer.length > CHUNK + TAG) {
        if (this.finished) throw new BerthError('age: data after the final chunk');
        this.push(open(this.payloadKey!, chunkNonce(this.counter++, false), this.buffer.subarray(0, CHUNK + TAG)));
        this.buffer = this.buffer.subarray(CHUNK + TAG);
      }
      done();
    } catch (error) {
      done(error as Error);
    }
  }

  override _flush(done: (error?: Error | null) => void): void {
    try {
      if (!this.payloadKey) throw new BerthError('age: truncated header');
      this.push(open(this.payloadKey, chunkNonce(this.counter++, true), this.buffer));
      this.finished = true;
      done();
    } catch (error) {
      done(error as Error);
    }
  }
}
