import { randomUUID } from 'node:crypto';
import type { Etcd3, IKeyValue, PutBuilder } from 'etcd3';
import type { Logger } from '../common/logger';
import { nodeOwnerKey, type NodeOwnerRecord } from '../common/etcd-layout';
import { ErrorCode, QuellError } from '../errors/quell-error';
import type { NodeIdentity } from './node-identity';
import type { Compare } from './etcd-txn';

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

const POLL_MS = 250;

/**
 * One live agent per node id (docs/security.md): /quell/v1/node-owner/<node_id> is created
 * if absent under the agent's lease before anything else of the agent goes live, so a second
 * agent with the same id never overwrites the first one's alive, member or server-id keys.
 *
 * A key held by an earlier agent that crashed stays until its lease expires; a key held by a
 * running agent never does. So a contender watches the holder's lease: if its remaining TTL
 * goes up (kept alive) or outlives its granted TTL, the holder is live and take() throws
 * NodeIdTakenError; if the key goes away, it is taken. A restart after a crash waits at most
 * the old lease's TTL; a duplicate fails within about a third of it (its keep-alive period).
 */
export class NodeOwner {
  /** this process: after a lost lease it takes its own key over instead of waiting for itself */
  private readonly instance = randomUUID();
  private readonly startedAt = new Date().toISOString();

  constructor(
    private readonly etcd: Etcd3,
    private readonly node: NodeIdentity,
    private readonly log: Logger,
  ) {}

  /**
   * The condition and write that hold the node id under the lease when nobody holds it, for a
   * transaction of the caller's: the agent's first join takes it together with everything else.
   * When that transaction fails, take() finds out who holds it.
   */
  inTransaction(leaseId: string): { compare: Compare; put: PutBuilder } {
    return { compare: [nodeOwnerKey(this.node.nodeId), 'Create', '==', 0], put: this.put(leaseId) };
  }

  private put(leaseId: string): PutBuilder {
    const mine: NodeOwnerRecord = { node_id: this.node.nodeId, address: this.node.address, pid: process.pid, started_at: this.startedAt, instance: this.instance };
    return this.etcd.put(nodeOwnerKey(this.node.nodeId)).value(JSON.stringify(mine)).lease(leaseId);
  }

  /** Holds the node id under the lease; rejects with NodeIdTakenError, or with etcd's error. */
  async take(leaseId: string): Promise<void> {
    const key = nodeOwnerKey(this.node.nodeId);
    const put = (): PutBuilder => this.put(leaseId);
    let watched: { lease: string; since: number; ttl: number; granted: number } | undefined;
    for (;;) {
      const txn = await this.etcd.if(key, 'Create', '==', 0).then(put()).else(this.etcd.get(key)).commit();
      if (txn.succeeded) return;
      const kv: IKeyValue | undefined = txn.responses[0]?.response_range?.kvs[0];
      if (!kv) continue;
      const holder = parseOwner(kv.value.toString());
      if (holder.instance === this.instance) {
        // ours, under the lease this agent lost and etcd has not expired yet: move it
        const moved = await this.etcd.if(key, 'Mod', '==', kv.mod_revision).then(put()).commit();
        if (moved.succeeded) return;
        continue;
      }
      // a key without a lease is nobody's to wait out: someone wrote it by hand
      if (kv.lease === '0') throw new NodeIdTakenError(this.node.nodeId, holder);
      const lease = await this.etcd.leaseClient.leaseTimeToLive({ ID: kv.lease });
      const ttl = Number(lease.TTL);
      const now = Date.now();
      if (ttl >= 0) {
        if (watched?.lease !== kv.lease) {
          watched = { lease: kv.lease, since: now, ttl, granted: Number(lease.grantedTTL) };
          this.log.warn(
            { holder_address: holder.address, holder_pid: holder.pid, holder_lease_ttl_s: ttl },
            'node id held by another agent; waiting to see whether its lease is kept alive',
          );
        } else if (ttl > watched.ttl || now - watched.since > (watched.granted + 1) * 1000) {
          throw new NodeIdTakenError(this.node.nodeId, holder);
        } else {
          watched.ttl = ttl;
        }
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }
}

function parseOwner(text: string): Partial<NodeOwnerRecord> {
  try {
    const v = JSON.parse(text) as unknown;
    return typeof v === 'object' && v !== null ? (v as Partial<NodeOwnerRecord>) : {};
  } catch {
    return {};
  }
}
