import { test } from 'node:test';
import assert from 'node:assert/strict';
import { freePort, spawnQuell, startEtcd, type Child, type EtcdServer } from '../../common/daemon/child-processes';
import { HealthProbe } from './probe-clients';
import { TestCluster, useCluster, eventsOf, records, sleep, until } from './harness';

// The acceptance scenario (docs/README.md) 6: a SIGKILLed agent becomes a node row, first
// node_unreachable (its lease still lives), then node_inactive; the other nodes are intact.
const TTL = 2;
let c: TestCluster;
useCluster({ cluster: 'c3', nodes: 3, leaseTtlSeconds: TTL }, (started) => (c = started));

test('6: SIGKILLed agent shows node_unreachable, then node_inactive; other rows intact', async () => {
  const sims = await Promise.all(['n1', 'n2'].map((n) => c.sim(n, ['--queries', '1', '--user', 'alice', '--query-id-prefix', `s6-${n}-`])));
  await c.sim('n3', ['--queries', '1', '--user', 'alice', '--query-id-prefix', 's6-n3-']);
  c.agent('n3').child.proc.kill('SIGKILL');
  await c.agent('n3').child.exited;

  const first = records(await c.query("KILL QUERY ON CLUSTER c3 WHERE user = 'alice' TEST"));
  const byNode = new Map(first.map((r) => [r.node_id, r]));
  assert.equal(byNode.get('n1')?.kill_status, 'unknown_status');
  assert.equal(byNode.get('n2')?.kill_status, 'unknown_status');
  assert.equal(byNode.get('n3')?.kill_status, 'node_unreachable');
  assert.notEqual(byNode.get('n3')?.error, '');
  assert.equal(first.length, 3);

  const deadline = Date.now() + (TTL + 3) * 1000;
  let status = '';
  let rows: Record<string, unknown>[] = [];
  while (Date.now() < deadline) {
    rows = records(await c.query("KILL QUERY ON CLUSTER c3 WHERE user = 'alice' SYNC SETTINGS sync_kill_timeout = 5"));
    status = String(rows.find((r) => r.node_id === 'n3')?.kill_status);
    if (status === 'node_inactive') break;
    await sleep(200);
  }
  assert.equal(status, 'node_inactive');
  const n3 = rows.find((r) => r.node_id === 'n3');
  assert.equal(n3?.host, '127.0.0.1');
  assert.ok(Number(n3?.port) > 0);
  // the first SYNC pass killed n1's and n2's processes; every pass still lists n3
  for (const s of sims) {
    assert.equal(await s.exited, 0);
    assert.equal(eventsOf(s, 'ended')[0]?.outcome, 'cancelled');
  }
  const clusters = records(await c.query("SELECT node_id, is_active FROM system.clusters WHERE cluster = 'c3' ORDER BY node_id"));
  assert.deepEqual(clusters.map((r) => [r.node_id, r.is_active]), [['n1', 1], ['n2', 1], ['n3', 0]]);
});

test('distributed_ddl_output_mode = throw fails after the rows when a node is missing', async () => {
  await assert.rejects(
    c.query("KILL QUERY ON CLUSTER c3 WHERE user = 'nobody' SETTINGS distributed_ddl_output_mode = 'throw'"),
    /NETWORK_ERROR|is not finished on 1 of 3 hosts: n3 \(node_inactive\)/,
  );
});

test('a table read names the node it could not read', async () => {
  const r = await c.client().query("SELECT query_id FROM clusterAllReplicas('c3', system.processes)");
  assert.deepEqual(r.warnings, ['no rows from n3 (node_inactive)']);
});

