import type { KillStatus__Output as KillStatus } from '../proto/generated/quell/v1/KillStatus';

/**
 * The one place process statuses become the strings users see (ClickHouse's words). Node
 * statuses (node_inactive, node_unreachable, …) are already those strings: see NodeFailureKind.
 */
const PROCESS_STATUS: Record<Exclude<KillStatus, 'KILL_STATUS_UNSPECIFIED'>, string> = {
  KILL_STATUS_FINISHED: 'finished',
  KILL_STATUS_WAITING: 'waiting',
  KILL_STATUS_CANT_CANCEL: 'cant_cancel',
  KILL_STATUS_UNKNOWN_STATUS: 'unknown_status',
  KILL_STATUS_PENDING: 'pending',
  KILL_STATUS_QUEUED: 'queued',
};

/**
 * The user's word for an agent's process status; undefined for KILL_STATUS_UNSPECIFIED (an
 * agent that set none) and for a value this coordinator does not know (a newer agent's): such a
 * row's outcome is not known, so the coordinator shows it as its node's node_error
 * (coordinator/statements/kill/kill-merge.ts), never as finished or any other status.
 */
export function knownProcessStatus(s: KillStatus | number | null | undefined): string | undefined {
  return typeof s === 'string' && Object.hasOwn(PROCESS_STATUS, s) ? PROCESS_STATUS[s as keyof typeof PROCESS_STATUS] : undefined;
}

/** The agent's own statuses (always set), for its kill log and policy counters. */
export function renderProcessStatus(s: KillStatus): string {
  return knownProcessStatus(s) ?? 'unknown_status';
}
