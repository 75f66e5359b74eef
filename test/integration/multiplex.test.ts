import { test } from 'node:test';
import assert from 'node:assert/strict';
import { QuellError } from '../../errors/quell-error';
import { eventsOf, records, sleep, TestCluster, useCluster } from './harness';

// Issue 14: every statement travels on one Session stream per agent (and one per client), so
// many statements share a stream. Multiplexing must lose no row, no node and no cancel.
const STATEMENTS = 32;
let c: TestCluster;
useCluster({ cluster: 'c3', nodes: 3 }, (started) => (c = started));

test('32 concurrent SYNC kills from one client: each gets exactly its own rows from every node, and every process got its cancel once', async () => {
  const sims = await Promise.all(['n1', 'n2', 'n3'].map((n) => c.sim(n, ['--queries', String(STATEMENTS), '--user', 'mux', '--query-id-prefix', `mux-${n}-`], STATEMENTS)));
  const client = c.client();
  const results = await Promise.all(
    Array.from({ length: STATEMENTS }, (_, i) => client.query(`KILL QUERY ON CLUSTER c3 WHERE query_id LIKE 'mux-%-${i + 1}' SYNC SETTINGS sync_kill_timeout = 30`)),
  );
  results.forEach((r, i) => {
    const rows = records(r)
      .map((x) => `${String(x.node_id)} ${String(x.query_id)} ${String(x.kill_status)}`)
      .sort();
    assert.deepEqual(rows, ['n1', 'n2', 'n3'].map((n) => `${n} mux-${n}-${i + 1} finished`), `statement ${i + 1}`);
  });
  for (const [k, sim] of sims.entries()) {
    const cancelled = eventsOf(sim, 'cancel').map((e) => String(e.query_id)).sort();
    assert.deepEqual(cancelled, Array.from({ length: STATEMENTS }, (_, i) => `mux-n${k + 1}-${i + 1}`).sort());
  }
  await c.stopSims();
});

test('a client cancel stops that statement\'s SYNC wait on the agents; the statements beside it on the same streams are untouched', async () => {
  await c.sim('n1', ['--queries', '1', '--user', 'stuck', '--ignore-cancel', '--query-id-prefix', 'stuck-'], 1);
  await c.sim('n2', ['--queries', '1', '--user', 'free', '--query-id-prefix', 'free-'], 1);
  const client = c.client();
  const abort = new AbortController();
  const statementId = 'mux-cancel-1';
  const stuck = client.query("KILL QUERY ON CLUSTER c3 WHERE user = 'stuck' SYNC SETTINGS sync_kill_timeout = 600", { signal: abort.signal, statementId });
  // wait until n1 has logged the SYNC kill as pending (the cancel was sent; the process ignores it)
  const logged = async (status: string): Promise<boolean> => {
    const r = await client.query(`SELECT kill_status FROM clusterAllReplicas('c3', system.kill_log) WHERE statement_id = '${statementId}' AND kill_status = '${status}'`);
    return r.rows.length > 0;
  };
  for (let i = 0; i < 200 && !(await logged('pending')); i++) await sleep(25);
  assert.ok(await logged('pending'));
  const free = await client.query("KILL QUERY ON CLUSTER c3 WHERE user = 'free' SYNC");
  assert.deepEqual(records(free).map((x) => [x.node_id, x.kill_status]), [['n2', 'finished']]);
  abort.abort();
  await assert.rejects(stuck, (e: unknown) => e instanceof QuellError && e.errorName === 'QUERY_WAS_CANCELLED');
  // the agent's SYNC wait ended with the cancel, not at its 600 s timeout: the rest reads waiting
  for (let i = 0; i < 200 && !(await logged('waiting')); i++) await sleep(25);
  assert.ok(await logged('waiting'), 'n1 logged the stuck process as waiting once the statement was cancelled');
  await c.stopSims();
});
