import pino from 'pino';
import { setLogFlush } from '../startup/log-flush';

export { flushLogs } from '../startup/log-flush';

export type Logger = pino.Logger;

let root: Logger | undefined;
/** the daemons' --log-level and --log-format (cli/config.ts), before the root logger is made */
let configured: { level?: string; format?: string } = {};

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/**
 * Every logger made from the root, held weakly: pino gives each child its own level when it is
 * made, so a new level (setLogLevel, a SIGHUP) must reach the children that exist.
 */
const descendants = new Set<WeakRef<Logger>>();
const forget = new FinalizationRegistry<WeakRef<Logger>>((ref) => descendants.delete(ref));

function track(child: Logger): void {
  const ref = new WeakRef(child);
  descendants.add(ref);
  forget.register(child, ref);
}

/**
 * The one root logger of a process: JSON lines on stderr (stdout belongs to results and sim
 * events), pretty only when stderr is a terminal. --log-level / QUELL_LOG_LEVEL set the level.
 */
export function rootLogger(): Logger {
  if (root) return root;
  const level = configured.level ?? process.env.QUELL_LOG_LEVEL ?? 'info';
  const format = configured.format ?? process.env.QUELL_LOG_FORMAT;
  if (process.stderr.isTTY && format !== 'json') {
    root = pino({ level, onChild: track, transport: { target: 'pino-pretty', options: { destination: 2, colorize: true } } });
  } else {
    root = pino({ level, onChild: track, base: { pid: process.pid } }, pino.destination({ fd: 2, sync: false }));
  }
  const made = root;
  setLogFlush(() => made.flush());
  return root;
}

/** The daemons' logging settings; the level may change later (setLogLevel), the format not. */
export function configureLogging(o: { level?: string; format?: string }): void {
  if (o.level !== undefined) assertLogLevel(o.level);
  configured = { ...configured, ...o };
  if (root && o.level !== undefined) setLogLevel(o.level);
}

export function assertLogLevel(level: string): void {
  if (!(LOG_LEVELS as readonly string[]).includes(level)) throw new Error(`log level '${level}' is not one of ${LOG_LEVELS.join(', ')}`);
}

/** A new level for the root and every logger made from it (a SIGHUP's reload). */
export function setLogLevel(level: string): void {
  assertLogLevel(level);
  configured = { ...configured, level };
  if (!root) return;
  root.level = level;
  for (const ref of descendants) {
    const child = ref.deref();
    if (child) child.level = level;
    else descendants.delete(ref);
  }
}

/** A child logger for one component ('agent', 'coordinator', 'membership', ...). */
export function componentLogger(component: string, bindings: Record<string, string | number> = {}): Logger {
  return rootLogger().child({ component, ...bindings });
}
