import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connectEtcd } from '../../common/etcd/client';
import { aliveKey, memberKey, nodeOwnerKey, serverIdIncarnationKey, serverIdKey, type AliveRecord } from '../../common/etcd/etcd-layout';
import { TestCluster, records } from './harness';

// An agent's first join is one etcd transaction (node-agent/presence/membership.ts): its node id, server
// id, incarnation, member keys and alive key all appear at one revision, under its lease.

let c: TestCluster;
before(async () => {
  c = await TestCluster.start({ cluster: 'once', nodes: 0 });
  // a cluster named twice is written once: a transaction refuses a key given twice
  await c.addAgent('n1', 'once,other,once');
});
after(async () => {
  await c?.stop();
});

test("a fresh agent's keys are written by one transaction, under one lease", async () => {
  const etcd = connectEtcd({ endpoints: [c.etcd.url] });
  try {
    const get = async (key: string) => {
      const kv = (await etcd.get(key).exec()).kvs[0];
      assert.ok(kv, `${key} exists`);
      return kv;
    };
    const alive = await get(aliveKey('n1'));
    const serverId = (JSON.parse(alive.value.toString()) as AliveRecord).server_id ?? 0;
    assert.ok(serverId >= 1);
    const keys = [
      nodeOwnerKey('n1'),
      serverIdKey(serverId),
      serverIdIncarnationKey(serverId),
      memberKey('once', 'n1'),
      memberKey('other', 'n1'),
    ];
    const kvs = await Promise.all(keys.map(get));
    for (const [i, kv] of kvs.entries()) assert.equal(kv.mod_revision, alive.mod_revision, `${keys[i]} was written with the alive key`);
    // leased: the owner, the server id and the alive key; persistent: the counter and the members
    assert.deepEqual(
      kvs.map((kv) => kv.lease !== '0'),
      [true, true, false, false, false],
    );
    assert.equal(kvs[0]?.lease, alive.lease);
    assert.equal(kvs[1]?.value.toString(), 'n1');
    // the coordinator sees it in both clusters, once each
    const nodes = records(await c.query("SELECT cluster, node_id, is_active FROM system.clusters WHERE node_id = 'n1' ORDER BY cluster"));
    assert.deepEqual(nodes, [
      { cluster: 'once', node_id: 'n1', is_active: 1 },
      { cluster: 'other', node_id: 'n1', is_active: 1 },
    ]);
  } finally {
    etcd.close();
  }
});
