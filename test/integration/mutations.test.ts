import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { QuellError } from '../../errors/quell-error';
import { spawnQuell } from '../../common/daemon/child-processes';
import { TestCluster, useCluster, clientArgv, eventsOf, fillFileSystem, records, sleep } from './harness';

// Issue: KILL MUTATION across a cluster, with durable kills for nodes that were down.
const USERS = `
users:
  default: { grants: [ALL] }
  ro: { readonly: true }
  querykiller: { grants: [KILL QUERY] }
`;

let c: TestCluster;
useCluster({ cluster: 'c3', nodes: 3, users: USERS }, (started) => (c = started));

const mutationSim = (node: string, table: string, prefix: string, n = 1, extra: string[] = []) =>
  c.sim(node, ['--mutations', String(n), '--database', 'db', '--table', table, '--command', 'DELETE WHERE x = 1', '--mutation-id-prefix', prefix, '--part-ms', '50', '--parts', '100000', ...extra], n);

test('KILL MUTATION ON CLUSTER kills matching mutations everywhere; nothing is rolled back; other tables continue', async () => {
  const onT = await Promise.all(['n1', 'n2', 'n3'].map((n) => mutationSim(n, 't', `m1_${n}_`)));
  const other = await mutationSim('n2', 'other', 'm1_other_');
  await sleep(200);

  const client = spawnQuell([...clientArgv(c), '-q', "KILL MUTATION ON CLUSTER c3 WHERE table = 't' FORMAT JSONEachRow"]);
  assert.equal(await client.exited, 0, client.stderr());
  const rows = client.events;
  assert.deepEqual(Object.keys(rows[0] ?? {}), ['kill_status', 'database', 'table', 'mutation_id', 'command', 'host', 'port', 'node_id', 'error']);
  assert.deepEqual(rows.map((r) => `${String(r.node_id)}:${String(r.mutation_id)}`).sort(), ['n1:m1_n1_1', 'n2:m1_n2_1', 'n3:m1_n3_1']);
  for (const r of rows) {
    assert.equal(r.kill_status, 'waiting');
    assert.equal(r.database, 'db');
    assert.equal(r.command, 'DELETE WHERE x = 1');
    assert.equal(r.host, '127.0.0.1');
    assert.equal(r.port, Number(c.agent(String(r.node_id)).address.split(':')[1]));
  }
  for (const s of onT) {
    assert.equal(await s.exited, 0);
    const cancel = eventsOf(s, 'cancel')[0];
    const ended = eventsOf(s, 'ended')[0];
    assert.equal(ended?.outcome, 'killed');
    assert.ok(Number(ended?.parts_done) > 0, 'the mutation had done parts');
    assert.equal(ended?.parts_done, cancel?.parts_done, 'parts already mutated stay mutated');
  }
  const before = records(await c.query("SELECT mutation_id, parts_done FROM clusterAllReplicas('c3', system.mutations) WHERE database = 'db'"));
  assert.deepEqual(before.map((r) => r.mutation_id), ['m1_other_1']);
  await sleep(200);
  const later = records(await c.query("SELECT parts_done, is_killed FROM clusterAllReplicas('c3', system.mutations) WHERE mutation_id = 'm1_other_1'"));
  assert.ok(Number(later[0]?.parts_done) > Number(before[0]?.parts_done), 'the other table keeps mutating');
  assert.equal(eventsOf(other, 'cancel').length, 0);
  await c.stopSims();
});

test('TEST lists unknown_status and stops nothing; bad input and readonly users stop nothing', async () => {
  const sim = await mutationSim('n1', 't2', 'm2_');
  const listed = records(await c.query("KILL MUTATION WHERE table = 't2' TEST"));
  assert.deepEqual(listed.map((r) => [r.kill_status, r.mutation_id, r.node_id]), [['unknown_status', 'm2_1', 'n1']]);
  const cases: [string, string, number, string][] = [
    ['KILL MUTATION ON CLUSTER c3', 'default', 62, 'SYNTAX_ERROR'],
    ["KILL MUTATION WHERE tabel = 't2'", 'default', 47, 'UNKNOWN_IDENTIFIER'],
    ["KILL MUTATION WHERE table = 't2'", 'ro', 497, 'ACCESS_DENIED'],
    ["KILL MUTATION WHERE table = 't2' TEST", 'ro', 497, 'ACCESS_DENIED'],
    ["KILL MUTATION WHERE table = 't2'", 'querykiller', 497, 'ACCESS_DENIED'],
  ];
  for (const [sql, user, code, name] of cases) {
    await assert.rejects(c.query(sql, user), (e: unknown) => e instanceof QuellError && e.code === code && e.errorName === name);
  }
  await sleep(150);
  assert.equal(eventsOf(sim, 'cancel').length, 0);
  const still = records(await c.query("SELECT mutation_id FROM clusterAllReplicas('c3', system.mutations) WHERE table = 't2'"));
  assert.deepEqual(still.map((r) => r.mutation_id), ['m2_1']);
  await c.stopSims();
});

