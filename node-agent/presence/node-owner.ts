import type { Etcd3, PutBuilder } from 'etcd3';
import type { Logger } from '../../common/daemon/logger';
import { nodeOwnerKey, type NodeOwnerRecord } from '../../common/etcd/etcd-layout';
import { ErrorCode, QuellError } from '../../errors/quell-error';
import { SoleHolder } from '../../common/etcd/sole-holder';
import type { Compare } from '../../common/etcd/etcd-txn';
import type { NodeIdentity } from './node-identity';

/** Another live agent serves this node id: this one must not go live. */
export class NodeIdTakenError extends QuellError {
  constructor(
    readonly nodeId: string,
    readonly holder: Partial<NodeOwnerRecord>,
  ) {
    super(
      ErrorCode.BAD_ARGUMENTS,
      'BAD_ARGUMENTS',
      `node id '${nodeId}' is already served by a live agent at ${holder.address ?? 'an unknown address'}` +
        `${holder.pid ? ` (pid ${holder.pid})` : ''}; stop that agent or choose another --node-id`,
    );
  }
}

/**
 * One live agent per node id (docs/security.md): /quell/v1/node-owner/<node_id> is created
 * if absent under the agent's lease before anything else of the agent goes live, so a second
 * agent with the same id never overwrites the first one's alive, member or server-id keys.
 * The rule itself (waiting out a crashed holder, refusing a live one) is common/etcd/sole-holder.ts.
 */
export class NodeOwner {
  private readonly holder: SoleHolder<NodeOwnerRecord>;

  constructor(etcd: Etcd3, node: NodeIdentity, log: Logger) {
    const startedAt = new Date().toISOString();
    this.holder = new SoleHolder<NodeOwnerRecord>(
      etcd,
      nodeOwnerKey(node.nodeId),
      (instance) => ({ node_id: node.nodeId, address: node.address, pid: process.pid, started_at: startedAt, instance }),
      (holder) => new NodeIdTakenError(node.nodeId, holder),
      log,
    );
  }

  /**
   * The condition and write that hold the node id under the lease when nobody holds it, for a
   * transaction of the caller's: the agent's first join takes it together with everything else.
   * When that transaction fails, take() finds out who holds it.
   */
  inTransaction(leaseId: string): { compare: Compare; put: PutBuilder } {
    return this.holder.inTransaction(leaseId);
  }

  /** Holds the node id under the lease; rejects with NodeIdTakenError, or with etcd's error. */
  take(leaseId: string): Promise<void> {
    return this.holder.take(leaseId);
  }
}
