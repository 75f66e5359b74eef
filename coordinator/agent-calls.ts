import type { KillRequest } from '../proto/generated/quell/v1/KillRequest';
import type { KillResponse__Output } from '../proto/generated/quell/v1/KillResponse';
import type { ScanRequest } from '../proto/generated/quell/v1/ScanRequest';
import type { ScanResponse__Output } from '../proto/generated/quell/v1/ScanResponse';
import type { AgentPool } from './agent-pool';
import type { OpenNodeStream } from './fanout';

/**
 * How a statement reaches one node: a tagged call on the node's one Session stream
 * (coordinator/agent-session.ts), not a call of its own. Statements name what they send; only
 * this file knows how it travels. The fan-out's per-statement timer enforces the deadlines.
 */

export function openKill(pool: AgentPool, req: KillRequest): OpenNodeStream<KillResponse__Output> {
  return (node) => pool.session(node).kill(req);
}

export function openScan(pool: AgentPool, req: ScanRequest): OpenNodeStream<ScanResponse__Output> {
  return (node) => pool.session(node).scan(req);
}
