import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Client, type DatabaseError } from 'pg';
import pino from 'pino';
import { PostgresBackend } from '../../node-agent/backends/postgres';
import { QuellError } from '../../errors/quell-error';
import { commandMs, elapsedSeconds } from '../../node-agent/tables/rows';
import { PG_ROLES, startPostgres, type PostgresInstance } from './servers/postgres-instance';
import { sleep, until } from './harness';

// Issue: the PostgreSQL backend class against a private server, without the cluster around it.
let pg: PostgresInstance;
let backend: PostgresBackend;
const clients: Client[] = [];
const log = pino({ level: 'silent' });

before(async () => {
  pg = await startPostgres();
  backend = new PostgresBackend(new URL(pg.url('quell', PG_ROLES.quell)), log);
});
after(async () => {
  for (const c of clients) await c.end().catch(() => undefined);
  await backend?.close();
  await pg?.destroy();
});

/** An etl session; errors the server sends while it is idle (a terminate) are kept in `fatal`. */
async function etl(applicationName = 'etl-job'): Promise<Client & { fatal: DatabaseError[] }> {
  const c = Object.assign(new Client({ connectionString: pg.url('etl', PG_ROLES.etl), application_name: applicationName }), { fatal: [] as DatabaseError[] });
  c.on('error', (err) => c.fatal.push(err as DatabaseError));
  clients.push(c);
  await c.connect();
  return c;
}

/** Starts a statement that runs until killed; resolves with its SQLSTATE (or 'ok'). */
function runLong(c: Client, sql = 'SELECT pg_sleep(100)'): Promise<string> {
  return c.query(sql).then(
    () => 'ok',
    (err: DatabaseError) => err.code ?? err.message,
  );
}

