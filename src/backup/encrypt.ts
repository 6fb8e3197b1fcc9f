/** Encrypting staged files and getting plaintext back for verify and restore (age). */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { ComposeProject } from '../compose/types.js';
import { BerthError } from '../lib/errors.js';
import { AgeDecrypt, AgeEncrypt, parseIdentities } from './age.js';
import { Meter, writePartial } from './artifact.js';
import type { StagedFile } from './sources.js';
import type { ArtifactFile } from './types.js';

export function ageRecipients(project: ComposeProject): string[] {
  return project.berth.backup.encryption?.ageRecipients ?? [];
}

/** Replaces a verified plaintext NAME.partial by NAME.age.partial; the plaintext is removed. */
export async function encryptStaged(file: StagedFile, dir: string, recipients: string[]): Promise<void> {
  const encrypted = await writePartial(dir, `${file.name}.age`, createReadStream(file.partialPath), [new AgeEncrypt(recipients)]);
  await rm(file.partialPath, { force: true });
  file.plaintextSha256 = file.sha256;
  file.plaintextSizeBytes = file.sizeBytes;
  file.encrypted = true;
  file.name = encrypted.name;
  file.partialPath = encrypted.partialPath;
  file.sha256 = encrypted.sha256;
  file.sizeBytes = encrypted.sizeBytes;
}

export function identityFile(project: ComposeProject, env: Record<string, string | undefined> = process.env): string | undefined {
  return env.BERTH_AGE_IDENTITY_FILE || project.berth.backup.encryption?.ageIdentityFile;
}

/**
 * The plaintext of a fetched file: the file itself, or (encrypted) a decrypted copy in the state
 * directory's staging area, checked against the manifest's plaintext sha256.
 */
export async function plaintextOf(file: ArtifactFile, path: string, project: ComposeProject, stateDir: string): Promise<{ path: string; cleanup(): Promise<void> }> {
  if (!file.encrypted) return { path, cleanup: async () => undefined };
  const keyFile = identityFile(project);
  if (!keyFile) throw new BerthError(`${file.name} is age-encrypted: set x-berth.backup.encryption.age_identity_file or BERTH_AGE_IDENTITY_FILE to read it`);
  const identities = parseIdentities(await readFile(keyFile, 'utf8'));
  const dir = join(stateDir, 'staging', 'decrypt');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const out = join(dir, `${process.pid}-${Date.now()}-${file.name.replace(/\.age$/, '')}`);
  const meter = new Meter();
  try {
    await pipeline(createReadStream(path), new AgeDecrypt(identities), meter, createWriteStream(out, { mode: 0o600 }));
  } catch (error) {
    await rm(out, { force: true });
    throw error instanceof BerthError ? error : new BerthError(`cannot decrypt ${file.name}: ${(error as Error).message}`);
  }
  if (file.plaintextSha256 && meter.hash.digest('hex') !== file.plaintextSha256) {
    await rm(out, { force: true });
    throw new BerthError(`${file.name} decrypts to something else than was backed up (plaintext sha256 mismatch)`);
  }
  return { path: out, cleanup: () => rm(out, { force: true }) };
}
