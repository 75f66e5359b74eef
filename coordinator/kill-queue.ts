import { randomUUID } from 'node:crypto';
import type { Etcd3 } from 'etcd3';
import { KILL_APPLIED_PREFIX, killIntentKey, type KillIntent } from '../common/etcd-layout';
import { etcdUnavailable } from '../common/etcd';
import { checkKillIntent } from '../common/signed-records';
import type { RecordSigner, RecordVerifier, Verdict } from '../common/tls';
import { unixNow } from '../sql/compile';

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
 * Durable mutation kills in etcd, signed by the coordinator that accepted the KILL. Each intent
 * lives under its own lease of mutation_kill_ttl, so etcd itself removes an expired intent
 * together with its application records.
 */
export class KillQueue {
  constructor(
    private readonly etcd: Etcd3,
    private readonly hosts: readonly string[],
    /** undefined with --insecure: intents are stored unsigned */
    private readonly signer?: RecordSigner,
    private readonly verifier?: RecordVerifier,
  ) {}

  /** Whether an intent of the view was signed by a coordinator (system.kill_queue shows the others as `invalid`). */
  check(intent: KillIntent): Verdict {
    return checkKillIntent(intent, this.verifier);
  }

  async enqueue(req: EnqueueRequest): Promise<KillIntent> {
    try {
      const lease = this.etcd.lease(Math.max(1, Math.round(req.ttlSeconds)), { autoKeepAlive: false });
      const leaseId = await lease.grant();
      const now = unixNow();
      const intent: KillIntent = {
        id: randomUUID(),
        cluster: req.cluster,
        where: req.where,
        user: req.user,
        created_at: req.statementTime,
        expires_at: now + req.ttlSeconds,
        nodes: req.nodes,
        lease: leaseId,
      };
      // signed: agents apply no intent a coordinator did not sign
      const stored = this.signer ? this.signer.sign('mutation-kill', intent) : intent;
      await lease.put(killIntentKey(intent.id)).value(JSON.stringify(stored));
      // the lease object would otherwise keep a keepalive stream open; etcd keeps the lease
      lease.release();
      return stored;
    } catch (err) {
      throw etcdUnavailable(this.hosts, err);
    }
  }

  /** Removes an intent and its application records; false when there was none. */
  async drop(id: string): Promise<boolean> {
    const res = await this.etcd.delete().key(killIntentKey(id)).exec();
    await this.etcd.delete().prefix(`${KILL_APPLIED_PREFIX}${id}/`).exec();
    return Number(res.deleted) > 0;
  }
}
