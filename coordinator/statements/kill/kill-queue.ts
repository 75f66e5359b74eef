import { randomUUID } from 'node:crypto';
import { KILL_APPLIED_PREFIX, killIntentKey, type KillIntent } from '../../../common/etcd/etcd-layout';
import { etcdCall } from '../../../common/etcd/client';
import { checkKillIntent } from '../../../common/etcd/signed-records';
import type { RecordVerifier, Verdict } from '../../../common/tls';
import { unixNow } from '../../../sql/compile';
import { SignedRecordStore } from '../../signed-record-store';

export interface EnqueueRequest {
  readonly cluster: string;
  readonly where: string;
  readonly user: string;
  readonly nodes: readonly string[];
  readonly ttlSeconds: number;
  /** when the statement ran (unix seconds): the intent touches only mutations created by then */
  readonly statementTime: number;
}

/**
 * Durable mutation kills in etcd. Each intent lives under its own lease of mutation_kill_ttl,
 * so etcd itself removes an expired intent together with its application records. Each is
 * signed with the coordinator's TLS key: agents apply no intent a coordinator did not sign.
 */
export class KillQueue extends SignedRecordStore<KillIntent> {
  protected readonly kind = 'mutation-kill';

  /** system.kill_queue shows an intent no coordinator signed as `invalid` */
  protected verify(intent: KillIntent, verifier: RecordVerifier | undefined): Verdict {
    return checkKillIntent(intent, verifier);
  }

  /** Stores a signed intent; gives up after `timeoutMs` (the statement's distributed_ddl_task_timeout), and never writes after that. */
  async enqueue(req: EnqueueRequest, timeoutMs = this.timeoutMs): Promise<KillIntent> {
    const lease = this.etcd.lease(Math.max(1, Math.round(req.ttlSeconds)), { autoKeepAlive: false });
    let gaveUp = false;
    try {
      return await etcdCall(this.hosts, timeoutMs, async () => {
        const leaseId = await lease.grant();
        // past the deadline the statement has reported the kill as not queued: it must not be
        if (gaveUp) throw new Error('gave up');
        const intent: KillIntent = {
          id: randomUUID(),
          cluster: req.cluster,
          where: req.where,
          user: req.user,
          created_at: req.statementTime,
          expires_at: unixNow() + req.ttlSeconds,
          nodes: req.nodes,
          lease: leaseId,
        };
        const stored = this.signed(intent);
        await lease.put(killIntentKey(intent.id)).value(JSON.stringify(stored));
        return stored;
      });
    } catch (err) {
      gaveUp = true;
      throw err;
    } finally {
      // the lease object would otherwise keep a keepalive stream open; etcd keeps the lease
      lease.release();
    }
  }

  /** Removes an intent and its application records; false when there was none. */
  drop(id: string): Promise<boolean> {
    return etcdCall(this.hosts, this.timeoutMs, async () => {
      const res = await this.etcd.delete().key(killIntentKey(id)).exec();
      await this.etcd.delete().prefix(`${KILL_APPLIED_PREFIX}${id}/`).exec();
      return Number(res.deleted) > 0;
    });
  }
}
