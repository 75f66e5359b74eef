import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Client, DatabaseError } from 'pg';
import { type TestCluster, eventsOf, records, until } from './harness';
import { useBackendFleet } from './servers/backend-fleet';

// docs/kill-policies.md across a mixed fleet: one cluster whose agents front a MariaDB, a
// PostgreSQL and a ClickHouse server, and a fourth agent with `quell sim` workloads. One policy
// in pt-kill's terms (--busy-time, --match-info) stops the long statement on each of them; an
// idle-connection policy (--idle-time) ends idle sessions on the servers that have them.

let c: TestCluster;
// n4 fronts no server: its workloads are `quell sim`s
const fleet = useBackendFleet({ cluster: 'mixed', nodes: 4, backends: ['mariadb', 'postgres', 'clickhouse'] }, (started) => (c = started));

/** An etl session that keeps its fatal errors (a terminated backend). */
async function pgEtl(): Promise<Client & { fatal: DatabaseError[] }> {
  const fatal: DatabaseError[] = [];
  return Object.assign(await fleet.pgEtl((err) => fatal.push(err as DatabaseError)), { fatal });
}

/** The rejection (or 'ok') of a statement, kept without an unhandled rejection. */
function outcome(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => 'ok',
    (err: unknown) => err,
  );
}

test('one busy-time policy stops the long statement on MariaDB, PostgreSQL, ClickHouse and a workload', async () => {
  const m = await fleet.mariaEtl();
  const mariaSleep = outcome(m.query('SELECT SLEEP(100)'));
  const p = await pgEtl();
  const pgSleep = outcome(p.query('SELECT pg_sleep(100)'));
  const chCount = outcome(fleet.ch.query('SELECT count() FROM system.numbers', { queryId: 'ch-long' }));
  const sim = await c.sim('n4', ['--queries', '1', '--user', 'etl', '--query', 'SELECT sleep(3600)', '--query-id-prefix', 'sim-long-']);
  await until('four long statements', async () => (await c.query("SELECT 1 FROM clusterAllReplicas('mixed', system.processes) WHERE match(query, '(?i)(sleep|numbers)')")).rows.length >= 4);

  // pt-kill --busy-time 1 --match-info '(?i)sleep|numbers' --kill-query
  await c.query("CREATE KILL POLICY runaway ON CLUSTER mixed WHERE elapsed > 1 AND match(query, '(?i)(sleep|numbers)') EVERY 1 SECONDS LIMIT 10");
  assert.equal(((await mariaSleep) as { errno?: number }).errno, 1317, 'MariaDB: query interrupted');
  assert.equal(((await pgSleep) as DatabaseError).code, '57014', 'PostgreSQL: canceling statement due to user request');
  assert.match(String(await chCount), /Query was cancelled/, 'ClickHouse: the query was cancelled');
  await sim.waitFor(() => eventsOf(sim, 'cancel').length === 1);
  await c.query('DROP KILL POLICY runaway');

  const rows = records(await c.query("SELECT node_id, mode, policy, target, kill_status FROM clusterAllReplicas('mixed', system.kill_log) WHERE policy = 'runaway' ORDER BY node_id"));
  assert.deepEqual(
    rows.map((r) => [r.node_id, r.mode, r.target, r.kill_status]),
    ['n1', 'n2', 'n3', 'n4'].map((n) => [n, 'POLICY', 'QUERY', 'waiting']),
  );
  // the sessions stay usable: the policy killed the statements, not the connections
  assert.deepEqual((await m.query('SELECT 1 AS one'))[0], [{ one: 1 }]);
  assert.equal((await p.query('SELECT 1 AS one')).rows[0]?.one, 1);
});

test('an idle-time policy (KILL CONNECTION, COMMAND = Sleep AND TIME > n) ends idle sessions on MariaDB and PostgreSQL', async () => {
  // the sessions of the test before are idle too: they go with these
  const m = await fleet.mariaEtl();
  const p = await pgEtl();
  const busy = await fleet.mariaEtl();
  const busySleep = outcome(busy.query('SELECT SLEEP(100)'));
  await c.query("CREATE KILL POLICY idle ON CLUSTER mixed WHERE USER = 'etl' AND COMMAND = 'Sleep' AND TIME > 1 KILL CONNECTION EVERY 1 SECONDS LIMIT 10");
  await until('the idle sessions to end', async () => p.fatal.length > 0 && (await outcome(m.query('SELECT 1'))) !== 'ok');
  assert.equal(p.fatal[0]?.code, '57P01', 'PostgreSQL: terminating connection due to administrator command');
  await c.query('DROP KILL POLICY idle');
  // the busy session is not idle: it still runs its statement
  const running = records(await c.query("SELECT COMMAND FROM clusterAllReplicas('mixed', information_schema.PROCESSLIST) WHERE USER = 'etl'"));
  assert.deepEqual(running.map((r) => r.COMMAND), ['Query']);
  const rows = records(await c.query("SELECT node_id, target, mode FROM clusterAllReplicas('mixed', system.kill_log) WHERE policy = 'idle' ORDER BY node_id"));
  const kinds = new Set(rows.map((r) => `${String(r.node_id)} ${String(r.target)} ${String(r.mode)}`));
  assert.deepEqual([...kinds], ['n1 CONNECTION POLICY', 'n2 CONNECTION POLICY']);
  void busySleep; // ended by after()
});
