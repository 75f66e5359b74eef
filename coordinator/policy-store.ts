import type { Etcd3 } from 'etcd3';
import { policyKey } from '../common/etcd-layout';
import { ETCD_CALL_TIMEOUT_MS, etcdCall } from '../common/etcd';
import type { PolicyRecord } from '../common/kill-policy-record';

/**
 * Kill policies in etcd (/quell/v1/policies/<cluster>/<name>): the coordinator's only writes of
 * them. Reads go through the membership view (coordinator/membership.ts), never here.
 */
export class PolicyStore {
  constructor(
    private readonly etcd: Etcd3,
    private readonly hosts: readonly string[],
    private readonly timeoutMs = ETCD_CALL_TIMEOUT_MS,
  ) {}

  /** The same store, whose writes give up after `timeoutMs` (a statement's distributed_ddl_task_timeout). */
  within(timeoutMs: number): PolicyStore {
    return new PolicyStore(this.etcd, this.hosts, timeoutMs);
  }

  /** Stores the policy unless one of that name exists in its cluster; false when it did (nothing written). */
  create(rec: PolicyRecord): Promise<boolean> {
    const key = policyKey(rec.cluster, rec.name);
    return etcdCall(this.hosts, this.timeoutMs, async () => {
      // create-if-absent: two coordinators creating one name at once cannot both win
      const res = await this.etcd.if(key, 'Create', '==', 0).then(this.etcd.put(key).value(JSON.stringify(rec))).commit();
      return res.succeeded;
    });
  }

  /** Removes a policy; false when there was none. */
  drop(cluster: string, name: string): Promise<boolean> {
    return etcdCall(this.hosts, this.timeoutMs, async () => {
      const res = await this.etcd.delete().key(policyKey(cluster, name)).exec();
      return Number(res.deleted) > 0;
    });
  }
}
