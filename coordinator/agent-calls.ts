import type { KillRequest } from '../proto/generated/quell/v1/KillRequest';
import type { KillResponse__Output } from '../proto/generated/quell/v1/KillResponse';
import type { ScanRequest } from '../proto/generated/quell/v1/ScanRequest';
import type { ScanResponse__Output } from '../proto/generated/quell/v1/ScanResponse';
import type { AgentPool } from './agent-pool';
import type { OpenNodeStream } from './fanout';

/**
 * How a statement reaches one node: today one server-streaming call per node on the pool's
 * channel. Statements name what they send; only this file knows how it travels.
 */

export function openKill(pool: AgentPool, req: KillRequest): OpenNodeStream<KillResponse__Output> {
  return (node, options) => pool.client(node).Kill(req, options);
}

export function openScan(pool: AgentPool, req: ScanRequest): OpenNodeStream<ScanResponse__Output> {
  return (node, options) => pool.client(node).Scan(req, options);
}
