import { after, before, test } from 'node:test';
import { TransportSecurity } from '../../common/tls';
import assert from 'node:assert/strict';
import { QuellError } from '../../errors/quell-error';
import type { Child } from '../../common/daemon/child-processes';
import { quellProto } from '../../proto/load';
import { CHANNEL_OPTIONS } from '../../common/grpc/channel-options';
import { TestCluster, eventsOf } from './harness';

// Issue 11 item 3: MariaDB's KILL USER is all or nothing. When a member of the cluster cannot be
// asked (inactive, unreachable, timed out), quell cannot promise that, so it kills nothing and
// fails 1105 naming the node. Real etcd, agents and sims as separate processes.

let c: TestCluster;
before(async () => {
  // a long lease: a SIGKILLed or SIGSTOPped agent stays "active" in etcd, so the coordinator
  // must find out by calling it
  c = await TestCluster.start({ cluster: 'c3', nodes: 3, leaseTtlSeconds: 30 });
});
after(async () => {
  await c?.stop();
});

/** Info, asked as the coordinator is: only a coordinator certificate may call an agent. */
function killsServed(address: string): Promise<number> {
  const Ctor = quellProto().agent.quell.v1.NodeAgentService;
  const client = new Ctor(address, TransportSecurity.from(c.pki.coordinator()).channelCredentials(address, 'agent'), { ...CHANNEL_OPTIONS });
  return new Promise((resolve, reject) =>
    client.Info({}, (err, res) => {
      client.close();
      if (err || !res) reject(err ?? new Error('no answer'));
      else resolve(Number(res.kills_served));
    }),
  );
}

const bob = (node: string): Promise<Child> => c.sim(node, ['--connections', '1', '--user', 'bob', '--host', 'localhost', '--db', 'shop']);

const served = (nodes: string[]): Promise<number[]> => Promise.all(nodes.map((n) => killsServed(c.agent(n).address)));

/** KILL USER bob must fail 1105 naming `node` as `status`. */
async function killUserFails(node: string, status: string): Promise<void> {
  await assert.rejects(c.client().query('KILL USER bob', { dialect: 'mariadb' }), (e: unknown) => {
    assert.ok(e instanceof QuellError, String(e));
    assert.deepEqual([e.code, e.errorName, e.dialect], [1105, 'HY000', 'mariadb']);
    assert.match(e.message, /^KILL USER killed nothing: /);
    assert.match(e.message, new RegExp(`\\b${node}: ${status}\\b`));
    // only that node is named
    const named = [...e.message.matchAll(/\b(n\d+): node_/g)].map((m) => m[1]);
    assert.deepEqual(named, [node]);
    return true;
  });
}

/** bob's connections on the healthy nodes saw no kill and are still connected. */
function untouched(sims: Child[]): void {
  for (const s of sims) {
    assert.equal(eventsOf(s, 'kill').length, 0, 'no cancel reached the workload');
    assert.equal(s.proc.exitCode, null, 'the connection is still open');
  }
}

test('an inactive member: 1105 naming it, and no node is even asked', async () => {
  const sims = await Promise.all(['n1', 'n2'].map(bob));
  // a clean stop revokes the lease: the coordinator sees n3 inactive at once
  await c.agent('n3').child.stop('SIGTERM', 3_000);
  await c.waitForActive(2);
  const before = await served(['n1', 'n2']);
  await killUserFails('n3', 'node_inactive');
  assert.deepEqual(await served(['n1', 'n2']), before, 'nothing was sent to the live nodes');
  untouched(sims);
  await c.stopSims();
});

test('an unreachable member (SIGKILLed, lease still live): 1105 naming it; the others were only checked', async () => {
  await c.addAgent('n3');
  await c.waitForActive(3);
  const sims = await Promise.all(['n1', 'n2'].map(bob));
  await c.agent('n3').child.stop('SIGKILL');
  const before = await served(['n1', 'n2']);
  await killUserFails('n3', 'node_unreachable');
  const afterwards = await served(['n1', 'n2']);
  assert.deepEqual(afterwards.map((n, i) => n - (before[i] ?? 0)), [1, 1], 'one TEST round each, no kill round');
  untouched(sims);
  await c.stopSims();
  // the same node id comes back with a fresh agent once the crashed one's lease is gone
  await c.expireLease('n3');
  await c.addAgent('n3');
  await c.waitForActive(3);
});

test('a member that does not answer (SIGSTOPped): 1105 naming it as timed out; nothing killed', async () => {
  const n4 = await c.addAgent('n4');
  await c.waitForActive(4);
  const sims = await Promise.all(['n1', 'n2'].map(bob));
  const before = await served(['n1', 'n2']);
  n4.child.proc.kill('SIGSTOP');
  try {
    await killUserFails('n4', 'node_timeout');
  } finally {
    n4.child.proc.kill('SIGCONT');
  }
  const afterwards = await served(['n1', 'n2']);
  assert.deepEqual(afterwards.map((n, i) => n - (before[i] ?? 0)), [1, 1], 'one TEST round each, no kill round');
  untouched(sims);
  // with every member answering again, the same statement kills bob everywhere
  await c.waitForActive(4);
  const r = await c.client().query('KILL USER bob', { dialect: 'mariadb' });
  assert.equal(r.affectedRows, 2);
  for (const s of sims) {
    assert.equal(await s.exited, 0);
    assert.equal(eventsOf(s, 'ended')[0]?.outcome, 'killed');
  }
});
