import { test } from 'node:test';
import assert from 'node:assert/strict';
import { QuellError } from '../../errors/quell-error';
import { spawnQuell, type Child } from '../../common/daemon/child-processes';
import { serverIdOf } from '../../common/thread-id';
import type { InfoResponse__Output } from '../../proto/generated/quell/v1/InfoResponse';
import { TestCluster, useCluster, clientArgv, eventsOf, records, sleep } from './harness';

// Issue: the MariaDB dialect — connections, KILL [HARD|SOFT] [CONNECTION|QUERY [ID]] and
// cluster-wide thread ids, against real etcd and separate processes.
const USERS = `
users:
  default: { grants: [ALL] }
  carol: {}
  dave: {}
  admin: { grants: [CONNECTION ADMIN] }
`;

let c: TestCluster;
useCluster({ cluster: 'c3', nodes: 3, users: USERS }, (started) => (c = started));

/** Info as the coordinator asks it (the agent answers only the coordinator's certificate). */
function info(node: string): Promise<InfoResponse__Output> {
  const client = c.agentStub(node);
  return new Promise((resolve, reject) =>
    client.Info({}, (err, res) => {
      client.close();
      if (err || !res) reject(err ?? new Error('no answer'));
      else resolve(res);
    }),
  );
}

const connections = (node: string, user: string, extra: string[] = [], n = 1): Promise<Child> =>
  c.sim(node, ['--connections', String(n), '--user', user, '--host', 'localhost', '--db', 'shop', ...extra], n);

const threadIds = (sim: Child): number[] => eventsOf(sim, 'started').map((e) => Number(e.thread_id));

const mariadb = async (sql: string, user = 'default'): Promise<{ rows: Record<string, unknown>[]; affected: number }> => {
  const r = await c.client(user).query(sql, { dialect: 'mariadb' });
  return { rows: records(r), affected: r.affectedRows };
};

test('SHOW PROCESSLIST lists every connection of the cluster with distinct ids; Info is cut without FULL', async () => {
  const long = `SELECT SLEEP(100) /* ${'x'.repeat(120)} */`;
  const sims = await Promise.all(['n1', 'n2', 'n3'].map((n) => connections(n, 'alice', ['--statement', long], 2)));
  const ids = sims.flatMap(threadIds);
  assert.equal(new Set(ids).size, 6);
  const list = await mariadb('SHOW PROCESSLIST');
  assert.deepEqual(Object.keys(list.rows[0] ?? {}), ['Id', 'User', 'Host', 'db', 'Command', 'Time', 'State', 'Info', 'Progress']);
  const mine = list.rows.filter((r) => ids.includes(Number(r.Id)));
  assert.equal(mine.length, 6);
  for (const r of mine) {
    assert.equal(r.User, 'alice');
    assert.equal(r.db, 'shop');
    assert.equal(r.Command, 'Query');
    assert.equal(String(r.Info).length, 100);
  }
  const full = await mariadb('SHOW FULL PROCESSLIST');
  assert.equal(full.rows.find((r) => Number(r.Id) === ids[0])?.Info, long);
  // the id says which node owns it
  const agentsInfo = await Promise.all(['n1', 'n2', 'n3'].map((n) => info(n)));
  for (const [i, sim] of sims.entries()) for (const id of threadIds(sim)) assert.equal(serverIdOf(id), agentsInfo[i]?.server_id);
  await c.stopSims();
});

test('KILL <id> goes only to the owning node and rolls back the open transaction', async () => {
  await connections('n1', 'bob', ['--in-transaction']);
  const target = await connections('n2', 'bob', ['--in-transaction']);
  await connections('n3', 'bob', ['--in-transaction']);
  const id = threadIds(target)[0];
  const before = await Promise.all(['n1', 'n2', 'n3'].map((n) => info(n)));
  const r = await mariadb(`KILL ${id}`);
  assert.equal(r.affected, 0);
  const afterInfo = await Promise.all(['n1', 'n2', 'n3'].map((n) => info(n)));
  const asked = afterInfo.map((a, i) => Number(a.kills_served) - Number(before[i]?.kills_served));
  assert.deepEqual(asked, [0, 1, 0], 'only n2 was asked');
  assert.equal(await target.exited, 0);
  const ended = eventsOf(target, 'ended')[0];
  assert.deepEqual([ended?.outcome, ended?.error_code, ended?.rolled_back], ['killed', 1927, true]);
  await c.stopSims();
});

