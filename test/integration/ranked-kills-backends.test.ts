import { test } from 'node:test';
import assert from 'node:assert/strict';
import type mysql from 'mysql2/promise';
import type { Client, DatabaseError } from 'pg';
import { type TestCluster, records, sleep } from './harness';
import { useBackendFleet } from './servers/backend-fleet';

// docs/ranked-kills.md against real servers: one cluster whose agents front a MariaDB, a
// PostgreSQL and a ClickHouse server. A ranked KILL plans on both, ranks their statements together, and cancels
// exactly the chosen ones on each server (1317 / 57014); the others keep running. A policy's
// ORDER BY picks on a server as it does on a workload.

let c: TestCluster;
const fleet = useBackendFleet({ cluster: 'rb', backends: ['mariadb', 'postgres', 'clickhouse'] }, (started) => (c = started));

/** A statement's outcome, kept without an unhandled rejection: 'ok', or its error. */
function outcome(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => 'ok',
    (err: unknown) => err,
  );
}

/** Whether the promise has settled by now (a statement still running has not). */
async function settled(p: Promise<unknown>): Promise<boolean> {
  return Promise.race([p.then(() => true), sleep(50).then(() => false)]);
}

async function mariaSleep(): Promise<{ conn: mysql.Connection; done: Promise<unknown> }> {
  const conn = await fleet.mariaEtl();
  return { conn, done: outcome(conn.query('SELECT SLEEP(100)')) };
}

async function pgSleep(): Promise<{ conn: Client; done: Promise<unknown> }> {
  const conn = await fleet.pgEtl();
  return { conn, done: outcome(conn.query('SELECT pg_sleep(100)')) };
}

/** Waits until quell lists `n` sleeping statements of etl on the cluster. */
async function listed(n: number): Promise<void> {
  await c.waitForRows("SELECT node_id FROM clusterAllReplicas('rb', system.processes) WHERE user = 'etl' AND match(query, '(?i)sleep')", (rows) => rows.length >= n);
}

test('ORDER BY elapsed DESC LIMIT 2 across MariaDB and PostgreSQL cancels the two oldest statements, one on each server', async () => {
  // started oldest first, half a second apart: MariaDB, PostgreSQL, MariaDB, PostgreSQL
  const m1 = await mariaSleep();
  await listed(1);
  await sleep(500);
  const p1 = await pgSleep();
  await listed(2);
  await sleep(500);
  const m2 = await mariaSleep();
  await listed(3);
  await sleep(500);
  const p2 = await pgSleep();
  await listed(4);

  // TEST shows the youngest by the reverse order, and stops nothing
  const youngest = records(await c.query("KILL QUERY ON CLUSTER rb WHERE user = 'etl' AND match(query, '(?i)sleep') ORDER BY elapsed ASC LIMIT 1 TEST"));
  assert.deepEqual(youngest.map((r) => [r.kill_status, r.node_id]), [['unknown_status', 'n2']]);

  const rows = records(await c.query("KILL QUERY ON CLUSTER rb WHERE user = 'etl' AND match(query, '(?i)sleep') ORDER BY elapsed DESC LIMIT 2 SYNC"));
  assert.deepEqual(rows.map((r) => [r.kill_status, r.node_id, r.user]).sort(), [['finished', 'n1', 'etl'], ['finished', 'n2', 'etl']], JSON.stringify(rows));
  assert.equal(((await m1.done) as { errno?: number }).errno, 1317, 'MariaDB: the oldest statement was interrupted');
  assert.equal(((await p1.done) as DatabaseError).code, '57014', 'PostgreSQL: the oldest statement was cancelled');
  assert.equal(await settled(m2.done), false, 'the younger MariaDB statement still runs');
  assert.equal(await settled(p2.done), false, 'the younger PostgreSQL statement still runs');
  const left = records(await c.query("SELECT node_id FROM clusterAllReplicas('rb', system.processes) WHERE user = 'etl' AND match(query, '(?i)sleep') ORDER BY node_id"));
  assert.deepEqual(left.map((r) => r.node_id), ['n1', 'n2']);

  // the kill log on each node has the chosen statement, with the ranked condition
  const logged = records(await c.query("SELECT node_id, mode, kill_status, condition FROM clusterAllReplicas('rb', system.kill_log) WHERE mode = 'SYNC' ORDER BY node_id, kill_status"));
  assert.deepEqual(logged.map((r) => [r.node_id, r.kill_status]), [['n1', 'finished'], ['n1', 'pending'], ['n2', 'finished'], ['n2', 'pending']]);
  assert.match(String(logged[0]?.condition), / ORDER BY elapsed DESC LIMIT 2$/);

  await c.query("KILL QUERY ON CLUSTER rb WHERE user = 'etl' SYNC");
  assert.equal(((await m2.done) as { errno?: number }).errno, 1317);
  assert.equal(((await p2.done) as DatabaseError).code, '57014');
});

test('a policy ORDER BY elapsed DESC … LIMIT 1 on a MariaDB server stops the oldest statement first', async () => {
  const old = await mariaSleep();
  await listed(1);
  await sleep(1_200);
  const young = await mariaSleep();
  await listed(2);
  await c.query("CREATE KILL POLICY oldest ON CLUSTER rb WHERE user = 'etl' AND match(query, '(?i)sleep') ORDER BY elapsed DESC EVERY 1 SECONDS LIMIT 1");
  try {
    assert.equal(((await old.done) as { errno?: number }).errno, 1317);
    // runs are a second apart: the younger one was not the first one stopped
    assert.equal(await settled(young.done), false);
  } finally {
    await c.query('DROP KILL POLICY oldest ON CLUSTER rb');
  }
  await c.query("KILL QUERY ON CLUSTER rb WHERE user = 'etl' SYNC");
  assert.equal(((await young.done) as { errno?: number }).errno, 1317);
});

test('on ClickHouse: ORDER BY elapsed DESC LIMIT 1 cancels the older of two queries by its query id; the younger runs on', async () => {
  const older = outcome(fleet.ch.query('SELECT count() FROM system.numbers', { queryId: 'ch-older' }));
  await c.waitForRows("SELECT 1 FROM clusterAllReplicas('rb', system.processes) WHERE query_id = 'ch-older'", (rows) => rows.length === 1);
  await sleep(600);
  const younger = outcome(fleet.ch.query('SELECT count() FROM system.numbers', { queryId: 'ch-younger' }));
  await c.waitForRows("SELECT 1 FROM clusterAllReplicas('rb', system.processes) WHERE query_id = 'ch-younger'", (rows) => rows.length === 1);
  const rows = records(await c.query("KILL QUERY ON CLUSTER rb WHERE match(query, 'system\\.numbers') ORDER BY elapsed DESC LIMIT 1 SYNC"));
  assert.deepEqual(rows.map((r) => [r.kill_status, r.query_id, r.node_id]), [['finished', 'ch-older', 'n3']]);
  assert.match(String(await older), /Query was cancelled/);
  assert.equal(await settled(younger), false, 'the younger query still runs');
  await c.query("KILL QUERY ON CLUSTER rb WHERE query_id = 'ch-younger' SYNC");
  assert.match(String(await younger), /Query was cancelled/);
});
