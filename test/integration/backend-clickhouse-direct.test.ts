import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { AGENT_QUERY_ID_PREFIX, ClickHouseBackend } from '../../node-agent/backends/clickhouse';
import { QuellError } from '../../errors/quell-error';
import { elapsedSeconds } from '../../node-agent/tables/rows';
import { CH_USER, startClickHouse, type ClickHouseInstance } from './servers/clickhouse-instance';
import { until } from './harness';

// Issue: the ClickHouse backend class against a private 18.16 server, without the cluster around it.
let ch: ClickHouseInstance;
let backend: ClickHouseBackend;
const log = pino({ level: 'silent' });

before(async () => {
  ch = await startClickHouse();
  backend = new ClickHouseBackend(new URL(ch.url(CH_USER.name, CH_USER.password)), log);
});
after(async () => {
  await backend?.close();
  await ch?.destroy();
});

/**
 * A SELECT that runs until cancelled (count() over system.numbers checks its cancel flag between
 * blocks), bounded by max_execution_time in case a kill never arrives. Resolves with the answer.
 */
function runLong(queryId: string): Promise<{ status: number; body: string }> {
  const url = `http://127.0.0.1:${ch.httpPort}/?query_id=${encodeURIComponent(queryId)}&max_execution_time=60`;
  return fetch(url, { method: 'POST', body: 'SELECT count() FROM system.numbers' }).then(async (res) => ({ status: res.status, body: (await res.text()).trim() }));
}

test('queries() maps system.processes and never lists the agent itself', async () => {
  const outcome = runLong('direct-list');
  const q = await until('the long query', async () => (await backend.queries()).find((x) => x.row.query_id === 'direct-list'));
  const { row } = q;
  assert.equal(q.key, 'direct-list');
  assert.equal(row.user, 'default');
  assert.equal(row.query, 'SELECT count() FROM system.numbers');
  assert.equal(row.initial_query_id, 'direct-list');
  assert.equal(row.initial_user, 'default');
  assert.equal(row.address, '127.0.0.1');
  assert.ok(row.port > 0);
  assert.ok(elapsedSeconds(row) >= 0);
  assert.equal(row.query_kind, 'Select'); // 18.16 has no query_kind: derived from the text
  assert.equal(row.current_database, ''); // nor current_database
  assert.equal(row.is_cancelled, 0);
  assert.equal(row.thread_id, 0);
  await until('rows read', async () => ((await backend.queries()).find((x) => x.key === q.key)?.row.read_rows ?? 0) > 0 || undefined);
  assert.ok((await backend.queries()).every((x) => !x.row.query_id.startsWith(AGENT_QUERY_ID_PREFIX)));
  await q.kill(false);
  await outcome;
});

test('a listed query\'s kill cancels the statement: the client gets the server\'s cancellation error', async () => {
  const outcome = runLong('direct-kill');
  const q = await until('the long query', async () => (await backend.queries()).find((x) => x.row.query_id === 'direct-kill'));
  const t0 = performance.now();
  await q.kill(false);
  const res = await outcome;
  assert.equal(res.status, 500);
  assert.match(res.body, /^Code: 394, .*Query was cancelled/);
  assert.ok(performance.now() - t0 < 2_000);
  await until('the query to leave system.processes', async () => ((await backend.queries()).some((x) => x.key === q.key) ? undefined : true));
  // a kill of a query that is already gone is not an error
  await q.kill(true);
});

test('a query\'s kill quotes its id as a ClickHouse string literal', async () => {
  const id = "it's a \\ 'quoted' id";
  const outcome = runLong(id);
  const q = await until('the long query', async () => (await backend.queries()).find((x) => x.row.query_id === id));
  await q.kill(false);
  assert.match((await outcome).body, /Query was cancelled/);
});

test('mutations() lists unfinished mutations; 18.16 cannot kill them: cant_cancel with its own error', async () => {
  await ch.query('CREATE TABLE default.events (id UInt64) ENGINE = MergeTree ORDER BY id');
  await ch.query('INSERT INTO default.events SELECT number FROM system.numbers LIMIT 1000');
  // no merges on this table: its mutation stays unfinished until the test says so
  await ch.query('SYSTEM STOP MERGES default.events');
  await ch.query('ALTER TABLE default.events DELETE WHERE id = 7');
  const m = await until('the mutation', async () => (await backend.mutations()).find((x) => x.row.table === 'events'));
  const { row } = m;
  assert.equal(row.database, 'default');
  assert.match(row.mutation_id, /^mutation_\d+\.txt$/);
  assert.equal(row.command, 'DELETE WHERE id = 7');
  assert.equal(row.parts_to_do, 1);
  assert.ok(Math.abs(row.create_time - Date.now() / 1000) < 60);
  assert.equal(row.latest_failed_part, '');
  assert.equal(row.latest_fail_time, 0);
  const r = await m.kill();
  assert.equal(r.status, 'cant_cancel');
  assert.ok(r.status === 'cant_cancel');
  assert.match(r.reason, /^Code: 62\. DB::Exception: Syntax error: failed at position \d+: MUTATION WHERE/);
  // the table's mutations go with it
  await ch.query('DROP TABLE default.events');
  assert.deepEqual(await backend.mutations(), []);
});

test('no connections: connections() is empty', async () => {
  assert.deepEqual(await backend.connections(), []);
});

test('server errors carry the server\'s text, never the password', async () => {
  const wrong = new ClickHouseBackend(new URL(ch.url(CH_USER.name, 'not-the-password')), log);
  assert.equal(wrong.description, `clickhouse://${CH_USER.name}@127.0.0.1:${ch.httpPort}`);
  await assert.rejects(wrong.queries(), (e: unknown) => {
    assert.ok(e instanceof QuellError);
    assert.equal(e.errorName, 'ALL_CONNECTION_TRIES_FAILED');
    assert.match(e.message, new RegExp(`^clickhouse://quell@127\\.0\\.0\\.1:${ch.httpPort}: Code: 193\\. DB::Exception: Wrong password for user quell$`));
    assert.ok(!e.message.includes('not-the-password'));
    return true;
  });
  // `default` without a password works too
  const anon = new ClickHouseBackend(new URL(ch.url()), log);
  assert.deepEqual(await anon.mutations(), []);
});

test('a stopped server is a transport error; after a restart the same backend works again', async () => {
  await ch.stop();
  await assert.rejects(backend.queries(), (e: unknown) => e instanceof QuellError && /ECONNREFUSED/.test(e.message) && !e.message.includes(CH_USER.password));
  await ch.restart();
  assert.ok(Array.isArray(await backend.queries()));
  const outcome = runLong('after-restart');
  const q = await until('the long query', async () => (await backend.queries()).find((x) => x.row.query_id === 'after-restart'));
  await q.kill(false);
  assert.match((await outcome).body, /Query was cancelled/);
});
