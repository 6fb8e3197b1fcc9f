/**
 * A reader that went away (`berth ... | head -1`): most commands just exit quietly, but one
 * with cleanup to do (containers stopped for a backup, helpers) registers here and is told
 * instead, so it can stop cleanly rather than die mid-way.
 */
const handlers = new Set<() => void>();

/** Registers a handler for a closed stdout/stderr pipe; returns its removal. */
export function onClosedPipe(handler: () => void): () => void {
  handlers.add(handler);
  return () => handlers.delete(handler);
}

/** Tells the registered handlers; false when there are none (the caller exits). */
export function notifyClosedPipe(): boolean {
  for (const handler of handlers) handler();
  return handlers.size > 0;
}
