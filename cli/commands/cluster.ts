import { connectEtcd, etcdUnavailable } from '../../common/etcd/client';
import { ALIVE_PREFIX, KILL_INTENTS_PREFIX, MEMBERS_PREFIX, memberKey, parseMemberKey, splitAddress, type KillIntent, type MemberRecord } from '../../common/etcd/etcd-layout';
import { UsageError } from '../args';
import { KillQueue } from '../../coordinator/statements/kill/kill-queue';
import type { Etcd3 } from 'etcd3';
import { etcdFromFlags } from '../etcd-flags';
import { COMMAND_SPECS } from '../flags';
import { commandConfig } from '../config';

/** `quell cluster ls | forget NODE [--cluster C]`: membership administration straight in etcd. */
export async function runCluster(argv: string[]): Promise<number> {
  const config = commandConfig('cluster', COMMAND_SPECS.cluster.flags, argv, { positionals: true });
  if (!config) return 0;
  const { values, positionals } = config;
  const [verb, node] = positionals;
  if (verb !== 'ls' && verb !== 'forget' && verb !== 'kills' && verb !== 'drop-kill') {
    throw new UsageError("expected 'ls', 'forget NODE', 'kills' or 'drop-kill KILL_ID'");
  }
  if (verb === 'forget' && !node) throw new UsageError('forget needs a node id');
  if (verb === 'drop-kill' && !node) throw new UsageError('drop-kill needs a kill id (see `quell cluster kills`)');
  const { endpoints: hosts, security } = etcdFromFlags(values);
  const etcd = connectEtcd({ ...security, endpoints: hosts });
  try {
    if (verb === 'kills') return await listKills(etcd, hosts);
    if (verb === 'drop-kill') {
      const dropped = await new KillQueue(etcd, hosts).drop(node as string);
      if (!dropped) {
        process.stderr.write(`quell cluster: no queued kill '${node}'\n`);
        return 1;
      }
      process.stdout.write(`dropped kill ${node}\n`);
      return 0;
    }
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
      // one read for every liveness key, not one per member
      const alive = await etcd
        .getAll()
        .prefix(ALIVE_PREFIX)
        .keys()
        .catch((err: unknown) => {
          throw etcdUnavailable(hosts, err);
        });
      const live = new Set(alive.map((k) => k.slice(ALIVE_PREFIX.length)));
      for (const r of rows) {
        const { host, port } = splitAddress(r.address);
        process.stdout.write(`${r.cluster}\t${r.nodeId}\t${host}\t${port}\t${live.has(r.nodeId) ? 1 : 0}\n`);
      }
      return 0;
    }
    const targets = rows.filter((r) => r.nodeId === node);
    if (targets.length === 0) {
      process.stderr.write(`quell cluster: node '${node}' is not a member${values.cluster ? ` of cluster '${values.cluster}'` : ''}\n`);
      return 1;
    }
    for (const t of targets) {
      await etcd
        .delete()
        .key(memberKey(t.cluster, t.nodeId))
        .catch((err: unknown) => {
          throw etcdUnavailable(hosts, err);
        });
      process.stdout.write(`forgot ${t.nodeId} in cluster ${t.cluster}\n`);
    }
    return 0;
  } finally {
    etcd.close();
  }
}

/** `quell cluster kills`: the durable mutation kills still waiting, one per line. */
async function listKills(etcd: Etcd3, hosts: readonly string[]): Promise<number> {
  const raw = await etcd
    .getAll()
    .prefix(KILL_INTENTS_PREFIX)
    .strings()
    .catch((err: unknown) => {
      throw etcdUnavailable(hosts, err);
    });
  const intents = Object.values(raw)
    .flatMap((v) => {
      try {
        return [JSON.parse(v) as KillIntent];
      } catch {
        return []; // a record this version cannot read must not hide the others
      }
    })
    .sort((a, b) => a.created_at - b.created_at);
  for (const k of intents) {
    process.stdout.write(`${k.id}\t${k.cluster}\t${k.where}\t${k.user}\t${new Date(k.expires_at * 1000).toISOString()}\t${k.nodes.join(',')}\n`);
  }
  return 0;
}
