import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import type mysql from 'mysql2/promise';
import type { DatabaseError } from 'pg';
import { type TestCluster, records, sleep, until } from './harness';
import { useBackendFleet } from './servers/backend-fleet';

// Escalation on real servers (docs/escalation.md): an agent in front of MariaDB (n1) and one in
// front of PostgreSQL (n2). A statement that ignores its cancel is a bulk load whose client
// stalled: the server waits reading the client's data, and there MariaDB's KILL QUERY only marks
// it Killed (it runs on until net_read_timeout, 30 s) and PostgreSQL holds pg_cancel_backend
// back (a COPY FROM STDIN waits as long as its client does); KILL CONNECTION and
// pg_terminate_backend end it at once. The kill's reason is a comment on every kill statement,
// in the server's own log, made safe.

let c: TestCluster;
let root: mysql.Connection;
const fleet = useBackendFleet(
  {
    cluster: 'c2',
    backends: ['mariadb', 'postgres'],
    prepare: async (f) => {
      root = await f.mariaRoot();
      // the servers' own logs, where the reason must land
      await root.query("SET GLOBAL log_output = 'TABLE'");
      await root.query('SET GLOBAL general_log = 1');
      await f.pg.admin("ALTER SYSTEM SET log_statement = 'all'");
      await f.pg.admin('SELECT pg_reload_conf()');
      await f.pg.admin('CREATE TABLE copy_target (x int); GRANT INSERT ON copy_target TO etl;');
    },
  },
  (started) => (c = started),
);

/** A reason with a comment terminator and a quote in it: the kill statements must stay what quell wrote. */
const REASON = "stalled loader */ it's stuck";
const SAFE = "/* quell: stalled loader * / it's stuck */";
const KILL = `KILL QUERY ON CLUSTER c2 WHERE user = 'etl' SYNC SETTINGS escalate_after = 1, kill_reason = '${REASON.replace(/'/g, "\\'")}'`;

/** A MariaDB LOAD DATA LOCAL INFILE whose client never sends the file; `outcome` is the error code it ends with. */
async function stalledLoadOnMariaDb(): Promise<{ thread: number; outcome: Promise<unknown> }> {
  const never = (): PassThrough => new PassThrough();
  const conn = await fleet.mariaEtl({ database: 'shop', infileStreamFactory: never });
  const thread = conn.threadId;
  const outcome = conn.query({ sql: "LOAD DATA LOCAL INFILE 'stalled.csv' INTO TABLE orders", infileStreamFactory: never }).then(
    () => 'completed',
    (err: { code?: unknown }) => err.code,
  );
  await until('the MariaDB load to wait for its client', async () => {
    const [rows] = await root.query<mysql.RowDataPacket[]>('SELECT STATE FROM information_schema.PROCESSLIST WHERE ID = ?', [thread]);
    return rows[0]?.STATE === 'Reading from net';
  });
  return { thread, outcome };
}

/** COPY FROM STDIN whose client never sends a row (a query object node-postgres submits as is). */
class StalledCopy extends EventEmitter {
  submit(connection: { query(text: string): void }): void {
    connection.query('COPY copy_target FROM STDIN');
  }
  handleCopyInResponse(): void {
    // the client stalls: no CopyData, no CopyDone
  }
  handleError(err: Error): void {
    this.emit('error', err);
  }
  handleReadyForQuery(): void {
    this.emit('end');
  }
  handleCommandComplete(): void {}
  handleRowDescription(): void {}
  handleDataRow(): void {}
  handleEmptyQuery(): void {}
  handlePortalSuspended(): void {}
  handleCopyData(): void {}
}

