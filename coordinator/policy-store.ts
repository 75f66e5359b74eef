import type { Etcd3 } from 'etcd3';
import { policyKey } from '../common/etcd-layout';
import { etcdUnavailable } from '../common/etcd';
import type { PolicyRecord } from '../common/kill-policy-record';

/**
 * Kill policies in etcd (/quell/v1/policies/<cluster>/<name>): the coordinator's only writes of
 * them. Reads go through the membership view (coordinator/membership.ts), never here.
 */
export class PolicyStore {
  constructor(
    private readonly etcd: Etcd3,
    private readonly hosts: readonly string[],
  ) {}

  /** Stores the policy unless one of that name exists in its cluster; false when it did (nothing written). */
  async create(rec: PolicyRecord): Promise<boolean> {
    const key = policyKey(rec.cluster, rec.name);
    try {
      // create-if-absent: two coordinators creating one name at once cannot both win
      const res = await this.etcd.if(key, 'Create', '==', 0).then(this.etcd.put(key).value(JSON.stringify(rec))).commit();
      return res.succeeded;
    } catch (err) {
      throw etcdUnavailable(this.hosts, err);
    }
  }

  /** Removes a policy; false when there was none. */
  async drop(cluster: string, name: string): Promise<boolean> {
    try {
      const res = await this.etcd.delete().key(policyKey(cluster, name)).exec();
      return Number(res.deleted) > 0;
    } catch (err) {
      throw etcdUnavailable(this.hosts, err);
    }
  }
}