async function pidOf(c: Client): Promise<number> {
  return Number((await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid);
}

test('queries() lists active client statements with their columns, never the agent itself', async () => {
  const c = await etl();
  const pid = await pidOf(c);
  const outcome = runLong(c);
  const q = await until('the sleep', async () => (await backend.queries()).find((x) => x.row.thread_id === pid));
  const { row } = q;
  assert.match(q.key, new RegExp(`^${pid}:\\d+$`));
  assert.equal(row.query_id, String(pid));
  assert.equal(row.user, 'etl');
  assert.equal(row.query, 'SELECT pg_sleep(100)');
  assert.equal(row.query_kind, 'Select');
  assert.equal(row.address, '127.0.0.1');
  assert.ok(row.port > 0);
  assert.equal(row.current_database, 'postgres');
  assert.equal(row.client_name, 'etl-job');
  const elapsed = elapsedSeconds(row);
  assert.ok(elapsed >= 0 && elapsed < 10, String(elapsed));
  // the agent's own pool sessions (busy with this very listing, concurrently) never show up
  const all = await Promise.all([backend.queries(), backend.queries(), backend.connections()]);
  for (const listed of all) for (const r of listed) assert.notEqual(r.row.user, 'quell');
  await q.kill(false);
  assert.equal(await outcome, '57014');
  await until('the statement to end', async () => ((await backend.queries()).some((x) => x.key === q.key) ? undefined : true));
});

test('connections() maps sessions to MariaDB PROCESSLIST terms', async () => {
  const idle = await etl();
  const tx = await etl();
  const busy = await etl();
  await idle.query('SELECT 1');
  await tx.query('BEGIN');
  const [idlePid, txPid, busyPid] = await Promise.all([pidOf(idle), pidOf(tx), pidOf(busy)]);
  const outcome = runLong(busy);
  const rows = await until('the busy session', async () => {
    const r = (await backend.connections()).map((x) => x.row);
    return r.find((x) => x.id === busyPid && x.command === 'Query') ? r : undefined;
  });
  const by = (pid: number) => rows.find((r) => r.id === pid);
  assert.equal(by(idlePid)?.command, 'Sleep');
  assert.equal(by(idlePid)?.info, '');
  assert.equal(by(txPid)?.command, 'idle in transaction');
  assert.equal(by(txPid)?.state, 'idle in transaction');
  const b = by(busyPid);
  assert.equal(b?.user, 'etl');
  assert.equal(b?.db, 'postgres');
  assert.match(b?.host ?? '', /^127\.0\.0\.1:\d+$/);
  assert.equal(b?.info, 'SELECT pg_sleep(100)');
  assert.equal(b?.state, 'active');
  assert.equal(b?.query_id, 0);
  assert.ok(b && commandMs(b) >= 0);
  assert.ok(rows.every((r) => r.user !== 'quell'));
  // queryOnly cancels the statement, the session stays
  await backend.killConnection(busyPid, false, true);
  assert.equal(await outcome, '57014');
  assert.equal((await busy.query('SELECT 1 AS one')).rows[0]?.one, 1);
  // a terminate ends the session, also one idle in a transaction
  await backend.killConnection(txPid, true, false);
  await until('the terminate to reach the client', async () => tx.fatal[0]);
  assert.equal(tx.fatal[0]?.code, '57P01');
  await assert.rejects(tx.query('SELECT 1'));
  await until('the terminated session to go', async () => ((await backend.connections()).some((r) => r.row.id === txPid) ? undefined : true));
});

test('a backend that is already gone is not an error; the agent and non-clients cannot be signalled', async () => {
  await backend.killConnection(999_999, false, false);
  await backend.killConnection(0, false, true);
  // the agent's own pool session is not a listed client: KILL <its pid> leaves it alone
  const own = await pg.admin(`SELECT pid FROM pg_stat_activity WHERE application_name = 'quell-agent'`);
  assert.ok(own.length > 0);
  for (const r of own) await backend.killConnection(Number(r.pid), false, false);
  const after = await pg.admin(`SELECT pid FROM pg_stat_activity WHERE application_name = 'quell-agent'`);
  assert.deepEqual(after.map((r) => r.pid).sort(), own.map((r) => r.pid).sort());
});

test('a listed statement that finished is gone: its kill and SYNC wait leave the session\'s next statement alone', async () => {
  const c = await etl();
  const pid = await pidOf(c);
  const first = runLong(c, 'SELECT pg_sleep(0.3)');
  const listed = await until('the short sleep', async () => (await backend.queries()).find((x) => x.row.thread_id === pid));
  assert.equal(await first, 'ok');
  const next = runLong(c);
  await until('the next statement', async () => ((await backend.queries()).find((x) => x.row.thread_id === pid && x.key !== listed.key) ? true : undefined));
  await listed.kill(false);
  await sleep(200);
  const running = (await backend.queries()).find((x) => x.row.thread_id === pid);
  assert.ok(running, 'the next statement was cancelled by a kill meant for the finished one');
  assert.ok(!(await backend.queries()).some((x) => x.key === listed.key), 'the finished statement still looks present');
  await running.kill(false);
  assert.equal(await next, '57014');
});

test('mutations: none', async () => {
  assert.deepEqual(await backend.mutations(), []);
});

test('a wrong password is the server\'s error, without the password', async () => {
  const wrong = new PostgresBackend(new URL(pg.url('quell', 'hunter2-wrong')), log);
  try {
    const err = await caught(() => wrong.queries());
    assert.match(err.message, /28P01/);
    assert.match(err.message, /password authentication failed for user "quell"/);
    assert.match(err.message, /postgres:\/\/quell@127\.0\.0\.1:\d+/);
    assert.doesNotMatch(err.message, /hunter2/);
    assert.equal(wrong.description, `postgres://quell@127.0.0.1:${pg.port}`);
  } finally {
    await wrong.close();
  }
});

test('a stopped server fails calls with ECONNREFUSED; after restart the same backend works again', async () => {
  assert.ok(Array.isArray(await backend.connections()));
  await pg.stop();
  try {
    const err = await caught(() => backend.queries());
    assert.match(err.message, /ECONNREFUSED|57P01|terminat|Connection terminated/);
    assert.doesNotMatch(err.message, new RegExp(PG_ROLES.quell));
    // once the dropped pool sessions are gone, a new call is refused outright
    const again = await caught(() => backend.connections());
    assert.match(again.message, /ECONNREFUSED/);
  } finally {
    await pg.restart();
  }
  const c = await etl();
  const pid = await pidOf(c);
  assert.ok((await backend.connections()).some((r) => r.row.id === pid));
});

async function caught(f: () => Promise<unknown>): Promise<QuellError> {
  try {
    await f();
  } catch (err) {
    assert.ok(err instanceof QuellError, String(err));
    return err;
  }
  assert.fail('expected an error');
}