/** The stalled COPY on its own session; `outcome` is the SQLSTATE it ends with. */
async function stalledCopyOnPostgres(): Promise<{ pid: number; outcome: Promise<string> }> {
  const conn = await fleet.pgEtl();
  const [{ pid }] = (await conn.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows as [{ pid: number }];
  const copy = new StalledCopy();
  const outcome = new Promise<string>((resolve) => {
    copy.on('error', (err: DatabaseError) => resolve(err.code ?? err.message));
    copy.on('end', () => resolve('completed'));
  });
  (conn as unknown as { query(q: StalledCopy): void }).query(copy);
  await until('the PostgreSQL COPY to wait for its client', async () => {
    const rows = await fleet.pg.admin(`SELECT wait_event, query FROM pg_stat_activity WHERE pid = ${pid}`);
    return rows[0]?.wait_event === 'ClientRead' && String(rows[0]?.query).startsWith('COPY');
  });
  return { pid, outcome };
}

async function generalLog(): Promise<string[]> {
  const [rows] = await root.query<mysql.RowDataPacket[]>("SELECT CAST(argument AS CHAR) AS a FROM mysql.general_log WHERE argument LIKE 'KILL%'");
  return rows.map((r) => String(r.a));
}

/** The kill log's steps of this file's reasoned kill on one node. */
async function steps(node: string): Promise<unknown[][]> {
  const rows = records(
    await c.query(
      `SELECT kill_status, escalated FROM clusterAllReplicas('c2', system.kill_log) WHERE node_id = '${node}' AND reason = '${REASON.replace(/'/g, "\\'")}' ORDER BY event_time, escalated, kill_status = 'pending' DESC`,
    ),
  );
  return rows.map((r) => [r.kill_status, r.escalated]);
}

test('MariaDB: a load deaf to KILL QUERY gets KILL CONNECTION after escalate_after; the reason is a safe comment in the general log', async () => {
  const stalled = await stalledLoadOnMariaDb();
  const started = Date.now();
  const result = records(await c.query(KILL));
  const took = Date.now() - started;
  assert.deepEqual(result.map((r) => [r.node_id, r.user, r.kill_status, r.escalated, r.error]), [['n1', 'etl', 'finished', 1, '']]);
  assert.ok(took >= 900 && took < 8_000, `ended after the escalation (${took} ms)`);
  assert.equal(await stalled.outcome, 'PROTOCOL_CONNECTION_LOST', 'its connection was killed');
  const kills = await generalLog();
  assert.deepEqual(
    kills.filter((k) => k.includes('quell:')).map((k) => k.replace(/QUERY ID \d+/, 'QUERY ID <id>')),
    [`KILL HARD QUERY ID <id> ${SAFE}`, `KILL HARD CONNECTION ${stalled.thread} ${SAFE}`],
  );
  assert.deepEqual(await steps('n1'), [['pending', 0], ['pending', 1], ['finished', 1]]);
});

test('MariaDB: a statement that obeys its KILL QUERY is not escalated, and its connection lives on', async () => {
  const conn = await fleet.mariaEtl();
  const outcome = conn.query('SELECT SLEEP(100) AS polite').then(
    () => 'completed',
    (err: { errno?: unknown }) => err.errno,
  );
  await c.waitForRows("SELECT query FROM clusterAllReplicas('c2', system.processes) WHERE query LIKE '%polite%'", (rows) => rows.length === 1);
  const before = (await generalLog()).length;
  const result = records(await c.query("KILL QUERY ON CLUSTER c2 WHERE query LIKE '%polite%' SYNC SETTINGS escalate_after = 1"));
  assert.deepEqual(result.map((r) => [r.node_id, r.kill_status, r.escalated]), [['n1', 'finished', 0]]);
  // an interrupted SLEEP() returns 1 rather than failing (MariaDB): the statement ended either way
  assert.ok([1317, 'completed'].includes((await outcome) as number | string));
  await sleep(1_500);
  const kills = (await generalLog()).slice(before);
  assert.equal(kills.filter((k) => k.startsWith('KILL HARD CONNECTION')).length, 0, kills.join(' | '));
  const [alive] = await conn.query<mysql.RowDataPacket[]>('SELECT 1 AS one');
  assert.equal(alive[0]?.one, 1);
});

test('PostgreSQL: a COPY deaf to pg_cancel_backend gets pg_terminate_backend after escalate_after; the reason is a safe comment in the server log', async () => {
  const stalled = await stalledCopyOnPostgres();
  const started = Date.now();
  const result = records(await c.query(KILL));
  const took = Date.now() - started;
  assert.deepEqual(result.map((r) => [r.node_id, r.user, r.kill_status, r.escalated, r.error]), [['n2', 'etl', 'finished', 1, '']]);
  assert.ok(took >= 900 && took < 8_000, `ended after the escalation (${took} ms)`);
  assert.equal(await stalled.outcome, '57P01', 'its session was terminated (admin_shutdown)');
  const rows = await fleet.pg.admin(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = ${stalled.pid}`);
  assert.equal(rows[0]?.n, 0, 'its backend is gone');
  // one entry per statement (a statement's lines continue with a tab)
  const entries = fleet.pg.serverLog().split(/\n(?=\d{4}-\d\d-\d\d )/);
  const signalled = entries.filter((e) => e.includes('/* quell:')).map((e) => [/SELECT (pg_\w+)\(pid\)/.exec(e)?.[1], e.trimEnd().endsWith(SAFE)]);
  assert.deepEqual(signalled, [['pg_cancel_backend', true], ['pg_terminate_backend', true]]);
  assert.deepEqual(await steps('n2'), [['pending', 0], ['pending', 1], ['finished', 1]]);
});
