import type { Etcd3 } from 'etcd3';
import type { Logger } from '../../common/daemon/logger';
import { policyKey } from '../../common/etcd/etcd-layout';
import { isUnreadable, parsePolicyRecord, type PolicyRecord } from '../../common/etcd/kill-policy-record';
import { errorText } from '../../errors/error-text';
import { checkPolicyRecord } from '../../common/etcd/signed-records';
import type { RecordSigner, RecordVerifier } from '../../common/tls';
import { mayKillOthersWith } from './kill-policy';
import type { ClusterMembership } from '../cluster/membership';
import { hasGrant, type Users } from '../auth/users';
import { unixNow } from '../../sql/compile';

/**
 * Why a policy's creator no longer stands behind it in this users file, or undefined when it
 * does: the creator is gone, lost KILL POLICY (a readonly user holds none), or lost the right to
 * act on other users' processes that the policy was stored with.
 */
export function suspensionReason(rec: PolicyRecord, users: Users): string | undefined {
  const user = users.find(rec.creator);
  if (!user) return `creator ${rec.creator} is not in the coordinator's users file`;
  if (!hasGrant(user, 'KILL POLICY')) return `creator ${rec.creator} no longer holds the grant KILL POLICY`;
  if (rec.may_kill_others && !mayKillOthersWith(rec.action, user)) return `creator ${rec.creator} no longer holds the right to ${rec.action} of other users`;
  return undefined;
}

/**
 * Suspends the kill policies whose creator this coordinator's users file no longer backs
 * (docs/kill-policies.md §Suspension). Agents have no users file, so the mark in the record is
 * how they learn it. Checked at start and at every change of the membership view; each mark is
 * a compare-and-swap on the record's mod revision, so a DROP, a re-CREATE or another
 * coordinator's write in between is never overwritten. A mark is never cleared here: with
 * several coordinators and different users files, clearing would flap, and a standing kill rule
 * comes back only by a deliberate DROP and CREATE. The marked record is signed again, so the mark
 * cannot be edited out without breaking the signature; a record that is not validly signed is
 * left alone (agents do not run it, and the guard must not sign what no coordinator wrote).
 */
export class PolicyGuard {
  private running: Promise<void> | undefined;
  private again = false;
  private closed = false;

  constructor(
    private readonly etcd: Etcd3,
    private readonly users: Users,
    private readonly membership: ClusterMembership,
    private readonly log: Logger,
    /** undefined with --insecure */
    private readonly signer?: RecordSigner,
    private readonly verifier?: RecordVerifier,
  ) {}

  /** Checks every policy of the view; a change during a check runs one more check after it. */
  check(): void {
    if (this.closed) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.checkAll().finally(() => {
      this.running = undefined;
      if (this.again) {
        this.again = false;
        this.check();
      }
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.running;
  }

  private async checkAll(): Promise<void> {
    for (const rec of this.membership.killPolicies()) {
      if (this.closed) return;
      if (rec.suspended || suspensionReason(rec, this.users) === undefined || !checkPolicyRecord(rec, this.verifier).ok) continue;
      try {
        await this.suspend(rec.cluster, rec.name);
      } catch (err) {
        // the next change of the view (a re-list after etcd returns) checks again
        this.log.warn({ cluster: rec.cluster, policy: rec.name, err: errorText(err) }, 'could not suspend a kill policy');
      }
    }
  }

  /** Reads the record fresh and writes the mark only if nothing changed it meanwhile. */
  private async suspend(cluster: string, name: string): Promise<void> {
    const key = policyKey(cluster, name);
    const res = await this.etcd.get(key).exec();
    const kv = res.kvs[0];
    if (!kv) return;
    const rec = parsePolicyRecord({ cluster, name }, kv.value.toString());
    if (isUnreadable(rec) || rec.suspended || !checkPolicyRecord(rec, this.verifier).ok) return;
    const reason = suspensionReason(rec, this.users);
    if (reason === undefined) return;
    const stored = JSON.parse(kv.value.toString()) as Record<string, unknown>;
    const unsigned = { ...stored, suspended: { reason, at: unixNow() } };
    const marked = JSON.stringify(this.signer ? this.signer.sign('kill-policy', unsigned) : unsigned);
    const txn = await this.etcd.if(key, 'Mod', '==', kv.mod_revision).then(this.etcd.put(key).value(marked)).commit();
    if (txn.succeeded) this.log.warn({ cluster, policy: name, creator: rec.creator, reason }, 'kill policy suspended');
  }
}
