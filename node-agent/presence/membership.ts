import type { Etcd3, Lease, PutBuilder } from 'etcd3';
import type { Logger } from '../../common/daemon/logger';
import { aliveKey, memberKey, type AliveRecord, type MemberRecord } from '../../common/etcd/etcd-layout';
import { etcdUnavailable } from '../../common/etcd/client';
import type { NodeIdentity } from './node-identity';
import { NoFreeServerIdError, type ServerId, type ServerIdChoice, type ServerIdHold } from '../../common/etcd/server-id';
import { QuellError } from '../../errors/quell-error';
import { NodeIdTakenError, NodeOwner } from './node-owner';
import { LeasedPresence } from '../../common/etcd/leased-presence';
import { transaction } from '../../common/etcd/etcd-txn';

/**
 * The agent's presence in etcd: a persistent member key per cluster, and a liveness key under
 * a lease that is kept alive, re-granted when lost, and revoked on clean shutdown. The server
 * id lives under the same lease, so every lease the agent goes live with claims it first
 * (the same id again after a re-grant) and the alive record names it. Before either, each
 * lease takes the node id itself (node-owner.ts): an agent whose node id another live agent
 * serves writes nothing at all, so the holder is never disturbed.
 *
 * The first join takes all of it in one transaction (node id, server id, member keys, alive
 * record), with the free server ids read while the lease is granted: two round trips to etcd
 * instead of five, which is most of an agent's join once it is running. When that transaction
 * fails (the node id is held, or another agent took the server id first) nothing was written,
 * and the join goes step by step: take the node id (waiting out a dead holder, refusing a live
 * one), claim a server id, then the member keys and the alive record.
 */
export class AgentMembership {
  private readonly presence: LeasedPresence<NodeIdTakenError>;
  private readonly owner: NodeOwner;

  constructor(
    private readonly etcd: Etcd3,
    private readonly hosts: readonly string[],
    private readonly node: NodeIdentity,
    private readonly leaseTtlSeconds: number,
    private readonly serverId: ServerId,
    private readonly log: Logger,
    /** another agent took the node id while this one's lease was gone: it must stop serving */
    onDisowned: (err: NodeIdTakenError) => void = stopThisProcess,
  ) {
    this.presence = new LeasedPresence(etcd, log, {
      ttlSeconds: leaseTtlSeconds,
      regrant: () => this.goLive(),
      taken: NodeIdTakenError,
      takenMessage: 'node id taken by another agent while this one was not live; stopping',
      onDisowned,
      hosts,
    });
    this.owner = new NodeOwner(etcd, node, log);
  }

  /**
   * Whether etcd holds this agent's lease as far as the agent knows: granted and its last
   * keep-alive answered. A failed keep-alive (etcd unreachable) makes it false until one succeeds.
   */
  get live(): boolean {
    return this.presence.live;
  }

  onLive(listener: (live: boolean) => void): void {
    this.presence.onLive(listener);
  }

  /** Joins every cluster and goes live; rejects with a one-line error when etcd is unusable. */
  async join(): Promise<void> {
    try {
      const joinedAt = new Date().toISOString();
      // one write per cluster: a transaction refuses a key given twice
      await this.goLive(() =>
        [...new Set(this.node.clusters)].map((cluster) => {
          const member: MemberRecord = { cluster, node_id: this.node.nodeId, address: this.node.address, joined_at: joinedAt };
          return this.etcd.put(memberKey(cluster, this.node.nodeId)).value(JSON.stringify(member));
        }),
      );
    } catch (err) {
      throw this.failure(err);
    }
  }

  /** What went wrong, as one line: etcd's errors name etcd and the reason (a call that timed out, refused credentials). */
  private failure(err: unknown): Error {
    return err instanceof NoFreeServerIdError || err instanceof QuellError ? err : etcdUnavailable(this.hosts, err);
  }

  /** `members` are written once the node id is held: with it in the first join, else beside the server-id claim. */
  private async goLive(members?: () => PutBuilder[]): Promise<void> {
    const hold = await this.presence.goLive((lease) => this.hold(lease, members));
    this.log.info({ lease_ttl_s: this.leaseTtlSeconds, clusters: this.node.clusters, server_id: hold.serverId }, 'live in etcd');
  }

  /** Grants the lease and takes under it the node id, the server id and the alive record (and `members`). */
  private async hold(lease: Lease, members?: () => PutBuilder[]): Promise<ServerIdHold> {
    // a re-grant keeps the server id it holds: only a first claim lists the free ones
    const first = this.serverId.held === undefined;
    const [leaseId, choice] = await Promise.all([lease.grant(), first ? this.serverId.firstChoice() : undefined]);
    let hold = choice && (await this.takeAtOnce(leaseId, choice, members?.() ?? []));
    if (!hold) {
      await this.owner.take(leaseId);
      // the server id before the alive record: it tells the coordinator where its ids route
      [hold] = await Promise.all([this.serverId.claim(leaseId), members && Promise.all(members())]);
      await lease.put(aliveKey(this.node.nodeId)).value(this.aliveRecord(hold));
    }
    return hold;
  }

  /** Node id, server id, member keys and alive record in one transaction; undefined when it failed and wrote nothing. */
  private async takeAtOnce(leaseId: string, choice: ServerIdChoice, members: PutBuilder[]): Promise<ServerIdHold | undefined> {
    const owner = this.owner.inTransaction(leaseId);
    const id = this.serverId.inTransaction(choice, leaseId);
    const alive = this.etcd.put(aliveKey(this.node.nodeId)).value(this.aliveRecord(id.hold)).lease(leaseId);
    let succeeded: boolean;
    try {
      const txn = await transaction(this.etcd, owner.compare, ...id.compares)
        .then(owner.put, ...id.puts, ...members, alive)
        .commit();
      succeeded = txn.succeeded;
    } catch {
      // e.g. more clusters than etcd takes writes in one transaction: the step-by-step join
      // writes them one by one, and reports etcd's error if etcd is the trouble
      return undefined;
    }
    if (!succeeded) return undefined;
    this.serverId.adopt(id.hold);
    return id.hold;
  }

  private aliveRecord(hold: ServerIdHold): string {
    const alive: AliveRecord = {
      node_id: this.node.nodeId,
      address: this.node.address,
      clusters: this.node.clusters,
      started_at: new Date().toISOString(),
      pid: process.pid,
      server_id: hold.serverId,
    };
    return JSON.stringify(alive);
  }

  /** Revokes the lease so that the coordinator sees this node inactive at once. */
  async leave(): Promise<void> {
    await this.presence.leave();
  }
}

/** The agent's process stops as on SIGTERM (drains, leaves etcd), and exits non-zero. */
function stopThisProcess(): void {
  process.exitCode = 1;
  process.kill(process.pid, 'SIGTERM');
}
