import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import mysql from 'mysql2/promise';
import { TestCluster, records, sleep } from './harness';
import { startMariaDb, type MariaDbInstance } from './servers/mariadb-instance';
import { normalizedQueryHash } from '../../sql/normalize';

// Statement classes on a backend (docs/statement-path.md §Statement classes): an agent in front of
// a real MariaDB server gives the server's running statements their class as it reads them,
// and a KILL by normalizedQueryHash('…') interrupts every run of that shape, and only those.

let server: MariaDbInstance;
let c: TestCluster;
const clients: mysql.Connection[] = [];

before(async () => {
  server = await startMariaDb();
  c = await TestCluster.start({ cluster: 'c1', nodes: 1, agentArgs: () => ['--backend', server.url('quell', 'pw')] });
});
after(async () => {
  for (const x of clients) x.destroy();
  await c?.stop();
  await server?.destroy();
});

/** Runs `sql` as etl on its own connection; the result is asserted by the caller. */
async function running(sql: string): Promise<{ conn: mysql.Connection; result: Promise<unknown> }> {
  const conn = await mysql.createConnection({ host: '127.0.0.1', port: server.port, user: 'etl', password: 'etlpw' });
  conn.on('error', () => undefined);
  clients.push(conn);
  const result = conn.query(sql);
  result.catch(() => undefined);
  return { conn, result };
}

const errno = (err: unknown): unknown => (err as { errno?: unknown }).errno;

test('a MariaDB statement has its class in system.processes; a KILL by normalizedQueryHash interrupts that shape only', async () => {
  const first = await running('SELECT SLEEP(100) /* first */');
  const second = await running('select   SLEEP(60)');
  const other = await running("SELECT SLEEP(100), 'other'");
  const sql = "SELECT query, normalized_query, normalized_query_hash FROM clusterAllReplicas('c1', system.processes) WHERE user = 'etl' ORDER BY query";
  let listed: Record<string, unknown>[] = [];
  for (const deadline = Date.now() + 10_000; listed.length < 3; await sleep(20)) {
    listed = records(await c.query(sql));
    if (Date.now() > deadline) throw new Error(`quell lists ${listed.length} of 3 statements`);
  }
  const shape = normalizedQueryHash('SELECT SLEEP(1)');
  assert.deepEqual(
    listed.map((r) => [r.query, r.normalized_query, Number(r.normalized_query_hash)]),
    [
      ['SELECT SLEEP(100) /* first */', 'SELECT SLEEP(?)', shape],
      ["SELECT SLEEP(100), 'other'", 'SELECT SLEEP(?), ?', normalizedQueryHash("SELECT SLEEP(1), 'x'")],
      ['select   SLEEP(60)', 'SELECT SLEEP(?)', shape],
    ],
  );

  const killed = records(await c.query("KILL QUERY ON CLUSTER c1 WHERE normalized_query_hash = normalizedQueryHash('SELECT SLEEP(1)')"));
  assert.deepEqual(killed.map((r) => [r.query, r.kill_status]).sort(), [['SELECT SLEEP(100) /* first */', 'waiting'], ['select   SLEEP(60)', 'waiting']]);
  for (const s of [first, second]) await assert.rejects(s.result, (err) => errno(err) === 1317); // ER_QUERY_INTERRUPTED

  const left = records(await c.query(sql));
  assert.deepEqual(left.map((r) => r.query), ["SELECT SLEEP(100), 'other'"]);
  const logged = records(await c.query("SELECT query, normalized_query_hash FROM clusterAllReplicas('c1', system.kill_log) WHERE kill_status = 'waiting' ORDER BY query"));
  assert.deepEqual(logged.map((r) => Number(r.normalized_query_hash)), [shape, shape]);
  other.conn.destroy();
});
