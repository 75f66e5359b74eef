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

export function renderProcessStatus(s: KillStatus): string {
  return (s === 'KILL_STATUS_UNSPECIFIED' ? undefined : PROCESS_STATUS[s]) ?? 'unknown_status';
}
