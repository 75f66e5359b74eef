import { connectEtcd, etcdUnavailable, parseEtcdUrls } from '../../common/etcd';
import { aliveKey, MEMBERS_PREFIX, memberKey, parseMemberKey, splitAddress, type MemberRecord } from '../../common/etcd-layout';
import { parse, UsageError } from '../args';

/** `quell cluster ls | forget NODE [--cluster C]`: membership administration straight in etcd. */
export async function runCluster(argv: string[]): Promise<number> {
  const { values, positionals } = parse(
    argv,
    { etcd: { type: 'string', default: 'http://127.0.0.1:2379' }, cluster: { type: 'string' } },
    true,
  );
  const [verb, node] = positionals;
  if (verb !== 'ls' && verb !== 'forget') throw new UsageError("expected 'ls' or 'forget NODE'");
  if (verb === 'forget' && !node) throw new UsageError('forget needs a node id');
  const hosts = parseEtcdUrls(values.etcd);
  const etcd = connectEtcd(hosts);
  try {
    const members = await etcd
      .getAll()
      .prefix(MEMBERS_PREFIX)
      .strings()
      .catch((err: unknown) => {
        throw etcdUnavailable(hosts, err);
      });
    const rows: { cluster: string; nodeId: string; address: string }[] = [];
    for (const [key, value] of Object.entries(members)) {
      const k = parseMemberKey(key);
      if (!k || (values.cluster && k.cluster !== values.cluster)) continue;
      let address = '';
      try {
        address = (JSON.parse(value) as MemberRecord).address;
      } catch {
        address = '';
      }
      rows.push({ cluster: k.cluster, nodeId: k.nodeId, address });
    }
    if (verb === 'ls') {
      rows.sort((a, b) => a.cluster.localeCompare(b.cluster) || a.nodeId.localeCompare(b.nodeId));
      for (const r of rows) {
        const alive = await etcd.get(aliveKey(r.nodeId)).string();
        const { host, port } = splitAddress(r.address);
        process.stdout.write(`${r.cluster}\t${r.nodeId}\t${host}\t${port}\t${alive === null ? 0 : 1}\n`);
      }
      return 0;
    }
    const targets = rows.filter((r) => r.nodeId === node);
    if (targets.length === 0) {
      process.stderr.write(`quell cluster: node '${node}' is not a member${values.cluster ? ` of cluster '${values.cluster}'` : ''}\n`);
      return 1;
    }
    for (const t of targets) {
      await etcd.delete().key(memberKey(t.cluster, t.nodeId));
      process.stdout.write(`forgot ${t.nodeId} in cluster ${t.cluster}\n`);
    }
    return 0;
  } finally {
    etcd.close();
  }
}