test('a kill for a stopped node is queued, applied once within a second of its return, and never again', async (t) => {
  await Promise.all(['n1', 'n2'].map((n) => mutationSim(n, 't3', `m3_${n}_`)));
  await mutationSim('n3', 't3', 'm3_n3_');
  await c.agent('n3').child.stop('SIGTERM');
  await c.waitForActive(2);

  const rows = records(await c.query("KILL MUTATION ON CLUSTER c3 WHERE table = 't3'"));
  const byNode = new Map(rows.map((r) => [r.node_id, r]));
  assert.equal(byNode.get('n1')?.kill_status, 'waiting');
  assert.equal(byNode.get('n2')?.kill_status, 'waiting');
  assert.equal(byNode.get('n3')?.kill_status, 'queued');
  assert.match(String(byNode.get('n3')?.error), /^node_inactive: queued as kill [0-9a-f-]{36}, applied when the node returns/);
  const queue = records(await c.query('SELECT kill_id, cluster, condition, nodes, applied FROM system.kill_queue'));
  assert.equal(queue.length, 1);
  assert.deepEqual([queue[0]?.cluster, queue[0]?.condition, queue[0]?.nodes, queue[0]?.applied], ['c3', "equals(table, 't3')", 'n3', 0]);

  // a mutation on the same table created after the statement: the queued kill must never touch it
  await sleep(1_100);
  await c.addAgent('n3');
  const returned = Date.now();
  const newer = await mutationSim('n3', 't3', 'm3_new_');
  // the workload registers its mutation again after the restart, with its original create time
  const back = await mutationSim('n3', 't3', 'm3_n3_', 1, ['--created-ago', '30']);
  assert.equal(await back.exited, 0);
  const started = eventsOf(back, 'started')[0];
  const cancel = eventsOf(back, 'cancel')[0];
  assert.ok(cancel, 'the returning mutation is killed');
  assert.ok(Number(cancel.at) - Number(started?.at) < 1000, `killed ${Number(cancel.at) - Number(started?.at)} ms after registering`);
  assert.equal(eventsOf(back, 'ended')[0]?.outcome, 'killed');
  // the kill is in n3's kill log, under the queued kill's id
  const logged = records(await c.query("SELECT statement_id, mode, kill_status, condition, query FROM clusterAllReplicas('c3', system.kill_log) WHERE node_id = 'n3' AND mutation_id = 'm3_n3_1'"));
  // the mutation as SQL, as a KILL MUTATION run while the node was up logs it
  const asSql = records(await c.query("SELECT query FROM clusterAllReplicas('c3', system.kill_log) WHERE node_id = 'n1' AND mutation_id = 'm3_n1_1'"))[0]?.query;
  assert.match(String(asSql), /^ALTER TABLE \S+\.t3 /);
  assert.deepEqual(logged, [{ statement_id: queue[0]?.kill_id, mode: 'ASYNC', kill_status: 'waiting', condition: "equals(table, 't3')", query: asSql }]);
  t.diagnostic(`queued kill applied ${Number(cancel.at) - Number(started?.at)} ms after registration, ${Number(cancel.at) - returned} ms after the agent was ready`);

  // registered again: the kill was applied once and is not applied again
  const again = await mutationSim('n3', 't3', 'm3_n3_', 1, ['--created-ago', '30']);
  await sleep(1000);
  assert.equal(eventsOf(again, 'cancel').length, 0);
  assert.equal(eventsOf(newer, 'cancel').length, 0, 'a mutation created after the KILL is not killed by its queued kill');
  const applied = records(await c.query('SELECT applied FROM system.kill_queue'));
  assert.deepEqual(applied.map((r) => r.applied), [1]);
  await c.stopSims();
});

