import { parseArgs } from 'node:util';
import { QuellError, renderError } from '../errors/quell-error';
import { flushLogs } from '../common/startup/log-flush';
import { errorText } from '../errors/error-text';
import { terminalSafe } from '../sql/formats/terminal-safe';

/**
 * A mistake on the command line: one line on stderr, exit status 2. `seeHelp` adds where the
 * command's flags are listed (`quell <command> --help`).
 */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly seeHelp = false,
  ) {
    super(message);
  }
}

type OptionSpec = ({ type: 'string'; short?: string; default?: string } | { type: 'boolean'; short?: string; default?: boolean }) & { commandLine?: false };
type Values<O extends Record<string, OptionSpec>> = {
  [K in keyof O]: O[K] extends { type: 'boolean' } ? boolean : O[K] extends { default: string } ? string : string | undefined;
};

/**
 * parseArgs over a command's flag table (cli/flags.ts, the same table its --help lists), with
 * one-line usage errors instead of stack traces.
 */
export function parse<O extends Record<string, OptionSpec>>(argv: string[], options: O, allowPositionals = false): { values: Values<O>; positionals: string[] } {
  // parseArgs' own keys only: the table's help texts stay out of it
  const parseOptions = Object.fromEntries(
    Object.entries(options)
      // a key that is never a flag (a password: cli/config.ts) is not parsed as one
      .filter(([, o]) => o.commandLine !== false)
      .map(([name, o]) => [name, { type: o.type, ...(o.short === undefined ? {} : { short: o.short }), ...(o.default === undefined ? {} : { default: o.default }) }]),
  ) as Record<string, OptionSpec>;
  try {
    const r = parseArgs({ args: argv, options: parseOptions, allowPositionals, strict: true });
    return { values: r.values as unknown as Values<O>, positionals: r.positionals };
  } catch (err) {
    throw new UsageError(argumentError(err), true);
  }
}

export function argumentError(err: unknown): string {
  const message = err instanceof Error ? err.message.split('\n')[0] : String(err);
  const code = (err as { code?: unknown } | null)?.code;
  const quoted = /'([^']+)'/.exec(message ?? '')?.[1];
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && quoted) return `unknown flag '${quoted}'`;
  if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL' && quoted) return `unexpected argument '${quoted}'`;
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && quoted) {
    const flag = quoted.split(' ')[0];
    return message?.includes('argument missing') ? `flag '${flag}' needs a value` : `flag '${flag}' takes no value`;
  }
  return message ?? 'bad arguments';
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

/** a SIGHUP that came while the daemon was starting, before untilSignal: reloaded once it runs */
let hangupWhileStarting = false;
const onEarlyHangup = (): void => {
  hangupWhileStarting = true;
};

/**
 * From the first line of a daemon's start: a SIGHUP (`systemctl reload` while it starts) must not
 * end it as Node's default would; untilSignal() runs the reload once the daemon serves.
 */
export function holdHangups(): void {
  process.on('SIGHUP', onEarlyHangup);
}

/**
 * Runs until SIGINT/SIGTERM, then stops once; a second signal exits at once. SIGHUP never stops
 * the daemon: it runs `reload` (one at a time; a SIGHUP during a reload runs one more after it),
 * or nothing when there is none.
 */
export function untilSignal(stop: () => Promise<void>, reload?: () => Promise<void>): Promise<number> {
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
    let reloading: Promise<void> | undefined;
    let again = false;
    // kept while stopping too: a SIGHUP during the drain must not end the process at once
    const onHangup = (): void => {
      if (!reload || stopping) return;
      if (reloading) {
        again = true;
        return;
      }
      reloading = reload()
        .catch(() => undefined)
        .finally(() => {
          reloading = undefined;
          if (again && !stopping) {
            again = false;
            onHangup();
          }
        });
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    process.on('SIGHUP', onHangup);
    process.off('SIGHUP', onEarlyHangup);
    if (hangupWhileStarting) {
      hangupWhileStarting = false;
      onHangup();
    }
  });
}

/** A machine-readable line on stdout that tests and `quell local` wait for. */
export function announce(event: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(event)}\n`);
}
