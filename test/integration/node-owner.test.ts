import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnQuell } from '../../common/daemon/child-processes';
import { connectEtcd } from '../../common/etcd/client';
import { aliveKey, nodeOwnerKey } from '../../common/etcd/etcd-layout';
import { TestCluster, useCluster, records } from './harness';

// docs/security.md, one live agent per node id: a duplicate exits with one line naming the
// node id and the holder, and the holder never notices.
const TTL = 2;
let c: TestCluster;
useCluster({ cluster: 'own', nodes: 1, leaseTtlSeconds: TTL }, (started) => (c = started));

async function n1Serves(): Promise<void> {
  const nodes = records(await c.query("SELECT node_id, host, port, is_active FROM system.clusters WHERE cluster = 'own'"));
  const [host, port] = c.agent('n1').address.split(':');
  assert.deepEqual(nodes, [{ node_id: 'n1', host, port: Number(port), is_active: 1 }]);
  const procs = records(await c.query("SELECT query_id, node_id FROM clusterAllReplicas('own', system.processes) ORDER BY query_id"));
  assert.deepEqual(procs, [{ query_id: 'own-1', node_id: 'n1' }]);
}

test('a second agent with a live node id exits with one line naming it and the holder; the holder keeps serving', async () => {
  await c.sim('n1', ['--queries', '1', '--user', 'alice', '--query-id-prefix', 'own-']);
  await n1Serves();
  const duplicate = spawnQuell(['agent', '--etcd', c.etcd.url, '--node-id', 'n1', '--listen', '127.0.0.1:0', '--cluster', 'own', '--lease-ttl', String(TTL), ...c.pki.argv(c.pki.agent('n1'))], {
    QUELL_LOG_LEVEL: 'silent',
  });
  assert.notEqual(await duplicate.exited, 0);
  const address = c.agent('n1').address;
  assert.equal(
    duplicate.stderr(),
    `Code: 36. BAD_ARGUMENTS: node id 'n1' is already served by a live agent at ${address} (pid ${c.agent('n1').child.proc.pid}); stop that agent or choose another --node-id\n`,
  );
  // its stop revoked only its own lease: n1's alive record, address and processes are intact
  await n1Serves();
  const ls = spawnQuell(['cluster', 'ls', '--etcd', c.etcd.url]);
  assert.equal(await ls.exited, 0, ls.stderr());
  assert.equal(ls.stdout(), `own\tn1\t${address.replace(':', '\t')}\t1\n`);
});

test('an agent that lost its lease and finds its node id taken stops instead of serving twice', async () => {
  const etcd = connectEtcd({ endpoints: [c.etcd.url] });
  const impostor = etcd.lease(TTL);
  try {
    const alive = (await etcd.get(aliveKey('n1')).exec()).kvs[0];
    assert.ok(alive, 'n1 is alive');
    const owner = { node_id: 'n1', address: '127.0.0.1:1', pid: 1, started_at: new Date().toISOString(), instance: 'another-agent' };
    // n1 loses its lease; another agent takes the node id before n1's keep-alive notices
    await etcd.leaseClient.leaseRevoke({ ID: alive.lease });
    await impostor.put(nodeOwnerKey('n1')).value(JSON.stringify(owner));
    const n1 = c.agent('n1').child;
    assert.equal(await n1.exited, 1);
    assert.match(n1.stderr(), /"msg":"node id taken by another agent while this one was not live; stopping"/);
    // the holder was not disturbed: its key is as written, and n1 never went live again
    assert.equal(await etcd.get(nodeOwnerKey('n1')).string(), JSON.stringify(owner));
    assert.equal(await etcd.get(aliveKey('n1')).string(), null);
  } finally {
    await impostor.revoke().catch(() => undefined);
    etcd.close();
  }
});
