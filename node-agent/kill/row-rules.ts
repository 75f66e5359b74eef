import type { KillResponse } from '../../proto/generated/quell/v1/KillResponse';
import type { KillStatus__Output as KillStatus } from '../../proto/generated/quell/v1/KillStatus';
import type { LoggedProcess } from './kill-record';

/** One row a scan reads or a kill acts on, with the key that names it while it lasts. */
export interface Candidate<R> {
  readonly key: string;
  readonly row: R;
}

/** How rows of a table are owned, named and reported, wherever they come from (this agent or a backend). */
export interface RowRules<R> {
  /** the owning user, for "you may always kill your own"; undefined: only the grant counts */
  userOf(r: R): string | undefined;
  /** the id users name the row by (query_id, mutation_id, thread id) */
  idOf(r: R): string;
  uncancellable(r: R): boolean;
  report(r: R, status: KillStatus): KillResponse;
  /** what the kill log keeps of the row */
  logged(r: R): LoggedProcess;
  /**
   * when it started (ms, on a clock consistent within the table: elapsed's, TIME's, create_time's
   * start): a policy's LIMIT takes the oldest first
   */
  startOf(r: R): number;
  /**
   * how far two reads of one process's start may differ (ms): a server's listing gives a start
   * derived from its elapsed at the moment of the read; undefined: exact (this agent's own tables)
   */
  readonly startSlackMs?: number;
}