test('KILL QUERY <id> interrupts the statement with 1317; the transaction stays open and the next statement runs', async () => {
  const sim = await connections('n3', 'bob', ['--in-transaction']);
  const id = threadIds(sim)[0];
  await mariadb(`KILL QUERY ${id}`);
  const err = await sim.waitFor((e) => e.event === 'statement_error');
  assert.deepEqual([err.error_code, err.sqlstate, err.message, err.in_transaction], [1317, '70100', 'Query execution was interrupted', true]);
  const next = await sim.waitFor((e) => e.event === 'statement_ok');
  assert.equal(next.in_transaction, true);
  assert.equal(sim.proc.exitCode, null, 'the connection stays open');
  const list = await mariadb('SHOW PROCESSLIST');
  assert.ok(list.rows.some((r) => Number(r.Id) === id));
  await c.stopSims();
});

test('KILL USER carol kills her connections on every node and counts them; without rights, 1095 and nothing is killed', async () => {
  const carols = await Promise.all(['n1', 'n2', 'n3'].map((n) => connections(n, 'carol')));
  await assert.rejects(mariadb('KILL USER carol', 'dave'), (e: unknown) => {
    assert.ok(e instanceof QuellError);
    assert.deepEqual([e.code, e.errorName, e.dialect], [1095, 'HY000', 'mariadb']);
    assert.match(e.message, /^You are not owner of thread \d+$/);
    return true;
  });
  await sleep(200);
  for (const s of carols) assert.equal(eventsOf(s, 'kill').length, 0);
  const own = await mariadb('KILL USER CURRENT_USER', 'dave');
  assert.equal(own.affected, 0, 'unknown or empty users are not an error');
  const r = await mariadb('KILL USER carol', 'admin');
  assert.equal(r.affected, 3);
  for (const s of carols) {
    assert.equal(await s.exited, 0);
    assert.equal(eventsOf(s, 'ended')[0]?.outcome, 'killed');
  }
});

test('SOFT waits for the critical section; HARD does not', async () => {
  const soft = await connections('n1', 'bob', ['--critical', '--critical-ms', '3000']);
  const hard = await connections('n2', 'bob', ['--critical', '--critical-ms', '3000']);
  await mariadb(`KILL SOFT ${threadIds(soft)[0]}`);
  await mariadb(`KILL HARD ${threadIds(hard)[0]}`);
  assert.equal(await hard.exited, 0);
  assert.equal(await soft.exited, 0);
  const order = (sim: Child) => sim.events.filter((e) => ['kill', 'critical_left', 'ended'].includes(String(e.event))).map((e) => e.event);
  assert.deepEqual(order(soft), ['kill', 'critical_left', 'ended']);
  assert.deepEqual(order(hard), ['kill', 'ended']);
});

test('unknown ids and subqueries get MariaDB errors; the CLI prints them as the mariadb client does', async () => {
  const cases: [string, number, string, string][] = [
    ['KILL 9999', 1094, 'HY000', 'Unknown thread id: 9999'],
    ['KILL QUERY ID 77', 1957, 'HY000', 'Unknown query id: 77'],
    ['KILL 0', 1094, 'HY000', 'Unknown thread id: 0'],
    ['KILL (SELECT 1)', 1970, '42000', 'KILL does not support subqueries or stored functions'],
  ];
  for (const [sql, code, state, message] of cases) {
    await assert.rejects(mariadb(sql), (e: unknown) => e instanceof QuellError && e.code === code && e.errorName === state && e.message === message);
  }
  const cli = spawnQuell([...clientArgv(c), '--dialect', 'mariadb', '-q', 'KILL 9999']);
  assert.notEqual(await cli.exited, 0);
  assert.equal(cli.stderr(), 'ERROR 1094 (HY000): Unknown thread id: 9999\n');
  const sim = await connections('n1', 'bob');
  const ok = spawnQuell([...clientArgv(c), '--dialect', 'mariadb', '-q', `KILL ${threadIds(sim)[0]}`]);
  assert.equal(await ok.exited, 0);
  assert.match(ok.stdout(), /^Query OK, 0 rows affected \(\d+\.\d{3} sec\)\n$/);
  await sim.exited;
});
