import { parseArgs } from 'node:util';
import { QuellError, renderError } from '../errors/quell-error';
import { flushLogs } from '../common/log-flush';
import { errorText } from '../errors/error-text';
import { terminalSafe } from '../sql/formats/terminal-safe';

export class UsageError extends Error {}

type OptionSpec = { type: 'string'; short?: string; default?: string } | { type: 'boolean'; short?: string; default?: boolean };
type Values<O extends Record<string, OptionSpec>> = {
  [K in keyof O]: O[K] extends { type: 'boolean' } ? boolean : O[K] extends { default: string } ? string : string | undefined;
};

/** parseArgs with one-line usage errors instead of stack traces. */
export function parse<O extends Record<string, OptionSpec>>(argv: string[], options: O, allowPositionals = false): { values: Values<O>; positionals: string[] } {
  try {
    const r = parseArgs({ args: argv, options, allowPositionals, strict: true });
    return { values: r.values as unknown as Values<O>, positionals: r.positionals };
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message.split('\n')[0] : String(err));
  }
}

export function intOption(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`--${name} must be a non-negative integer, got '${value}'`);
  return n;
}

export function listOption(value: string | undefined, fallback: string[]): string[] {
  if (value === undefined) return fallback;
  const items = value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  return items.length > 0 ? items : fallback;
}

/** Prints a one-line error and returns the exit status (ClickHouse's client uses code % 256). */
export function fail(err: unknown): number {
  flushLogs();
  if (err instanceof QuellError) {
    process.stderr.write(`${terminalSafe(renderError(err))}\n`);
    return err.code % 256 || 1;
  }
  process.stderr.write(`quell: ${terminalSafe(errorText(err))}\n`);
  return 1;
}

/**
 * How long a stopped daemon's process may stay up. A call that a server never answers (etcd
 * stopped mid-stream: a watch, a lease keep-alive) keeps its connection, and so Node, alive
 * after the daemon closed everything it holds; the process ends anyway.
 */
const EXIT_AFTER_STOP_MS = 500;

/** Runs until SIGINT/SIGTERM, then stops once; a second signal exits at once. */
export function untilSignal(stop: () => Promise<void>): Promise<number> {
  return new Promise((resolve) => {
    let stopping = false;
    const onSignal = (sig: NodeJS.Signals): void => {
      if (stopping) {
        process.exit(sig === 'SIGINT' ? 130 : 143);
      }
      stopping = true;
      const stopped = stop().then(
        () => 0,
        (err: unknown) => fail(err),
      );
      void stopped.then((code) => {
        resolve(code);
        // unref'd: it fires only if something else still holds the process
        setTimeout(() => {
          flushLogs();
          process.exit();
        }, EXIT_AFTER_STOP_MS).unref();
      });
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

/** A machine-readable line on stdout that tests and `quell local` wait for. */
export function announce(event: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}
