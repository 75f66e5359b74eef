import type { Logger } from './logger';
import { errorText } from '../../errors/error-text';

/**
 * The last line of defence of a daemon that serves untrusted requests: whatever escapes one
 * request's handling is logged at error level and ends that request alone, never the process
 * (every door, every statement and every KILL in the cluster would go with it). The fix for any
 * such error belongs at its cause; this only makes sure a missed one costs one request.
 */

/** A rejection handler for one request's promise: logs `what` failed, then runs `andThen` (ending that request). */
export function logEscape(log: Logger, what: string, andThen?: (err: unknown) => void): (err: unknown) => void {
  return (err: unknown) => {
    log.error({ err: errorText(err) }, `${what} failed unexpectedly; only this request is dropped`);
    try {
      andThen?.(err);
    } catch (again) {
      log.error({ err: errorText(again) }, `${what}: ending the failed request failed too`);
    }
  };
}

let installed = false;

/**
 * A promise that rejects with nobody to handle it would end the process (Node's default); a
 * daemon logs it and goes on. Installed once per process by the daemons' commands.
 */
export function surviveUnhandledRejections(log: Logger): void {
  if (installed) return;
  installed = true;
  process.on('unhandledRejection', (reason) => {
    log.error({ err: errorText(reason) }, 'a promise rejected with no handler; the daemon goes on');
  });
}
