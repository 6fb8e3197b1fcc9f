/** Package managers that run an app through a shell and do not forward SIGTERM to it reliably. */
export const PACKAGE_MANAGERS: ReadonlySet<string> = new Set(['npm', 'yarn', 'pnpm', 'npx', 'bun']);

/** Whether a command word (a path or a name) is one of the package managers above. */
export function isPackageManager(word: string | undefined): boolean {
  return word !== undefined && PACKAGE_MANAGERS.has(word.slice(word.lastIndexOf('/') + 1));
}
