import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { DatabaseError } from 'pg';
import { type TestCluster, records, sleep } from './harness';
import { useBackendFleet } from './servers/backend-fleet';
import { normalizedQueryHash } from '../../sql/normalize';

// Statement classes on backends (docs/statement-path.md §Statement classes): agents in front of a
// real MariaDB (n1) and a real PostgreSQL (n2) give the servers' running statements their class
// as they read them, and one KILL by normalizedQueryHash('…') interrupts every run of that shape
// on both servers, and only those: MariaDB's literal SLEEP(100) and PostgreSQL's parameterized
// SLEEP($1) are one shape.

let c: TestCluster;
const fleet = useBackendFleet(
  {
    cluster: 'c2',
    backends: ['mariadb', 'postgres'],
    // SLEEP(s) in PostgreSQL too, so that one statement text runs on both servers
    prepare: (f) => f.pg.admin('CREATE FUNCTION sleep(s float8) RETURNS void LANGUAGE plpgsql AS $$BEGIN PERFORM pg_sleep(s); END$$;'),
  },
  (started) => (c = started),
);

/** Starts `sql` as etl on its own MariaDB connection; `outcome` is the error number it ends with (0: none). */
async function onMariaDb(sql: string): Promise<{ outcome: Promise<unknown> }> {
  const conn = await fleet.mariaEtl();
  const outcome = conn.query(sql).then(
    () => 0,
    (err: { errno?: unknown }) => err.errno,
  );
  return { outcome };
}

/** Starts `sql` as etl on its own PostgreSQL session; `outcome` is the SQLSTATE it ends with ('ok': none). */
async function onPostgres(sql: string, values: unknown[] = []): Promise<{ outcome: Promise<string> }> {
  const conn = await fleet.pgEtl();
  const outcome = conn.query(sql, values).then(
    () => 'ok',
    (err: DatabaseError) => err.code ?? err.message,
  );
  return { outcome };
}

test('backend statements have their class in system.processes; a KILL by normalizedQueryHash interrupts that shape on MariaDB and PostgreSQL', async () => {
  const first = await onMariaDb('SELECT SLEEP(100) /* first */');
  const second = await onMariaDb('select   SLEEP(60)');
  const other = await onMariaDb("SELECT SLEEP(100), 'other'");
  const param = await onPostgres('SELECT SLEEP($1)', [100]);
  const pgOther = await onPostgres('SELECT pg_sleep(100)');
  const sql = "SELECT node_id, query, normalized_query, normalized_query_hash FROM clusterAllReplicas('c2', system.processes) WHERE user = 'etl' ORDER BY node_id, query";
  let listed: Record<string, unknown>[] = [];
  for (const deadline = Date.now() + 10_000; listed.length < 5; await sleep(20)) {
    listed = records(await c.query(sql));
    if (Date.now() > deadline) throw new Error(`quell lists ${listed.length} of 5 statements: ${JSON.stringify(listed)}`);
  }
  const shape = normalizedQueryHash('SELECT SLEEP(1)');
  assert.deepEqual(
    listed.map((r) => [r.node_id, r.query, r.normalized_query, Number(r.normalized_query_hash)]),
    [
      ['n1', 'SELECT SLEEP(100) /* first */', 'SELECT SLEEP(?)', shape],
      ['n1', "SELECT SLEEP(100), 'other'", 'SELECT SLEEP(?), ?', normalizedQueryHash("SELECT SLEEP(1), 'x'")],
      ['n1', 'select   SLEEP(60)', 'SELECT SLEEP(?)', shape],
      ['n2', 'SELECT SLEEP($1)', 'SELECT SLEEP(?)', shape],
      ['n2', 'SELECT pg_sleep(100)', 'SELECT pg_sleep(?)', normalizedQueryHash('SELECT pg_sleep(1)')],
    ],
  );

  const killed = records(await c.query("KILL QUERY ON CLUSTER c2 WHERE normalized_query_hash = normalizedQueryHash('SELECT SLEEP(1)')"));
  assert.deepEqual(
    killed.map((r) => [r.node_id, r.query, r.kill_status]).sort(),
    [
      ['n1', 'SELECT SLEEP(100) /* first */', 'waiting'],
      ['n1', 'select   SLEEP(60)', 'waiting'],
      ['n2', 'SELECT SLEEP($1)', 'waiting'],
    ],
  );
  assert.equal(await first.outcome, 1317); // ER_QUERY_INTERRUPTED
  assert.equal(await second.outcome, 1317);
  assert.equal(await param.outcome, '57014'); // query_canceled

  const left = records(await c.query(sql));
  assert.deepEqual(left.map((r) => r.query), ["SELECT SLEEP(100), 'other'", 'SELECT pg_sleep(100)']);
  const logged = records(await c.query("SELECT node_id, normalized_query_hash FROM clusterAllReplicas('c2', system.kill_log) WHERE kill_status = 'waiting'"));
  assert.deepEqual(logged.map((r) => Number(r.normalized_query_hash)), [shape, shape, shape]);

  await c.query("KILL QUERY ON CLUSTER c2 WHERE user = 'etl'");
  assert.equal(await other.outcome, 1317);
  assert.equal(await pgOther.outcome, '57014');
});
