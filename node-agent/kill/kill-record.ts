import type { KillRequest__Output } from '../../proto/generated/quell/v1/KillRequest';
import type { KillStatus__Output as KillStatus } from '../../proto/generated/quell/v1/KillStatus';
import { renderProcessStatus } from '../../common/kill-status';
import type { KillLogEntry } from './kill-log';

/** Where a kill's entries go: resolves once they are on disk (the node's KillLog). */
export interface KillRecorder {
  append(entries: readonly KillLogEntry[]): Promise<void>;
}

/** What the kill log keeps of one process, whichever table it is in. */
export type LoggedProcess = Pick<KillLogEntry, 'query_id' | 'mutation_id' | 'thread_id' | 'process_user' | 'query' | 'normalized_query_hash'>;

/** The process of an entry about a kill policy itself (disabled, suspended), not about a match. */
export const NO_PROCESS: LoggedProcess = { query_id: '', mutation_id: '', thread_id: 0, process_user: '', query: '', normalized_query_hash: 0 };

/** A matched process the user may not kill: logged with this status, never reported as a row. */
export const ACCESS_DENIED_STATUS = 'access_denied';
/** A kill policy's match over its LIMIT this run: logged, left running. */
export const SKIPPED_LIMIT_STATUS = 'skipped_limit';
/** A kill policy that failed on this node and stopped there: one entry, with no process. */
export const POLICY_DISABLED_STATUS = 'policy_disabled';

/** A kill policy a coordinator suspended (its creator lost its rights): one entry per node per suspension, with no process. */
export const POLICY_SUSPENDED_STATUS = 'policy_suspended';

/** Statuses only the kill log has: no row ever reports them. */
type LogOnlyStatus = typeof ACCESS_DENIED_STATUS | typeof SKIPPED_LIMIT_STATUS | typeof POLICY_DISABLED_STATUS | typeof POLICY_SUSPENDED_STATUS;

/** What a kill acts on, as the kill log names it: MariaDB's KILL QUERY <thread id> stops a query, not its connection. */
function targetWord(req: KillRequest__Output): string {
  switch (req.target) {
    case 'KILL_TARGET_QUERY':
      return 'QUERY';
    case 'KILL_TARGET_MUTATION':
      return 'MUTATION';
    default:
      return req.query_only ? 'QUERY' : 'CONNECTION';
  }
}

/**
 * SYNC, ASYNC or TEST for the ClickHouse form; HARD or SOFT for the MariaDB form (the only one
 * that targets connections), whose KILL USER asks every node first with a TEST.
 */
function modeWord(req: KillRequest__Output): string {
  if (req.mode === 'KILL_MODE_TEST') return 'TEST';
  if (req.target === 'KILL_TARGET_CONNECTION') return req.soft ? 'SOFT' : 'HARD';
  return req.mode === 'KILL_MODE_SYNC' ? 'SYNC' : 'ASYNC';
}

/** `escalated`: the entry is about the kill's escalation step (its hard kill) or what followed it. */
export type EntryMaker = (p: LoggedProcess, status: KillStatus | LogOnlyStatus, error?: string, escalated?: boolean) => KillLogEntry;

/** What every entry of one kill shares: who asked, what, how; the process, status and why vary per entry. */
export type KillFields = Pick<KillLogEntry, 'statement_id' | 'user' | 'client' | 'coordinator' | 'target' | 'mode' | 'condition' | 'policy'> & { readonly reason?: string };

/** Entries of one kill from its shared fields (a Kill request's, or a queued kill's that has no request). */
export function entriesOf(base: KillFields, now: () => number = Date.now): EntryMaker {
  return (p, status, error = '', escalated = false) => ({
    event_time: Math.floor(now() / 1000),
    ...base,
    query_id: p.query_id,
    mutation_id: p.mutation_id,
    thread_id: p.thread_id,
    process_user: p.process_user,
    query: p.query,
    kill_status: isWireStatus(status) ? renderProcessStatus(status) : status,
    error,
    normalized_query_hash: p.normalized_query_hash,
    reason: base.reason ?? '',
    escalated: escalated ? 1 : 0,
  });
}

/**
 * Entries of one Kill request: what the request says, plus the process, its status and why. A
 * kill policy's run (`policy` set) is logged with mode POLICY and the policy's name.
 */
export function entryMaker(req: KillRequest__Output, coordinator: string, now: () => number = Date.now, policy?: string): EntryMaker {
  return entriesOf(
    {
      statement_id: req.statement_id,
      user: req.user,
      client: req.client,
      coordinator,
      target: targetWord(req),
      mode: policy !== undefined ? 'POLICY' : modeWord(req),
      condition: req.condition || req.where,
      policy: policy ?? '',
      reason: req.reason,
    },
    now,
  );
}

function isWireStatus(status: KillStatus | LogOnlyStatus): status is KillStatus {
  return status.startsWith('KILL_STATUS_');
}

/** The error of a skipped process's entry. */
export function deniedReason(user: string, owner: string | undefined): string {
  return owner === undefined ? `not killed: ${user} has no grant for this kill` : `not killed: ${user} has no grant to kill processes of other users (owner ${owner})`;
}
