import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Etcd3 } from 'etcd3';
import { connectEtcd } from '../../common/etcd/client';
import { aliveKey, serverIdIncarnationKey, serverIdKey, type AliveRecord } from '../../common/etcd/etcd-layout';
import { serverIdOf } from '../../common/thread-id';
import type { Child } from '../../common/daemon/child-processes';
import { decodeRow } from '../../proto/codec';
import type { NodeAgentServiceClient } from '../../proto/generated/quell/v1/NodeAgentService';
import type { InfoResponse__Output } from '../../proto/generated/quell/v1/InfoResponse';
import type { KillRequest } from '../../proto/generated/quell/v1/KillRequest';
import type { KillResponse__Output } from '../../proto/generated/quell/v1/KillResponse';
import type { ScanRequest } from '../../proto/generated/quell/v1/ScanRequest';
import type { SqlValue } from '../../sql/types';
import { TestCluster, eventsOf, sleep } from './harness';

// Issue: MariaDB connections, agent side: cluster-wide server ids held in etcd, thread ids that
// encode them, information_schema.PROCESSLIST scans and connection kills through the agent's
// own RPCs (no coordinator statement involved).

let c: TestCluster;
let etcd: Etcd3;
const stubs = new Map<string, NodeAgentServiceClient>();

before(async () => {
  c = await TestCluster.start({ cluster: 'cx', nodes: 2, leaseTtlSeconds: 2 });
  etcd = connectEtcd({ endpoints: [c.etcd.url] });
});
after(async () => {
  etcd?.close();
  await c?.stop();
});

/** Dials as the coordinator: the agent serves Scan, Kill and Info only to it. */
function agentStub(node: string): NodeAgentServiceClient {
  const address = c.agent(node).address;
  let stub = stubs.get(address);
  if (!stub) {
    stub = c.agentStub(node);
    stubs.set(address, stub);
  }
  return stub;
}

function info(node: string): Promise<InfoResponse__Output> {
  return new Promise((resolve, reject) =>
    agentStub(node).Info({}, { deadline: Date.now() + 5_000 }, (err, res) => (err || !res ? reject(err ?? new Error('no answer')) : resolve(res))),
  );
}

function kill(node: string, req: KillRequest): Promise<KillResponse__Output[]> {
  const out: KillResponse__Output[] = [];
  const call = agentStub(node).Kill({ target: 'KILL_TARGET_CONNECTION', mode: 'KILL_MODE_ASYNC', user: 'root', may_kill_others: true, statement_id: 't', ...req });
  return new Promise((resolve, reject) => {
    call.on('data', (m: KillResponse__Output) => out.push(m));
    call.on('error', reject);
    call.on('end', () => resolve(out));
  });
}

function scan(node: string, req: ScanRequest): Promise<SqlValue[][]> {
  const rows: SqlValue[][] = [];
  const call = agentStub(node).Scan({ table: 'TABLE_CONNECTIONS', statement_id: 't', user: 'root', see_all_users: true, ...req });
  return new Promise((resolve, reject) => {
    call.on('data', (m: { rows: Parameters<typeof decodeRow>[0][] }) => rows.push(...m.rows.map(decodeRow)));
    call.on('error', reject);
    call.on('end', () => resolve(rows));
  });
}

async function alive(node: string): Promise<{ record: AliveRecord; lease: string } | undefined> {
  const res = await etcd.get(aliveKey(node)).exec();
  const kv = res.kvs[0];
  return kv ? { record: JSON.parse(kv.value.toString()) as AliveRecord, lease: kv.lease } : undefined;
}

/** Revokes the agent's lease as an etcd outage would expire it; its keys vanish at once. */
async function revokeLease(node: string): Promise<string> {
  const before = await alive(node);
  assert.ok(before, `${node} is alive`);
  await etcd.leaseClient.leaseRevoke({ ID: before.lease });
  return before.lease;
}

/** Polls until the agent is live again under a new lease. */
async function liveAgain(node: string, oldLease: string): Promise<AliveRecord> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const a = await alive(node);
    if (a && a.lease !== oldLease) return a.record;
    if (Date.now() > deadline) throw new Error(`${node} did not re-grant its lease`);
    await sleep(100);
  }
}

const connections = (node: string, user: string, extra: string[] = [], n = 1): Promise<Child> =>
  c.sim(node, ['--connections', String(n), '--user', user, '--host', 'app1', ...extra], n);

const threadIds = (sim: Child): number[] => eventsOf(sim, 'started').map((e) => Number(e.thread_id));