/** The daemon's `waiting for etcd` warnings so far (one per failed try). */
function etcdWarnings(child: Child): Record<string, unknown>[] {
  return child
    .stderr()
    .split('\n')
    .filter((l) => l.includes('waiting for etcd'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

test('a daemon started before etcd waits, warning per try, and serves once etcd answers', async () => {
  const etcd = await startEtcd();
  // its port is closed now; restart() brings it back on the same one
  await etcd.halt();
  const port = await freePort();
  const coordinator = spawnQuell(['coordinator', '--etcd', etcd.url, '--listen', '127.0.0.1:0', ...c.pki.argv(c.pki.coordinator())]);
  const agent = spawnQuell(['agent', '--etcd', etcd.url, '--node-id', 'n8', '--listen', `127.0.0.1:${port}`, '--cluster', 'late', '--kill-log-dir', c.killLogDir('n8'), ...c.pki.argv(c.pki.agent('n8'))]);
  let back: EtcdServer | undefined;
  try {
    await until('two warnings from each', () => etcdWarnings(coordinator).length >= 2 && etcdWarnings(agent).length >= 2, 10_000);
    for (const child of [coordinator, agent]) {
      const [first, second] = etcdWarnings(child);
      assert.equal(first?.level, 40);
      assert.equal(first?.msg, `waiting for etcd: etcd at ${etcd.url} is unreachable: connect ECONNREFUSED ${etcd.url.replace('http://', '')}`);
      assert.equal(first?.etcd, etcd.url);
      assert.deepEqual([first?.attempt, second?.attempt], [1, 2]);
      assert.equal(child.events.length, 0, 'not ready while etcd is away');
    }
    // the agent is bound and says NOT_SERVING; the coordinator binds only once it has its view
    const probe = new HealthProbe(`127.0.0.1:${port}`, c.pki.ca);
    try {
      assert.equal(await probe.check(), 'NOT_SERVING');
    } finally {
      probe.close();
    }
    back = await etcd.restart();
    const [ready] = await Promise.all([coordinator.waitFor((e) => e.event === 'ready'), agent.waitFor((e) => e.event === 'ready')]);
    assert.ok(String(ready.address).startsWith('127.0.0.1:'));
    for (const child of [coordinator, agent]) assert.match(child.stderr(), /"msg":"etcd answers"/);
    const serving = new HealthProbe(`127.0.0.1:${port}`, c.pki.ca);
    try {
      assert.equal(await serving.check(), 'SERVING');
    } finally {
      serving.close();
    }
  } finally {
    assert.deepEqual(await Promise.all([coordinator.stop('SIGTERM'), agent.stop('SIGTERM')]), [0, 0]);
    await (back ?? etcd).stop();
  }
});

test('SIGTERM while waiting for etcd ends a daemon at once, status 0', async () => {
  for (const args of [
    ['coordinator', '--etcd', 'http://127.0.0.1:9', '--listen', '127.0.0.1:0', ...c.pki.argv(c.pki.coordinator())],
    ['agent', '--etcd', 'http://127.0.0.1:9', '--node-id', 'n8', '--listen', '127.0.0.1:0', '--kill-log-dir', c.killLogDir('n8'), ...c.pki.argv(c.pki.agent('n8'))],
  ]) {
    const child = spawnQuell(args);
    await until('a warning', () => etcdWarnings(child).length >= 1, 10_000);
    const asked = Date.now();
    child.proc.kill('SIGTERM');
    assert.equal(await child.exited, 0, child.stderr());
    assert.ok(Date.now() - asked < 2_000, `exited ${Date.now() - asked} ms after SIGTERM`);
    assert.match(child.stderr(), /stopping before it was ready/);
    assert.doesNotMatch(child.stderr(), /"level":50/);
  }
});

test('quell cluster ls shows every member with its liveness; forget removes one', async () => {
  const ls = spawnQuell(['cluster', 'ls', '--etcd', c.etcd.url]);
  assert.equal(await ls.exited, 0, ls.stderr());
  const lines = ls.stdout().trim().split('\n').map((l) => l.split('\t'));
  assert.deepEqual(lines.map((l) => [l[0], l[1], l[4]]), [['c3', 'n1', '1'], ['c3', 'n2', '1'], ['c3', 'n3', '0']]);
  const forget = spawnQuell(['cluster', 'forget', 'n3', '--etcd', c.etcd.url]);
  assert.equal(await forget.exited, 0, forget.stderr());
  assert.equal(forget.stdout(), 'forgot n3 in cluster c3\n');
  await c.waitForActive(2);
  const rows = records(await c.query("KILL QUERY ON CLUSTER c3 WHERE user = 'nobody' TEST"));
  assert.deepEqual(rows, [], 'a forgotten node is no longer a member');
});
