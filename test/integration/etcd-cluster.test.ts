import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { freePort, spawnQuell, startEtcdCluster, type Child, type EtcdCluster } from '../../common/daemon/child-processes';
import { QuellClient } from '../../client/coordinator-client';
import { QuellError } from '../../errors/quell-error';
import { eventsOf, records, sleep } from './harness';
import { testPki, type TestPki } from './tls-fixture';

// etcd as a real three-member cluster: losing one member changes nothing an operator sees;
// losing quorum leaves statements that only read etcd's view working, fails those that must
// write to etcd with one line naming etcd, and everything recovers when the members return.
let pki: TestPki;
let etcd: EtcdCluster;
let client: QuellClient;
const children: Child[] = [];
const agents = new Map<string, string>();

function quell(args: string[]): Child {
  const child = spawnQuell(args);
  children.push(child);
  return child;
}

async function sim(nodeId: string, args: string[], n: number): Promise<Child> {
  const child = quell(['sim', '--agent', agents.get(nodeId) ?? '', ...pki.argv(pki.workload()), ...args]);
  await child.waitFor(() => eventsOf(child, 'started').length >= n);
  return child;
}

async function activeNodes(): Promise<string[]> {
  const r = await client.query("SELECT node_id FROM system.clusters WHERE cluster = 'c' AND is_active = 1 ORDER BY node_id");
  return r.rows.map((row) => String(row[0]));
}

async function waitForNodes(want: string[], timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let seen: string[] = [];
  while (Date.now() < deadline) {
    seen = await activeNodes().catch(() => []);
    if (seen.join(',') === want.join(',')) return;
    await sleep(100);
  }
  assert.fail(`expected active nodes ${want.join(',')}, saw ${seen.join(',')}`);
}

before(async () => {
  pki = await testPki();
  etcd = await startEtcdCluster({ members: 3 });
  const urls = etcd.urls.join(',');
  const coordinator = quell(['coordinator', '--etcd', urls, '--listen', `127.0.0.1:${await freePort()}`, '--default-cluster', 'c', ...pki.argv(pki.coordinator())]);
  const ready = await coordinator.waitFor((e) => e.event === 'ready');
  client = new QuellClient(String(ready.address), { tls: pki.anonymous() });
  for (const nodeId of ['n1', 'n2', 'n3']) {
    const agent = quell(['agent', '--etcd', urls, '--node-id', nodeId, '--listen', '127.0.0.1:0', '--cluster', 'c', '--lease-ttl', '5', ...pki.argv(pki.agent(nodeId))]);
    agents.set(nodeId, String((await agent.waitFor((e) => e.event === 'ready')).address));
  }
  await waitForNodes(['n1', 'n2', 'n3']);
});

after(async () => {
  client?.close();
  await Promise.all(children.map((c) => c.stop('SIGTERM', 3_000)));
  await etcd?.stop();
});

async function killQuery(user: string): Promise<[string, string][]> {
  const rows = records(await client.query(`KILL QUERY WHERE user = '${user}' SYNC SETTINGS distributed_ddl_task_timeout = 5`));
  return rows.map((r): [string, string] => [String(r.node_id), String(r.kill_status)]).sort();
}

test('one etcd member down: KILL and SELECT go on, every node listed', async () => {
  await etcd.halt(0);
  const sims = await Promise.all(['n1', 'n2', 'n3'].map((n) => sim(n, ['--queries', '1', '--user', 'one-down', '--query-id-prefix', `one-${n}-`], 1)));
  assert.deepEqual(await activeNodes(), ['n1', 'n2', 'n3']);
  assert.deepEqual(await killQuery('one-down'), [['n1', 'finished'], ['n2', 'finished'], ['n3', 'finished']]);
  for (const s of sims) assert.equal(eventsOf(s, 'cancel').length, 1);
  // a write needs a quorum, which two of three members still are
  await client.query("CREATE KILL POLICY one_down WHERE user = 'nobody' LIMIT 10");
  await client.query('DROP KILL POLICY one_down');
});

test('two etcd members down: reads of the view work, etcd writes fail or are reported with one line naming etcd; then all recovers', async () => {
  await sim('n3', ['--mutations', '1', '--database', 'db', '--table', 'tq', '--command', 'DELETE WHERE x = 1', '--mutation-id-prefix', 'q_', '--part-ms', '50', '--parts', '100000'], 1);
  const n3 = children.find((c) => c.proc.spawnargs.includes('n3') && c.proc.spawnargs.includes('agent'));
  assert.ok(n3);
  await n3.stop('SIGKILL');
  await etcd.halt(1);

  // the coordinator's view is what it last saw: n3's lease cannot expire without a quorum
  const sims = await Promise.all(['n1', 'n2'].map((n) => sim(n, ['--queries', '1', '--user', 'no-quorum', '--query-id-prefix', `nq-${n}-`], 1)));
  assert.deepEqual(await activeNodes(), ['n1', 'n2', 'n3']);
  // n3 is still listed, and its row says it could not be asked
  assert.deepEqual(await killQuery('no-quorum'), [['n1', 'finished'], ['n2', 'finished'], ['n3', 'node_unreachable']]);
  for (const s of sims) assert.equal(eventsOf(s, 'cancel').length, 1);

  const oneLineNamingEtcd = (err: unknown): boolean => {
    assert.ok(err instanceof QuellError, String(err));
    assert.match(err.message, /etcd/);
    assert.doesNotMatch(err.message, /\n/);
    return true;
  };
  await assert.rejects(client.query("CREATE KILL POLICY no_quorum WHERE user = 'nobody' LIMIT 10"), oneLineNamingEtcd);
  // n3 cannot be asked, so its kill must be queued in etcd, which cannot take the write: the
  // statement still answers, and n3's row says nothing was queued and why, naming etcd
  const mutationRows = records(await client.query("KILL MUTATION ON CLUSTER c WHERE table = 'tq'"));
  assert.deepEqual(mutationRows.map((r) => [r.node_id, r.kill_status]), [['n3', 'node_unreachable']]);
  assert.match(String(mutationRows[0]?.error), /; the kill could not be queued: etcd at http:\/\/127\.0\.0\.1:\d+,\S+ is unreachable: [^\n]+$/);
  assert.equal((await client.query('SELECT kill_id FROM system.kill_queue')).rows.length, 0);

  await etcd.restart(0, 1);
  await waitForNodes(['n1', 'n2']);
  await client.query("CREATE KILL POLICY after_quorum WHERE user = 'nobody' LIMIT 10");
  await client.query('DROP KILL POLICY after_quorum');
  const rows = records(await client.query("KILL MUTATION ON CLUSTER c WHERE table = 'tq'"));
  assert.equal(rows.find((r) => r.node_id === 'n3')?.kill_status, 'queued');
});
