import type { KillRequest } from '../../proto/generated/quell/v1/KillRequest';
import type { KillResponse__Output } from '../../proto/generated/quell/v1/KillResponse';
import type { ScanRequest } from '../../proto/generated/quell/v1/ScanRequest';
import type { ScanResponse__Output } from '../../proto/generated/quell/v1/ScanResponse';
import type { AgentPool } from './agent-pool';
import type { OpenNodeStream } from './fanout';
import type { MemberNode } from './membership';
import { encodeKillRequest, encodeScanRequest } from '../../proto/session-request-codec';

/**
 * How a statement reaches one node: a tagged call on the node's one Session stream
 * (coordinator/cluster/agent-session.ts), not a call of its own. Statements name what they send; only
 * this file knows how it travels. The request is encoded once, whatever the number of nodes. The
 * fan-out's per-statement timer enforces the deadlines.
 */

export function openKill(pool: AgentPool, req: KillRequest): OpenNodeStream<KillResponse__Output> {
  const encoded = encodeKillRequest(req);
  return (node) => pool.session(node).kill(encoded);
}

/** A kill whose request differs per node (a ranked kill's picks): each node's is encoded for it alone. */
export function openKillEach(pool: AgentPool, reqFor: (node: MemberNode) => KillRequest): OpenNodeStream<KillResponse__Output> {
  return (node) => pool.session(node).kill(encodeKillRequest(reqFor(node)));
}

export function openScan(pool: AgentPool, req: ScanRequest): OpenNodeStream<ScanResponse__Output> {
  const encoded = encodeScanRequest(req);
  return (node) => pool.session(node).scan(encoded);
}
