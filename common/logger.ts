import pino from 'pino';
import { setLogFlush } from './log-flush';

export { flushLogs } from './log-flush';

export type Logger = pino.Logger;

let root: Logger | undefined;

/**
 * The one root logger of a process: JSON lines on stderr (stdout belongs to results and sim
 * events), pretty only when stderr is a terminal. QUELL_LOG_LEVEL overrides the level.
 */
export function rootLogger(): Logger {
  if (root) return root;
  const level = process.env.QUELL_LOG_LEVEL ?? 'info';
  if (process.stderr.isTTY && process.env.QUELL_LOG_FORMAT !== 'json') {
    root = pino({ level, transport: { target: 'pino-pretty', options: { destination: 2, colorize: true } } });
  } else {
    root = pino({ level, base: { pid: process.pid } }, pino.destination({ fd: 2, sync: false }));
  }
  const made = root;
  setLogFlush(() => made.flush());
  return root;
}

/** A child logger for one component ('agent', 'coordinator', 'membership', ...). */
export function componentLogger(component: string, bindings: Record<string, string | number> = {}): Logger {
  return rootLogger().child({ component, ...bindings });
}
