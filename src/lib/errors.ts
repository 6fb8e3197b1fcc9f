/**
 * The one error type every layer throws for conditions a user can act on.
 * The CLI prints `message` as one line (plus `hint`), never a stack trace unless --debug.
 */
export class BerthError extends Error {
  readonly exitCode: number;
  readonly hint: string | undefined;
  /** Warnings gathered before the error (the compose loader's), printed before it. */
  warnings?: string[];

  constructor(message: string, options: { exitCode?: number; hint?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BerthError';
    this.exitCode = options.exitCode ?? 2;
    this.hint = options.hint;
  }
}

/** Exit codes shared by all commands. */
export const ExitCode = {
  ok: 0,
  /** The command ran, and what it checked is not fine (unhealthy, below desired count, findings). */
  degraded: 1,
  /** Bad input: usage, compose file, unknown service. */
  usage: 2,
  /** The engine or Compose could not be reached or failed. */
  engine: 3,
  /** Another berth holds the lock. */
  locked: 4,
  /** Interrupted by a signal. */
  interrupted: 130,
} as const;

export function isBerthError(error: unknown): error is BerthError {
  return error instanceof BerthError;
}

/** A one-line description of any thrown value. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message.split('\n')[0] ?? error.message;
  return String(error);
}

/** A user's value for an error message: JSON-quoted (newlines escaped, so the message stays one line) and clipped. */
export function quoted(value: unknown, max = 80): string {
  const text = typeof value === 'string' ? value : String(JSON.stringify(value) ?? value);
  return JSON.stringify(text.length > max ? `${text.slice(0, max)}…` : text);
}

/** A path or name for an error message, shortened when it is absurdly long (one readable line). */
export function clip(text: string, max = 200): string {
  const line = text.replace(/\s*\n\s*/g, ' ');
  return line.length > max ? `${line.slice(0, max)}…` : line;
}
