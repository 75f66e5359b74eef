import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { startEtcd } from '../../common/daemon/child-processes';
import { connectEtcd } from '../../common/etcd/client';
import { aliveKey, killLogHeadKey, memberKey, nodeOwnerKey } from '../../common/etcd/etcd-layout';
import { etcdWatchSource } from '../../common/etcd/list-watch';
import { ClusterMembership } from '../../coordinator/cluster/membership';
import { until } from './harness';

// The coordinator's view tells its listeners (the agent pool, the clock offsets, the policy
// guard: each a pass over every node) only of changes to what it holds. Agents write keys it
// does not hold as they work (kill-log heads after kills, node owners): those must not wake them,
// or a 100-agent cluster pays a pass over every node per statement.

test('keys the view does not hold change nothing and tell no listener; members and alive records do', async () => {
  const etcd = await startEtcd();
  const client = connectEtcd({ endpoints: [etcd.url] });
  const membership = new ClusterMembership(etcdWatchSource(client), pino({ level: 'silent' }));
  try {
    await membership.start();
    let changes = 0;
    membership.onChange(() => changes++);
    const member = { cluster: 'c1', node_id: 'n1', address: '127.0.0.1:9701', joined_at: new Date().toISOString() };
    const alive = { node_id: 'n1', address: '127.0.0.1:9701', clusters: ['c1'], started_at: new Date().toISOString(), pid: 1 };
    await client.put(memberKey('c1', 'n1')).value(JSON.stringify(member));
    await client.put(aliveKey('n1')).value(JSON.stringify(alive));
    await until('the member and alive records seen', () => changes >= 2);
    assert.equal(changes, 2);
    assert.deepEqual(membership.nodes('c1').map((n) => [n.nodeId, n.active]), [['n1', true]]);

    for (let seq = 1; seq <= 5; seq++) await client.put(killLogHeadKey('n1')).value(JSON.stringify({ node_id: 'n1', seq, hash: 'a'.repeat(64), published_at: new Date().toISOString() }));
    await client.put(nodeOwnerKey('n1')).value('owner');
    await client.delete().key(killLogHeadKey('n1'));
    // a key the view holds, written after them: once it is seen, so were they (one watch, in order)
    await client.delete().key(aliveKey('n1'));
    await until("the alive record's removal seen", () => changes >= 3);
    assert.equal(changes, 3, 'only the alive record\'s removal was a change');
    assert.deepEqual(membership.nodes('c1').map((n) => [n.nodeId, n.active]), [['n1', false]]);
  } finally {
    await membership.close();
    client.close();
    await etcd.stop();
  }
});
