import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { QuellError } from '../../errors/quell-error';
import { TestCluster, useCluster, eventsOf, rawExecute, sleep } from './harness';

// Issue 11 item 6: memory is bounded. Reads over max_result_rows fail 396, statements past
// max_concurrent_statements fail 202, and no result message passes the 4 MB that gRPC clients
// accept by default. Real etcd, coordinator, agents and sims as separate processes.

let c: TestCluster;
useCluster({ cluster: 'c3', nodes: 3, coordinatorArgs: ['--max-result-rows', '50', '--max-concurrent-statements', '2'] }, (started) => (c = started));

const failsWith = (code: number, name: string, message: RegExp) => (e: unknown) => {
  assert.ok(e instanceof QuellError, String(e));
  assert.deepEqual([e.code, e.errorName], [code, name]);
  assert.match(e.message, message);
  return true;
};

test('max_result_rows: a read past it fails 396, streamed or sorted; LIMIT within it is fine; the coordinator flag is its ceiling', async () => {
  await Promise.all(['n1', 'n2', 'n3'].map((n) => c.sim(n, ['--queries', '4', '--user', 'reader', '--query-id-prefix', `r-${n}-`], 4)));
  const from = "FROM clusterAllReplicas('c3', system.processes) WHERE user = 'reader'";
  assert.equal((await c.query(`SELECT query_id ${from}`)).rows.length, 12);
  await assert.rejects(c.query(`SELECT query_id ${from} SETTINGS max_result_rows = 5`), failsWith(396, 'TOO_MANY_ROWS_OR_BYTES', /^Limit for result exceeded, max rows: 5, current rows: \d+$/));
  await assert.rejects(c.query(`SELECT query_id ${from} ORDER BY query_id SETTINGS max_result_rows = 11`), failsWith(396, 'TOO_MANY_ROWS_OR_BYTES', /max rows: 11, current rows: 12$/));
  const top = await c.query(`SELECT query_id ${from} ORDER BY query_id DESC LIMIT 3 SETTINGS max_result_rows = 5`);
  assert.deepEqual(top.rows, [['r-n3-4'], ['r-n3-3'], ['r-n3-2']]);
  await assert.rejects(c.query(`SELECT query_id ${from} SETTINGS max_result_rows = 51`), failsWith(452, 'SETTING_CONSTRAINT_VIOLATION', /shouldn't be greater than 50/));
  await assert.rejects(c.query(`SELECT query_id ${from} SETTINGS max_result_rows = -1`), failsWith(36, 'BAD_ARGUMENTS', /non-negative integer/));
  await c.stopSims();
});

test('max_concurrent_statements: the coordinator flag and the setting fail a statement 202 at start; a freed slot is usable again', async () => {
  const slow = await c.sim('n1', ['--queries', '2', '--user', 'slow', '--ignore-cancel', '--query-id-prefix', 'slow-'], 2);
  const abort = new AbortController();
  // a SYNC kill of processes that ignore it holds its slot until its timeout (or its client leaves)
  const hold = (n: number) => c.client().query(`KILL QUERY WHERE query_id = 'slow-${n}' SYNC SETTINGS sync_kill_timeout = 600`, { signal: abort.signal });
  const first = hold(1);
  await slow.waitFor(() => eventsOf(slow, 'cancel').length >= 1);
  await assert.rejects(c.query('SELECT * FROM system.one SETTINGS max_concurrent_statements = 1'), failsWith(202, 'TOO_MANY_SIMULTANEOUS_QUERIES', /^Too many simultaneous queries\. Maximum: 1$/));
  const second = hold(2);
  await slow.waitFor(() => eventsOf(slow, 'cancel').length >= 2);
  await assert.rejects(c.query('SELECT * FROM system.one'), failsWith(202, 'TOO_MANY_SIMULTANEOUS_QUERIES', /^Too many simultaneous queries\. Maximum: 2$/));
  abort.abort();
  await assert.rejects(first, failsWith(394, 'QUERY_WAS_CANCELLED', /cancelled/));
  await assert.rejects(second, failsWith(394, 'QUERY_WAS_CANCELLED', /cancelled/));
  // the coordinator frees the slots as the cancelled statements wind down
  for (let i = 0; ; i++) {
    try {
      assert.deepEqual((await c.query('SELECT * FROM system.one')).rows, [[0]]);
      break;
    } catch (e) {
      if (!(e instanceof QuellError) || e.code !== 202 || i > 200) throw e;
      await sleep(25);
    }
  }
  await c.stopSims();
});

test('a 5 MB result reaches a gRPC client with the default 4 MB receive limit, in blocks', async () => {
  const text = `SELECT '${'q'.repeat(100_000)}'`;
  await Promise.all(['n1', 'n2', 'n3'].map((n) => c.sim(n, ['--queries', '20', '--user', 'big', '--query', text, '--query-id-prefix', `big-${n}-`], 20)));
  const from = "FROM clusterAllReplicas('c3', system.processes) WHERE user = 'big'";
  const { messages, status } = await rawExecute(c, { sql: `SELECT query_id, query ${from} ORDER BY query_id LIMIT 50` });
  assert.equal(status, undefined);
  assert.equal(messages.at(-1)?.end?.error, null);
  const blocks = messages.filter((m) => m.rows).map((m) => m.rows?.rows.length ?? 0);
  assert.equal(blocks.reduce((a, b) => a + b, 0), 50);
  assert.ok(blocks.length >= 5, `50 rows of 100 KB in ${blocks.length} blocks`);
  // over the coordinator's 50 rows: a clean 396 in the end message, then the call's status
  // RESOURCE_EXHAUSTED (docs/grpc-status.md), not a transport error
  const over = await rawExecute(c, { sql: `SELECT query_id, query ${from}` });
  assert.equal(over.messages.at(-1)?.end?.error?.code, 396);
  assert.equal(over.status?.code, grpc.status.RESOURCE_EXHAUSTED);
  assert.match(over.status?.details ?? '', /^Limit for result exceeded/);
  await c.stopSims();
});
