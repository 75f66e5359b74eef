import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import mysql from 'mysql2/promise';
import pino from 'pino';
import { MariaDbBackend } from '../../node-agent/backends/mariadb';
import type { ServerQuery } from '../../node-agent/backends/backend';
import { elapsedSeconds, type ProcessRow } from '../../node-agent/tables/rows';
import { startMariaDb, type MariaDbInstance } from './servers/mariadb-instance';
import { sleep } from './harness';

// MariaDbBackend against a private real server, without agents: listing, kills, own-connection
// safety, errors without the password, and reconnecting after a server restart.

let db: MariaDbInstance;
let backend: MariaDbBackend;
const log = pino({ level: 'silent' });
const clients: mysql.Connection[] = [];

before(async () => {
  db = await startMariaDb();
  backend = new MariaDbBackend(new URL(db.url('quell', 'pw')), log);
});
after(async () => {
  for (const c of clients) c.destroy();
  await backend?.close();
  await db?.destroy();
});

async function etl(database?: string): Promise<mysql.Connection> {
  const c = await mysql.createConnection({ host: '127.0.0.1', port: db.port, user: 'etl', password: 'etlpw', ...(database ? { database } : {}) });
  c.on('error', () => undefined); // a killed connection reports here too
  clients.push(c);
  return c;
}

/** Waits until the backend lists a running statement matching `pred`. */
async function running(pred: (r: ProcessRow) => boolean): Promise<ServerQuery> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const q = (await backend.queries()).find((x) => pred(x.row));
    if (q) return q;
    if (Date.now() > deadline) throw new Error('statement never showed up');
    await sleep(20);
  }
}

const errno = (err: unknown): unknown => (err as { errno?: unknown }).errno;

test('queries() maps a running statement and hides the backend’s own connections', async () => {
  const c = await etl('shop');
  const sleeping = c.query('SELECT SLEEP(100) AS s');
  sleeping.catch(() => undefined);
  const q = await running((r) => r.user === 'etl');
  const { row } = q;
  assert.equal(row.query, 'SELECT SLEEP(100) AS s');
  assert.equal(row.query_kind, 'Select');
  assert.equal(row.current_database, 'shop');
  assert.equal(row.address, '127.0.0.1');
  assert.ok(row.port > 0);
  // without an id mapping, the server's own ids
  assert.equal(row.thread_id, c.threadId);
  assert.equal(q.key, row.query_id);
  assert.match(row.query_id, /^\d+$/);
  const elapsed = elapsedSeconds(row);
  assert.ok(elapsed >= 0 && elapsed < 10);
  assert.ok(row.memory_usage > 0);
  // nothing of quell's own (its PROCESSLIST read is itself a running query)
  const all = await backend.queries();
  assert.ok(all.every((r) => r.row.user !== 'quell'), JSON.stringify(all));
  const conns = await backend.connections();
  assert.ok(conns.every((r) => r.row.user !== 'quell'));
  const mine = conns.find((r) => r.row.id === c.threadId)?.row;
  assert.equal(mine?.command, 'Query');
  assert.equal(mine?.db, 'shop');
  assert.equal(mine?.info, 'SELECT SLEEP(100) AS s');
  assert.equal(String(mine?.query_id), row.query_id);

  await q.kill(false);
  await assert.rejects(sleeping, (err) => errno(err) === 1317);
  assert.deepEqual((await c.query('SELECT 1 AS one'))[0], [{ one: 1 }]); // the connection survives
  assert.equal((await backend.queries()).filter((r) => r.row.user === 'etl').length, 0);
  // the same query id again: already gone, which is not an error
  await q.kill(true);
});

test('connections() lists idle clients with no db (DB NULL); a connection kill closes one and rolls back', async () => {
  const idle = await etl();
  const c = await etl('shop');
  const conns = await backend.connections();
  const row = conns.find((r) => r.row.id === idle.threadId)?.row;
  assert.equal(row?.command, 'Sleep');
  assert.equal(row?.db, '');
  assert.equal(row?.info, '');
  await c.query('BEGIN');
  await c.query("INSERT INTO shop.orders VALUES (1, 'direct')");
  const listed = conns.find((r) => r.row.id === c.threadId);
  assert.ok(listed);
  await listed.kill(false, false);
  await assert.rejects(c.query('SELECT 1'));
  const root = await db.rootConnection();
  try {
    const [rows] = await root.query('SELECT COUNT(*) AS n FROM shop.orders WHERE id = 1');
    assert.deepEqual(rows, [{ n: 0 }]);
  } finally {
    await root.end();
  }
  // unknown ids mean already gone
  await backend.killConnection(Number(c.threadId), true, false);
  await backend.killConnection(999_999, false, true);
});

test('the backend never kills its own connection', async () => {
  const own = new Set<number>();
  // the pool's thread ids are the ones PROCESSLIST shows as quell
  const root = await db.rootConnection();
  try {
    await backend.queries();
    const [rows] = await root.query("SELECT ID FROM information_schema.PROCESSLIST WHERE USER = 'quell'");
    for (const r of rows as { ID: number }[]) own.add(Number(r.ID));
  } finally {
    await root.end();
  }
  assert.ok(own.size > 0);
  for (const id of own) await assert.rejects(backend.killConnection(id, false, false), /own connection/);
  await backend.queries(); // still working
});

test('errors carry the server’s words but never the password', async () => {
  const bad = new MariaDbBackend(new URL(db.url('quell', 's3cret-pass')), log);
  try {
    await assert.rejects(bad.queries(), (err: Error) => {
      assert.match(err.message, /ER_ACCESS_DENIED_ERROR: Access denied for user 'quell'/);
      assert.match(err.message, /mariadb:\/\/quell@127\.0\.0\.1:\d+/);
      assert.doesNotMatch(err.message, /s3cret/);
      return true;
    });
  } finally {
    await bad.close();
  }
  assert.deepEqual(await backend.mutations(), []);
});

test('a stopped server is an error; after a restart the same backend works again', async () => {
  await backend.connections();
  await db.stop();
  await assert.rejects(backend.queries(), (err: Error) => {
    assert.match(err.message, /ECONNREFUSED/);
    assert.doesNotMatch(err.message, /:pw@/);
    return true;
  });
  await db.restart();
  const c = await etl();
  const sleeping = c.query('SELECT SLEEP(100)');
  sleeping.catch(() => undefined);
  const q = await running((r) => r.user === 'etl');
  await backend.killConnection(q.row.thread_id, false, true);
  await assert.rejects(sleeping, (err) => errno(err) === 1317);
});
