import { policyKey } from '../../common/etcd/etcd-layout';
import { etcdCall } from '../../common/etcd/client';
import type { PolicyRecord } from '../../common/etcd/kill-policy-record';
import { checkPolicyRecord } from '../../common/etcd/signed-records';
import type { RecordVerifier, Verdict } from '../../common/tls';
import { SignedRecordStore } from '../signed-record-store';

/**
 * Kill policies in etcd (/quell/v1/policies/<cluster>/<name>): the coordinator's only writes of
 * them, signed with its TLS key (agents run no policy without a coordinator's signature). Reads
 * go through the membership view (coordinator/cluster/membership.ts), never here.
 */
export class PolicyStore extends SignedRecordStore<PolicyRecord> {
  protected readonly kind = 'kill-policy';

  /** system.kill_policies shows a policy no coordinator signed as `invalid` */
  protected verify(rec: PolicyRecord, verifier: RecordVerifier | undefined): Verdict {
    return checkPolicyRecord(rec, verifier);
  }

  /** Stores the policy unless one of that name exists in its cluster; false when it did (nothing written). */
  create(rec: PolicyRecord, timeoutMs = this.timeoutMs): Promise<boolean> {
    const key = policyKey(rec.cluster, rec.name);
    const value = JSON.stringify(this.signed(rec));
    return etcdCall(this.hosts, timeoutMs, async () => {
      // create-if-absent: two coordinators creating one name at once cannot both win
      const res = await this.etcd.if(key, 'Create', '==', 0).then(this.etcd.put(key).value(value)).commit();
      return res.succeeded;
    });
  }

  /** Removes a policy; false when there was none. */
  drop(cluster: string, name: string, timeoutMs = this.timeoutMs): Promise<boolean> {
    return etcdCall(this.hosts, timeoutMs, async () => {
      const res = await this.etcd.delete().key(policyKey(cluster, name)).exec();
      return Number(res.deleted) > 0;
    });
  }
}