test('each agent holds a distinct server id: in etcd, in its alive record and in Info', async () => {
  const [i1, i2] = await Promise.all([info('n1'), info('n2')]);
  assert.ok(i1 && i2);
  assert.ok(i1.server_id >= 1 && i2.server_id >= 1);
  assert.notEqual(i1.server_id, i2.server_id);
  for (const [node, i] of [['n1', i1], ['n2', i2]] as const) {
    assert.equal((await alive(node))?.record.server_id, i.server_id);
    assert.equal(await etcd.get(serverIdKey(i.server_id)).string(), node);
    assert.ok(Number(await etcd.get(serverIdIncarnationKey(i.server_id)).string()) >= 1, 'the incarnation counter was bumped');
  }
});

test("a sim's thread ids encode its agent's server id; PROCESSLIST rows show the connections", async () => {
  const sim = await connections('n1', 'alice', ['--db', 'shop', '--in-transaction'], 2);
  await connections('n1', 'bob');
  const { server_id: serverId } = await info('n1');
  const ids = threadIds(sim);
  assert.equal(new Set(ids).size, 2);
  for (const id of ids) assert.equal(serverIdOf(id), serverId);

  const rows = await scan('n1', { where: "equals(USER, 'alice')", expressions: ['ID', 'USER', 'HOST', 'DB', 'COMMAND', 'INFO', 'QUERY_ID', 'TID', 'node_id'] });
  assert.deepEqual(rows.map((r) => r[0]).sort(), [...ids].sort());
  for (const r of rows) {
    assert.deepEqual(r.slice(1, 6), ['alice', 'app1', 'shop', 'Query', 'SELECT SLEEP(100)']);
    assert.equal(serverIdOf(Number(r[6])), serverId, 'query ids use the same layout');
    assert.equal(r[7], r[0]);
    assert.equal(r[8], 'n1');
  }
  // without PROCESS a reader sees only its own connections
  const own = await scan('n1', { where: '', expressions: ['USER'], user: 'bob', see_all_users: false });
  assert.deepEqual(own, [['bob']]);
  assert.deepEqual(await scan('n2', { where: "equals(USER, 'alice')", expressions: ['ID'] }), []);
  await c.stopSims();
});

test('Kill: KILL QUERY interrupts the statement (then idle: dropped), KILL CONNECTION ends it; only the owning agent counts the call', async () => {
  const sim = await connections('n2', 'carol', ['--in-transaction']);
  const id = threadIds(sim)[0];
  const before = await Promise.all([info('n1'), info('n2')]);

  const denied = await kill('n2', { where: `equals(ID, ${id})`, user: 'dave', may_kill_others: false, query_only: true });
  assert.deepEqual(denied, [{ kind: 'plan', plan: { eligible: 0, skipped: 1, skipped_owner: 'carol', skipped_id: String(id), planned: [] } }]);

  const q = await kill('n2', { where: `equals(ID, ${id})`, user: 'carol', may_kill_others: false, query_only: true });
  assert.equal(q[1]?.process?.status, 'KILL_STATUS_WAITING');
  assert.equal(q[1]?.process?.thread_id, String(id));
  assert.equal(q[1]?.process?.query, 'SELECT SLEEP(100)');
  const err = await sim.waitFor((e) => e.event === 'statement_error');
  assert.deepEqual([err.error_code, err.sqlstate, err.message, err.in_transaction], [1317, '70100', 'Query execution was interrupted', true]);
  const ok = await sim.waitFor((e) => e.event === 'statement_ok');
  assert.equal(ok.in_transaction, true);

  // the sim's reports travel on its own stream: wait until the agent has seen it go idle
  let row: unknown[] | undefined;
  for (let i = 0; i < 100; i++) {
    [row] = await scan('n2', { where: `equals(ID, ${id})`, expressions: ['COMMAND', 'INFO'] });
    if (row?.[0] === 'Sleep') break;
    await sleep(20);
  }
  assert.deepEqual(row, ['Sleep', null]);
  // now idle: a KILL QUERY matches and is eligible, but nothing is sent
  const idle = await kill('n2', { where: `equals(ID, ${id})`, query_only: true });
  assert.equal(idle[1]?.process?.status, 'KILL_STATUS_FINISHED');

  const listed = await kill('n2', { where: `equals(ID, ${id})`, mode: 'KILL_MODE_TEST' });
  assert.equal(listed[1]?.process?.status, 'KILL_STATUS_UNKNOWN_STATUS');
  const conn = await kill('n2', { where: `equals(ID, ${id})` });
  assert.equal(conn[1]?.process?.status, 'KILL_STATUS_WAITING');
  assert.equal(await sim.exited, 0);
  const ended = eventsOf(sim, 'ended')[0];
  assert.deepEqual([ended?.outcome, ended?.error_code, ended?.rolled_back], ['killed', 1927, true]);
  assert.deepEqual(eventsOf(sim, 'kill').map((k) => k.query_only), [true, false], 'the dropped KILL QUERY never reached the sim');

  const afterInfo = await Promise.all([info('n1'), info('n2')]);
  assert.deepEqual(afterInfo.map((a, i) => Number(a.kills_served) - Number(before[i]?.kills_served)), [0, 5]);
  assert.ok(Number(afterInfo[1]?.scans_served) - Number(before[1]?.scans_served) >= 1);
  assert.deepEqual(await scan('n2', { where: `equals(ID, ${id})`, expressions: ['ID'] }), []);
});

