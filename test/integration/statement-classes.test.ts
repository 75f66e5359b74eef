import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { TestCluster, eventsOf, records } from './harness';
import { normalizedQueryHash } from '../../sql/normalize';

// Statement classes end to end (docs/statement-path.md §Statement classes): real agents give every
// process its normalized_query and normalized_query_hash, and one KILL by
// normalizedQueryHash('…') stops every run of a statement shape on every node, and nothing else.

const SHAPES = {
  // the same shape written two ways: other values, spacing and keyword case
  a: 'SELECT * FROM t WHERE id = 1',
  b: 'select  *  from t\n  where id = 42 -- retry',
  // another table: another shape
  c: 'SELECT * FROM u WHERE id = 1',
} as const;
const NODES = ['n1', 'n2', 'n3'];

let c: TestCluster;
before(async () => {
  c = await TestCluster.start({ cluster: 'c3', nodes: 3 });
});
after(async () => {
  await c?.stop();
});

test('every run of a statement shape shares its class on every node; a KILL by normalizedQueryHash stops exactly those', async () => {
  const sims = new Map<string, Awaited<ReturnType<TestCluster['sim']>>>();
  await Promise.all(
    NODES.flatMap((n) =>
      Object.entries(SHAPES).map(async ([shape, query]) => {
        sims.set(`${shape}-${n}`, await c.sim(n, ['--queries', '1', '--user', 'app', '--query', query, '--query-id-prefix', `${shape}-${n}-`]));
      }),
    ),
  );

  const listed = records(
    await c.query("SELECT query_id, normalized_query, normalized_query_hash FROM clusterAllReplicas('c3', system.processes) WHERE user = 'app' ORDER BY query_id"),
  );
  const t = normalizedQueryHash('SELECT * FROM t WHERE id = 7');
  const u = normalizedQueryHash('SELECT * FROM u WHERE id = 7');
  assert.notEqual(t, u);
  assert.deepEqual(
    listed.map((r) => [r.query_id, r.normalized_query, Number(r.normalized_query_hash)]),
    ['a', 'b', 'c'].flatMap((shape) =>
      NODES.map((n) => [`${shape}-${n}-1`, shape === 'c' ? 'SELECT * FROM u WHERE id = ?' : 'SELECT * FROM t WHERE id = ?', shape === 'c' ? u : t]),
    ),
  );

  // the functions work in the WHERE an agent evaluates, on a column as well as on a constant
  const tested = records(await c.query("KILL QUERY ON CLUSTER c3 WHERE normalizeQuery(query) = 'SELECT * FROM u WHERE id = ?' TEST"));
  assert.deepEqual(tested.map((r) => r.query_id).sort(), ['c-n1-1', 'c-n2-1', 'c-n3-1']);

  const killed = records(
    await c.client().query("KILL QUERY ON CLUSTER c3 WHERE normalized_query_hash = normalizedQueryHash('SELECT * FROM t WHERE id = 7') SYNC", { statementId: 'by-class' }),
  );
  assert.deepEqual(killed.map((r) => r.query_id).sort(), ['a-n1-1', 'a-n2-1', 'a-n3-1', 'b-n1-1', 'b-n2-1', 'b-n3-1']);
  assert.ok(killed.every((r) => r.kill_status === 'finished'), JSON.stringify(killed));
  for (const [key, sim] of sims) assert.equal(eventsOf(sim, 'cancel').length, key.startsWith('c-') ? 0 : 1, key);

  const left = records(await c.query("SELECT query_id FROM clusterAllReplicas('c3', system.processes) WHERE user = 'app' ORDER BY query_id"));
  assert.deepEqual(left.map((r) => r.query_id), ['c-n1-1', 'c-n2-1', 'c-n3-1']);

  // the kill log keeps each killed process's class
  const logged = records(
    await c.query("SELECT node_id, query_id, kill_status, normalized_query_hash FROM clusterAllReplicas('c3', system.kill_log) WHERE statement_id = 'by-class' AND kill_status = 'finished' ORDER BY query_id"),
  );
  assert.equal(logged.length, 6);
  assert.ok(logged.every((r) => Number(r.normalized_query_hash) === t), JSON.stringify(logged));
});
