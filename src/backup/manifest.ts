/**
 * manifest.json proves itself: it carries the sha256 of its own JSON (without that field), so a
 * destination can be read with nothing else (a new server, an empty catalog) and a damaged or
 * edited manifest is recognised as such.
 */
import { createHash } from 'node:crypto';
import type { BackupManifest } from './types.js';

function digest(manifest: BackupManifest): string {
  const { checksum: _ignored, ...rest } = manifest;
  return `sha256:${createHash('sha256').update(JSON.stringify(rest)).digest('hex')}`;
}

/** The manifest with its checksum, ready to be written. */
export function sealManifest(manifest: BackupManifest): BackupManifest {
  return { ...manifest, checksum: digest(manifest) };
}

/** Why a manifest read from a destination cannot be trusted, or undefined when it can. */
export function manifestProblem(manifest: unknown, expectedId?: string): string | undefined {
  const m = manifest as Partial<BackupManifest> | undefined;
  if (!m || typeof m !== 'object') return 'manifest.json is not a JSON object';
  if (m.format !== 'berth-backup/1') return `manifest.json has an unknown format ${JSON.stringify(m.format)}`;
  if (!m.id || !m.project || !m.target || !m.kind || !Array.isArray(m.files)) return 'manifest.json lacks id, project, target, kind or files';
  if (expectedId && m.id !== expectedId) return `manifest.json belongs to ${m.id}, not ${expectedId}`;
  // Manifests written before they carried a checksum are accepted as they are.
  if (m.checksum !== undefined && m.checksum !== digest(m as BackupManifest)) return 'manifest.json does not match its own checksum (damaged or edited)';
  return undefined;
}
