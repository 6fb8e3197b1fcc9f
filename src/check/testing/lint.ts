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

/** Stylish output with wrapped messages joined back onto their line (before the rule), to match rows. */
export function unwrapStylish(text: string): string {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    if (/^ {10,}\S/.test(line) && out.length) out[out.length - 1] = out[out.length - 1]!.replace(/^(.*?\S)( {2,}\S+(?: \(fixable\))?)$/, `$1 ${line.trim()}$2`);
    else out.push(line);
  }
  return out.join('\n');
}
