import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { QuellError } from '../../errors/quell-error';
import { TestCluster } from './harness';

// Issue 19, item 7: the aggregates operators type work on every cluster table, as ClickHouse
// answers them, through the real coordinator and agents.
let c: TestCluster;
before(async () => {
  c = await TestCluster.start({ cluster: 'c3', nodes: 3 });
  for (const n of ['n1', 'n2', 'n3']) {
    await c.sim(n, ['--queries', '2', '--user', 'alice', '--query-id-prefix', `a-${n}-`]);
    await c.sim(n, ['--queries', '1', '--user', 'bob', '--query-id-prefix', `b-${n}-`]);
  }
  await c.sim('n1', ['--queries', '3', '--user', 'carol', '--query-id-prefix', 'c-']);
});
after(async () => {
  await c?.stop();
});

test('GROUP BY with count() and sum(), ordered by position, over every node', async () => {
  const r = await c.query("SELECT user, count(), sum(memory_usage) >= 0 AS ok FROM clusterAllReplicas('c3', system.processes) GROUP BY user ORDER BY 2 DESC, user");
  assert.deepEqual(r.columns.map((col) => [col.name, col.type]), [['user', 'String'], ['count()', 'UInt64'], ['ok', 'UInt8']]);
  assert.deepEqual(r.rows, [['alice', 6, 1], ['bob', 3, 1], ['carol', 3, 1]]);
});

test('aggregates without GROUP BY, HAVING, uniq, min/max, and a plain count()', async () => {
  const total = await c.query("SELECT count(), uniq(user), min(user), max(user) FROM clusterAllReplicas('c3', system.processes)");
  assert.deepEqual(total.rows, [[12, 3, 'alice', 'carol']]);
  const having = await c.query("SELECT user, count() AS n FROM clusterAllReplicas('c3', system.processes) GROUP BY user HAVING n > 3");
  assert.deepEqual(having.rows, [['alice', 6]]);
  const nodes = await c.query("SELECT count() FROM system.clusters WHERE is_active = 1");
  assert.deepEqual(nodes.rows, [[3]]);
  const none = await c.query("SELECT count(), sum(memory_usage) FROM clusterAllReplicas('c3', system.processes) WHERE user = 'nobody'");
  assert.deepEqual(none.rows, [[0, 0]]);
});

test('a column outside GROUP BY and every aggregate fails before any node is asked', async () => {
  await assert.rejects(c.query("SELECT user, query_id, count() FROM clusterAllReplicas('c3', system.processes) GROUP BY user"), (e: unknown) => e instanceof QuellError && e.code === 215 && e.errorName === 'NOT_AN_AGGREGATE' && /Column `query_id` is not under aggregate function and not in GROUP BY/.test(e.message));
});
