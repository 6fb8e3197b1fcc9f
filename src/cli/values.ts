/**
 * Flag values, checked up front: as commander parses the command line, before any work starts (no
 * half-run command, no `internal error` from deep inside). Any command uses them as an option's
 * parser: `.option('--timeout <duration>', '…', value.duration())`, or
 * `new Option(…).argParser(value.port())`. Each returns the text as given, once it is valid, so
 * that a command's flags keep their types; the command parses it again where it uses it.
 * A bad value ends as one line, `berth: option '--timeout <duration>' argument '0s' is invalid.
 * expected …`, exit 2.
 */
import { InvalidArgumentError } from 'commander';
import { parseDuration } from '../lib/duration.js';
import { suggestion } from '../lib/suggest.js';

export { closest, suggestion } from '../lib/suggest.js';

type Parser = (value: string) => string;

/** Marks the parsers made here, so the CLI conformance test knows which options refuse bad values. */
export const VALIDATES = Symbol.for('berth.validatesFlagValue');

function checked(test: (value: string) => string | undefined): Parser {
  const parse: Parser = (value) => {
    const problem = test(value);
    if (problem) throw new InvalidArgumentError(problem);
    return value;
  };
  return Object.assign(parse, { [VALIDATES]: true });
}

const EXAMPLES = 'such as 30s, 1m30s or 500ms';

function durationMs(value: string): number | undefined {
  try {
    return parseDuration(value);
  } catch {
    return undefined;
  }
}

/** A whole number, from the text (no "1e3", no "12abc", no "1.5"). */
function wholeNumber(value: string): number | undefined {
  return /^\d+$/.test(value.trim()) ? Number(value) : undefined;
}

export const value = {
  /** A duration above 0 (a timeout of 0 would fail at once); `{ zero: true }`: 0 allowed (0s: "do not wait"). */
  duration(options: { zero?: boolean } = {}): Parser {
    return checked((v) => {
      const ms = durationMs(v);
      if (ms === undefined) return `expected a duration ${EXAMPLES}`;
      if (ms <= 0 && !options.zero) return `expected a duration above 0, ${EXAMPLES}`;
      return undefined;
    });
  },

  /** A whole number ≥ min (default 1). */
  integer(options: { min?: number; max?: number } = {}): Parser {
    const min = options.min ?? 1;
    return checked((v) => {
      const n = wholeNumber(v);
      if (n === undefined || n < min || (options.max !== undefined && n > options.max)) {
        return `expected a whole number ${options.max !== undefined ? `from ${min} to ${options.max}` : `≥ ${min}`}`;
      }
      return undefined;
    });
  },

  /** A TCP port, 1-65535. */
  port(): Parser {
    return checked((v) => (portProblem(v)));
  },

  /** HOST:PORT, :PORT or [IPv6]:PORT, with a valid port. */
  hostPort(): Parser {
    return checked((v) => {
      const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]*):([^:]+)$/.exec(v);
      if (!m) return 'expected HOST:PORT, :PORT or [IPv6]:PORT';
      return portProblem(m[2]!);
    });
  },

  /** One of the given words. */
  oneOf(choices: readonly string[]): Parser {
    return checked((v) => (choices.includes(v) ? undefined : `expected one of ${choices.join(', ')}${suggestion(v, choices)}`));
  },

  /** A drain spec: 2s | wait:2s | readiness:3s | file:PATH[:2s] | hook:CMD. */
  drain(): Parser {
    return checked(drainProblem);
  },
};

function portProblem(text: string): string | undefined {
  const n = wholeNumber(text);
  return n === undefined || n < 1 || n > 65535 ? `expected a port from 1 to 65535, got "${text}"` : undefined;
}

export const DRAIN_STRATEGIES = 'DURATION, wait:DURATION, readiness[:DURATION], file:PATH[:DURATION] or hook:COMMAND';

/** Why a drain spec is not valid (undefined: it is). */
export function drainProblem(spec: string): string | undefined {
  const [kind, ...rest] = spec.split(':');
  const tail = rest.join(':');
  const positive = (text: string, what: string) => {
    const ms = durationMs(text);
    return ms === undefined || ms <= 0 ? `${what}"${text}" is not a duration above 0 (${EXAMPLES}); a drain is ${DRAIN_STRATEGIES}` : undefined;
  };
  switch (kind) {
    case 'wait': return positive(tail, 'wait: ');
    case 'readiness': return tail === '' ? undefined : positive(tail, 'readiness: ');
    case 'file': {
      // As parseDrain reads it: the part after the last colon is the duration.
      const m = /^(.*):([^:]+)$/.exec(tail);
      if ((m ? m[1] : tail) === '') return `file: needs a path in the container (file:/tmp/drain:2s); a drain is ${DRAIN_STRATEGIES}`;
      return m ? positive(m[2]!, 'file: ') : undefined;
    }
    case 'hook': return tail.trim() === '' ? `hook: needs a command (hook:CMD); a drain is ${DRAIN_STRATEGIES}` : undefined;
    default:
      if (rest.length) return `unknown drain strategy "${kind}"${suggestion(kind ?? '', ['wait', 'readiness', 'file', 'hook'])}; a drain is ${DRAIN_STRATEGIES}`;
      return durationMs(spec) === undefined ? `"${spec}" is neither a duration nor a strategy; a drain is ${DRAIN_STRATEGIES}` : positive(spec, '');
  }
}

