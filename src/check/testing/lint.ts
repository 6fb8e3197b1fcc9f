/** Test helper: lint YAML (plus virtual Dockerfiles and context files) with the real runner. */
import { lintProject } from '../run.js';
import type { CheckConfig } from '../config.js';
import type { Finding } from '../types.js';
import { projectFromFiles } from './project.js';

export const DIR = '/project';

export function lintYaml(yaml: string, files: Record<string, string> = {}, config?: CheckConfig): Finding[] {
  const compose = `${DIR}/compose.yaml`;
  const vfs: Record<string, string> = { [compose]: yaml };
  for (const [k, v] of Object.entries(files)) vfs[k.startsWith('/') ? k : `${DIR}/${k}`] = v;
  const project = projectFromFiles([{ path: compose, text: yaml }]);
  return lintProject(project, { read: (p) => vfs[p], config }).findings;
}

/** "rule@line" strings of findings, for exact assertions. */
export const at = (findings: Finding[], rule?: string) => findings.filter((f) => !rule || f.rule === rule).map((f) => `${f.rule}@${f.location?.line}`);
