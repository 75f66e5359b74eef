import { errorText } from '../../../errors/error-text';
import { oneLine } from '../../../errors/quell-error';

/**
 * The kill log could not be written (or read). `message` is one line that says why, e.g.
 * "kill log unwritable: ENOSPC: no space left on device, write (dir /var/lib/quell/kill-log)";
 * `reason` is the errno code when there is one (ENOSPC, EACCES, EROFS, EIO, …).
 */
export class KillLogError extends Error {
  readonly reason: string;

  constructor(message: string, reason = '') {
    super(message);
    this.name = 'KillLogError';
    this.reason = reason;
  }

  static from(what: 'unwritable' | 'unreadable', err: unknown, dir: string): KillLogError {
    if (err instanceof KillLogError) return err;
    const text = oneLine(errorText(err));
    const code = (err as { code?: unknown } | null)?.code;
    return new KillLogError(`kill log ${what}: ${text}${text.includes(dir) ? '' : ` (dir ${dir})`}`, typeof code === 'string' ? code : '');
  }
}

/**
 * A kill whose entry could not be synced is not carried out; its row reads `cant_cancel` with
 * this error, for every mode (a TEST listing that cannot be logged is refused the same way, so
 * the operator learns the log is broken before relying on it).
 */
export const KILL_LOG_REFUSED_STATUS = 'KILL_STATUS_CANT_CANCEL' as const;

/** The row error of a kill refused because it could not be logged: "not killed: kill log unwritable: …". */
export function killLogRefusal(err: unknown, dir = ''): string {
  return `not killed: ${(err instanceof KillLogError ? err : KillLogError.from('unwritable', err, dir)).message}`;
}
