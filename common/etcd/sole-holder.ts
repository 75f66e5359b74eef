import { randomUUID } from 'node:crypto';
import type { Etcd3, IKeyValue, PutBuilder } from 'etcd3';
import type { Logger } from '../daemon/logger';
import type { Compare } from './etcd-txn';

/** What every sole-holder record carries: who holds the key, and which process. */
export interface HolderRecord {
  readonly address: string;
  readonly pid: number;
  /** random per process: tells this process's own older lease from another process */
  readonly instance: string;
}

const POLL_MS = 250;

/**
 * One live holder of an id (docs/security.md): `key` is created if absent under the holder's
 * lease before anything else of the process goes live, so a second process with the same id
 * never overwrites the first one's keys. Agents hold their node id this way
 * (node-agent/presence/node-owner.ts), coordinators their coordinator id (coordinator/cluster/registration.ts).
 *
 * A key held by an earlier process that crashed stays until its lease expires; a key held by a
 * running process never does. So a contender watches the holder's lease: if its remaining TTL
 * goes up (kept alive) or outlives its granted TTL, the holder is live and take() throws what
 * `taken` makes of the holder's record; if the key goes away, it is taken. A restart after a
 * crash waits at most the old lease's TTL; a duplicate fails within about a third of it.
 */
export class SoleHolder<R extends HolderRecord> {
  /** this process: after a lost lease it takes its own key over instead of waiting for itself */
  readonly instance = randomUUID();

  constructor(
    private readonly etcd: Etcd3,
    private readonly key: string,
    /** the record to write, with this process's instance */
    private readonly record: (instance: string) => R,
    /** the error for a live holder (its record as read, perhaps partial) */
    private readonly taken: (holder: Partial<R>) => Error,
    private readonly log: Logger,
  ) {}

  /**
   * The condition and write that hold the key under the lease when nobody holds it, for a
   * transaction of the caller's. When that transaction fails, take() finds out who holds it.
   */
  inTransaction(leaseId: string): { compare: Compare; put: PutBuilder } {
    return { compare: [this.key, 'Create', '==', 0], put: this.put(leaseId) };
  }

  private put(leaseId: string): PutBuilder {
    return this.etcd.put(this.key).value(JSON.stringify(this.record(this.instance))).lease(leaseId);
  }

  /** Writes the record again (it changed) while the key is held under `leaseId`; false when it is not. */
  async update(leaseId: string): Promise<boolean> {
    const txn = await this.etcd.if(this.key, 'Lease', '==', leaseId).then(this.put(leaseId)).commit();
    return txn.succeeded;
  }

  /** Holds the key under the lease; rejects with `taken`'s error, or with etcd's error. */
  async take(leaseId: string): Promise<void> {
    const key = this.key;
    let watched: { lease: string; since: number; ttl: number; granted: number } | undefined;
    for (;;) {
      const txn = await this.etcd.if(key, 'Create', '==', 0).then(this.put(leaseId)).else(this.etcd.get(key)).commit();
      if (txn.succeeded) return;
      const kv: IKeyValue | undefined = txn.responses[0]?.response_range?.kvs[0];
      if (!kv) continue;
      const holder = parseHolder<R>(kv.value.toString());
      if (holder.instance === this.instance) {
        // ours, under the lease this process lost and etcd has not expired yet: move it
        const moved = await this.etcd.if(key, 'Mod', '==', kv.mod_revision).then(this.put(leaseId)).commit();
        if (moved.succeeded) return;
        continue;
      }
      // a key without a lease is nobody's to wait out: someone wrote it by hand
      if (kv.lease === '0') throw this.taken(holder);
      const lease = await this.etcd.leaseClient.leaseTimeToLive({ ID: kv.lease });
      const ttl = Number(lease.TTL);
      const now = Date.now();
      if (ttl >= 0) {
        if (watched?.lease !== kv.lease) {
          watched = { lease: kv.lease, since: now, ttl, granted: Number(lease.grantedTTL) };
          this.log.warn(
            { key, holder_address: holder.address, holder_pid: holder.pid, holder_lease_ttl_s: ttl },
            'id held by another process; waiting to see whether its lease is kept alive',
          );
        } else if (ttl > watched.ttl || now - watched.since > (watched.granted + 1) * 1000) {
          throw this.taken(holder);
        } else {
          watched.ttl = ttl;
        }
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }
}

function parseHolder<R>(text: string): Partial<R> {
  try {
    const v = JSON.parse(text) as unknown;
    return typeof v === 'object' && v !== null ? (v as Partial<R>) : {};
  } catch {
    return {};
  }
}
