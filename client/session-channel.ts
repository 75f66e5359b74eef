import type { AttachRequest } from '../proto/generated/quell/v1/AttachRequest';

/**
 * Why a process's signal was aborted: its cancel; `terminate`, the kill's escalation (the
 * process still ran escalate_after after its cancel, and must stop at once); or its stream
 * went away.
 */
export interface CancelReason {
  readonly kind: 'cancel' | 'terminate' | 'detached';
  /** SOFT kill: the workload may finish a critical section first */
  readonly soft: boolean;
  /** a query's cancel: the kill's kill_reason ('' none given) */
  readonly reason?: string;
  /** a query's cancel: the killing user */
  readonly killedBy?: string;
  /** a query's cancel: the coordinator's statement that killed it */
  readonly statementId?: string;
  /** a query's cancel: the kill policy whose run killed it ('' a statement) */
  readonly policy?: string;
  /** terminate: how long (ms) after the cancel it came */
  readonly escalateAfterMs?: number;
}

/**
 * What a registered process, mutation or connection needs from its session: a way to send,
 * and to be forgotten when it ends. The session implements it; nothing imports the session.
 */
export interface SessionChannel {
  send(msg: AttachRequest): void;
  forget(queryId: string): void;
  forgetMutation(ref: { database: string; table: string; mutation_id: string }): void;
  forgetConnection(threadId: number): void;
}
