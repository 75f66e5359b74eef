import type { Etcd3, Lease, PutBuilder } from 'etcd3';
import type { Logger } from '../../common/daemon/logger';
import { aliveKey, memberKey, type AliveRecord, type MemberRecord } from '../../common/etcd/etcd-layout';
import { etcdUnavailable } from '../../common/etcd/client';
import type { NodeIdentity } from './node-identity';
import { NoFreeServerIdError, type ServerId, type ServerIdChoice, type ServerIdHold } from '../../common/etcd/server-id';
import { errorText } from '../../errors/error-text';
import { QuellError } from '../../errors/quell-error';
import { NodeIdTakenError, NodeOwner } from './node-owner';
import { RetryLoop } from '../../common/etcd/backoff';
import { followLease } from '../../common/etcd/lease-events';
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
  private lease: Lease | undefined;
  private stopping = false;
  /** consecutive failed re-grants wait longer each time (common/etcd/backoff.ts) */
  private readonly regrant = new RetryLoop({
    attempt: () => this.goLive(),
    stopped: () => this.stopping,
    fatal: (err) => {
      this.lease?.release();
      this.lease = undefined;
      if (!(err instanceof NodeIdTakenError)) return false;
      this.stopping = true;
      this.log.error({ err: err.message }, 'node id taken by another agent while this one was not live; stopping');
      this.onDisowned(err);
      return true;
    },
    warn: (err, failedAttempts) => this.log.warn({ err: errorText(this.failure(err)), failed_attempts: failedAttempts }, 're-grant failed; retrying'),
  });
  private readonly backoff = this.regrant.backoff;
  private readonly owner: NodeOwner;
  private isLive = false;
  private readonly liveListeners = new Set<(live: boolean) => void>();

  constructor(
    private readonly etcd: Etcd3,
    private readonly hosts: readonly string[],
    private readonly node: NodeIdentity,
    private readonly leaseTtlSeconds: number,
    private readonly serverId: ServerId,
    private readonly log: Logger,
    /** another agent took the node id while this one's lease was gone: it must stop serving */
    private readonly onDisowned: (err: NodeIdTakenError) => void = stopThisProcess,
  ) {
    this.owner = new NodeOwner(etcd, node, log);
  }

  /**
   * Whether etcd holds this agent's lease as far as the agent knows: granted and its last
   * keep-alive answered. A failed keep-alive (etcd unreachable) makes it false until one succeeds.
   */
  get live(): boolean {
    return this.isLive;
  }

  onLive(listener: (live: boolean) => void): void {
    this.liveListeners.add(listener);
  }

  private setLive(live: boolean): void {
    if (live === this.isLive) return;
    this.isLive = live;
    for (const l of this.liveListeners) l(live);
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
    const lease = this.etcd.lease(this.leaseTtlSeconds, { autoKeepAlive: true });
    this.lease = lease;
    // a lease that never went live failed its grant: goLive's caller retries that one
    const wentLive = followLease(lease, {
      mine: () => this.lease === lease && !this.stopping,
      live: (live) => this.setLive(live),
      lost: (err) => {
        this.lease = undefined;
        if (this.backoff.failures === 0) this.log.warn({ err: err.message }, 'lease lost; re-granting');
        this.scheduleRegrant();
      },
    });
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
    wentLive();
    this.setLive(!this.stopping);
    if (this.backoff.failures > 0) this.log.info({ failed_attempts: this.backoff.failures }, 'lease re-granted');
    this.backoff.reset();
    this.log.info({ lease_ttl_s: this.leaseTtlSeconds, clusters: this.node.clusters, server_id: hold.serverId }, 'live in etcd');
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

  /** One re-grant loop at a time: the first try at once, then after each backoff delay. */
  private scheduleRegrant(): void {
    this.regrant.start();
  }

  /** Revokes the lease so that the coordinator sees this node inactive at once. */
  async leave(): Promise<void> {
    this.stopping = true;
    this.regrant.close();
    this.setLive(false);
    const lease = this.lease;
    this.lease = undefined;
    if (!lease) return;
    try {
      await lease.revoke();
    } catch (err) {
      this.log.warn({ err: errorText(this.failure(err)) }, 'lease revoke failed; it will expire');
    }
  }
}

/** The agent's process stops as on SIGTERM (drains, leaves etcd), and exits non-zero. */
function stopThisProcess(): void {
  process.exitCode = 1;
  process.kill(process.pid, 'SIGTERM');
}
