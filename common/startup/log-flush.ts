/**
 * flushLogs without pino: `quell client` and the other short commands never log, and loading
 * pino costs them about 15 ms of start-up, so the CLI's error path reaches the root logger
 * (common/daemon/logger.ts) only through this hook, set when that logger is made.
 */
let flushRoot: (() => void) | undefined;

export function setLogFlush(flush: () => void): void {
  flushRoot = flush;
}

/** Flushes buffered log lines; call before process.exit. */
export function flushLogs(): void {
  flushRoot?.();
}