test('--critical: a SOFT kill waits for the critical section, a HARD one does not; SIGTERM closes normally', async () => {
  const soft = await connections('n1', 'gina', ['--critical', '--critical-ms', '3000', '--in-transaction']);
  const hard = await connections('n1', 'gina', ['--critical', '--critical-ms', '3000']);
  const calm = await connections('n1', 'gina', ['--in-transaction']);
  const sent = Date.now();
  await kill('n1', { where: `equals(ID, ${threadIds(soft)[0]})`, soft: true });
  await kill('n1', { where: `equals(ID, ${threadIds(hard)[0]})`, soft: false });
  assert.equal(await hard.exited, 0);
  assert.equal(await soft.exited, 0);
  const order = (sim: Child) => sim.events.filter((e) => ['kill', 'critical_left', 'ended'].includes(String(e.event))).map((e) => e.event);
  assert.deepEqual(order(soft), ['kill', 'critical_left', 'ended']);
  assert.deepEqual(order(hard), ['kill', 'ended']);
  assert.equal(eventsOf(soft, 'kill')[0]?.soft, true);
  assert.ok(Number(eventsOf(soft, 'critical_left')[0]?.at) - sent > 300, 'the soft kill waited');
  assert.equal(eventsOf(soft, 'ended')[0]?.rolled_back, true);
  assert.equal(eventsOf(hard, 'ended')[0]?.rolled_back, false);
  assert.equal(await calm.stop('SIGTERM'), 0);
  assert.deepEqual(eventsOf(calm, 'ended').map((e) => [e.outcome, e.rolled_back]), [['closed', true]]);
});

test('a lost lease is re-granted with the same server id; connections keep their ids', async () => {
  const sim = await connections('n1', 'erin');
  const [id] = threadIds(sim);
  const { server_id: serverId } = await info('n1');
  const record = await liveAgain('n1', await revokeLease('n1'));
  assert.equal(record.server_id, serverId);
  assert.equal(await etcd.get(serverIdKey(serverId)).string(), 'n1');
  assert.equal((await info('n1')).server_id, serverId);
  assert.deepEqual(await scan('n1', { where: `equals(ID, ${id})`, expressions: ['USER'] }), [['erin']]);
  const more = await connections('n1', 'erin');
  assert.equal(serverIdOf(threadIds(more)[0] ?? 0), serverId);
  await c.stopSims();
});

test('if another agent took the server id while the lease was gone, the agent takes a new one', async () => {
  const { server_id: old } = await info('n2');
  const lease = await revokeLease('n2');
  await etcd.put(serverIdKey(old)).value('intruder');
  try {
    const record = await liveAgain('n2', lease);
    assert.ok(record.server_id !== undefined && record.server_id !== old, `a new server id, not ${old}`);
    await sleep(100);
    const loud = c.agent('n2').child.stderr().split('\n').find((l) => l.includes('SERVER ID LOST'));
    assert.ok(loud && (JSON.parse(loud) as { level: number; holder: string }).level >= 50, 'logged as an error');
    assert.equal((JSON.parse(loud) as { holder: string }).holder, 'intruder');
    assert.equal((await info('n2')).server_id, record.server_id);
    assert.equal(await etcd.get(serverIdKey(record.server_id)).string(), 'n2');
    const sim = await connections('n2', 'frank');
    assert.equal(serverIdOf(threadIds(sim)[0] ?? 0), record.server_id);
    await c.stopSims();
  } finally {
    await etcd.delete().key(serverIdKey(old));
  }
});