test('an intent past its expiry is not applied, and the queue forgets it', async () => {
  await mutationSim('n2', 't4', 'm4_');
  await c.agent('n2').child.stop('SIGTERM');
  await c.waitForActive(2);
  const rows = records(await c.query("KILL MUTATION ON CLUSTER c3 WHERE table = 't4' SETTINGS mutation_kill_ttl = 2"));
  assert.equal(rows.find((r) => r.node_id === 'n2')?.kill_status, 'queued');
  for (let i = 0; i < 50; i++) {
    const q = await c.query("SELECT kill_id FROM system.kill_queue WHERE condition = 'equals(table, \\'t4\\')'");
    if (q.rows.length === 0) break;
    await sleep(200);
  }
  await sleep(1000);
  await c.addAgent('n2');
  const back = await mutationSim('n2', 't4', 'm4_');
  await sleep(1000);
  assert.equal(eventsOf(back, 'cancel').length, 0);
  const left = await c.query("SELECT kill_id FROM system.kill_queue WHERE condition = 'equals(table, \\'t4\\')'");
  assert.equal(left.rows.length, 0);
  await c.stopSims();
});

test('quell cluster kills / drop-kill remove a queued kill before it is applied', async () => {
  await c.agent('n1').child.stop('SIGTERM');
  await c.waitForActive(2);
  const rows = records(await c.query("KILL MUTATION ON CLUSTER c3 WHERE table = 't5'"));
  assert.equal(rows.find((r) => r.node_id === 'n1')?.kill_status, 'queued');
  const ls = spawnQuell(['cluster', 'kills', '--etcd', c.etcd.url]);
  assert.equal(await ls.exited, 0);
  const id = (await c.query("SELECT kill_id FROM system.kill_queue WHERE condition = 'equals(table, \\'t5\\')'")).rows[0]?.[0];
  assert.equal(typeof id, 'string');
  const drop = spawnQuell(['cluster', 'drop-kill', String(id), '--etcd', c.etcd.url]);
  assert.equal(await drop.exited, 0, drop.stderr());
  await c.addAgent('n1');
  const back = await mutationSim('n1', 't5', 'm5_');
  await sleep(800);
  assert.equal(eventsOf(back, 'cancel').length, 0);
  await c.stopSims();
});

test('a queued kill whose node returns with a full kill log: not applied, pending in system.kill_queue, and applied once there is room', async () => {
  const mount = mkdtempSync(path.join(os.tmpdir(), 'quell-durable-tmpfs-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', mount]);
  const filler = path.join(mount, 'filler');
  try {
    // n4, alone in cluster dq, is down when the KILL runs
    await c.addAgent('n4', 'dq', ['--kill-log-dir', mount]);
    await mutationSim('n4', 'tq', 'mq_');
    await c.agent('n4').child.stop('SIGTERM');
    await c.stopSims();
    await c.waitForRows("SELECT node_id FROM system.clusters WHERE cluster = 'dq' AND is_active = 0", (rows) => rows.length === 1);
    const rows = records(await c.query("KILL MUTATION ON CLUSTER dq WHERE table = 'tq'"));
    assert.deepEqual(rows.map((r) => r.kill_status), ['queued']);
    const pending = "SELECT kill_id, applied FROM system.kill_queue WHERE condition = 'equals(table, \\'tq\\')'";
    const [queued] = records(await c.query(pending));
    assert.equal(queued?.applied, 0);

    // it returns with its kill log on a full disk; the workload registers its mutation again
    fillFileSystem(filler);
    await c.addAgent('n4', 'dq', ['--kill-log-dir', mount]);
    const back = await mutationSim('n4', 'tq', 'mq_', 1, ['--created-ago', '30']);
    await sleep(1_500);
    assert.deepEqual(eventsOf(back, 'cancel'), [], 'not killed: the kill could not be logged');
    assert.deepEqual(records(await c.query(pending)), [{ kill_id: queued?.kill_id, applied: 0 }], 'still pending, not counted applied');

    // room again: the next retry (at most a second later) logs and kills it, then records it
    rmSync(filler);
    await back.waitFor(() => eventsOf(back, 'ended').length > 0, 5_000);
    assert.equal(eventsOf(back, 'cancel').length, 1);
    assert.equal(eventsOf(back, 'ended')[0]?.outcome, 'killed');
    await c.waitForRows(pending, (r) => r[0]?.applied === 1);
    const logged = records(await c.query(`SELECT mutation_id, kill_status FROM clusterAllReplicas('dq', system.kill_log) WHERE statement_id = '${String(queued?.kill_id)}'`));
    assert.deepEqual(logged, [{ mutation_id: 'mq_1', kill_status: 'waiting' }]);
    await sleep(500);
    assert.equal(eventsOf(back, 'cancel').length, 1, 'killed once');
  } finally {
    await c.stopSims();
    await c.agents.get('n4')?.child.stop('SIGTERM', 3_000);
    c.agents.delete('n4');
    execFileSync('umount', ['-l', mount]);
    rmSync(mount, { recursive: true, force: true });
  }
});
