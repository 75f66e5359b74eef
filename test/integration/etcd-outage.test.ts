import { test } from 'node:test';
import assert from 'node:assert/strict';
import { freePort, spawnQuell, startEtcd, type Child, type EtcdServer } from '../../common/daemon/child-processes';
import { QuellClient } from '../../client/coordinator-client';
import { sleep } from './harness';
import { testPki, type TestPki } from './tls-fixture';

function agent(etcd: EtcdServer, pki: TestPki, nodeId: string): Child {
  return spawnQuell(['agent', '--etcd', etcd.url, '--node-id', nodeId, '--listen', '127.0.0.1:0', '--cluster', 'c', '--lease-ttl', '5', ...pki.argv(pki.agent(nodeId))]);
}

async function activeNodes(client: QuellClient): Promise<string[]> {
  const r = await client.query("SELECT node_id FROM system.clusters WHERE cluster = 'c' AND is_active = 1 ORDER BY node_id");
  return r.rows.map((row) => String(row[0]));
}

/**
 * Daemons that lived through an etcd outage: their views catch up when etcd returns, and
 * SIGTERM still stops them. Every reconnect, re-list and re-grant timer is cleared on stop,
 * so the process exits instead of logging `stopped` and staying up.
 */
test('a coordinator and an agent that lived through an etcd outage catch up, then exit on SIGTERM', async () => {
  const pki = await testPki();
  let etcd: EtcdServer = await startEtcd();
  const coordinator = spawnQuell(['coordinator', '--etcd', etcd.url, '--listen', `127.0.0.1:${await freePort()}`, '--default-cluster', 'c', ...pki.argv(pki.coordinator())]);
  const children: Child[] = [coordinator];
  let client: QuellClient | undefined;
  try {
    const ready = await coordinator.waitFor((e) => e.event === 'ready');
    client = new QuellClient(String(ready.address), { tls: pki.anonymous() });
    const n1 = agent(etcd, pki, 'n1');
    children.push(n1);
    await n1.waitFor((e) => e.event === 'ready');

    await etcd.halt();
    await sleep(3_000);
    etcd = await etcd.restart();

    // n2 joins after the restart: only a coordinator whose view caught up sees it
    const n2 = agent(etcd, pki, 'n2');
    children.push(n2);
    await n2.waitFor((e) => e.event === 'ready');
    let nodes: string[] = [];
    for (let i = 0; i < 200 && !nodes.includes('n2'); i++) {
      nodes = await activeNodes(client);
      if (!nodes.includes('n2')) await sleep(50);
    }
    assert.ok(nodes.includes('n2'), `coordinator view after the outage: ${nodes.join(',')}`);

    // a hung process is killed by stop() after the grace period, which reports the signal, not 0
    for (const child of [n1, n2, coordinator]) {
      const code = await child.stop('SIGTERM', 8_000);
      assert.equal(code, 0, `${child.proc.spawnargs.slice(2, 3).join(' ')} did not exit on SIGTERM; stderr: ${child.stderr().slice(-2000)}`);
    }
  } finally {
    client?.close();
    await Promise.all(children.map((c) => c.stop('SIGKILL')));
    await etcd.stop();
  }
});
