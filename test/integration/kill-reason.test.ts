import { test } from 'node:test';
import assert from 'node:assert/strict';
import { QuellError } from '../../errors/quell-error';
import { type TestCluster, eventsOf, records, sleep } from './harness';
import { useKillCluster } from './kill-users';

// DESIGN.md §Reasons: the kill_reason setting reaches the victim's cancel (with the killer) and
// every node's kill log; a reason that is not one short line is refused before anything is killed.

let c: TestCluster;
useKillCluster((started) => (c = started));

test('kill_reason: in the sim cancel with the killer, and in system.kill_log on every node', async () => {
  const sims = await Promise.all(['n1', 'n2'].map((n) => c.sim(n, ['--queries', '1', '--user', 'x', '--query-id-prefix', `why-${n}-`])));
  const killed = records(await c.query("KILL QUERY ON CLUSTER c2 WHERE user = 'x' SYNC SETTINGS kill_reason = 'runaway etl'", 'admin', 'admin-pw'));
  assert.deepEqual(killed.map((r) => r.kill_status), ['finished', 'finished']);
  const statementIds = new Set<unknown>();
  for (const s of sims) {
    const [cancel] = eventsOf(s, 'cancel');
    assert.equal(cancel?.reason, 'runaway etl');
    assert.equal(cancel?.killed_by, 'admin');
    assert.equal(cancel?.policy, '');
    assert.equal(typeof cancel?.statement_id, 'string');
    assert.notEqual(cancel?.statement_id, '');
    statementIds.add(cancel?.statement_id);
  }
  assert.equal(statementIds.size, 1, 'one statement killed both');
  const rows = records(
    await c.query("SELECT node_id, reason, kill_status, verified FROM clusterAllReplicas('c2', system.kill_log) WHERE query_id LIKE 'why-%' ORDER BY node_id, kill_status"),
  );
  assert.deepEqual(
    rows.map((r) => [r.node_id, r.reason, r.kill_status, r.verified]),
    [
      ['n1', 'runaway etl', 'finished', 1],
      ['n1', 'runaway etl', 'pending', 1],
      ['n2', 'runaway etl', 'finished', 1],
      ['n2', 'runaway etl', 'pending', 1],
    ],
  );
  // a kill without the setting logs ''
  const plain = await Promise.all(['n1', 'n2'].map((n) => c.sim(n, ['--queries', '1', '--user', 'x', '--query-id-prefix', `plain-${n}-`])));
  await c.query("KILL QUERY ON CLUSTER c2 WHERE query_id LIKE 'plain-%' SYNC", 'admin', 'admin-pw');
  for (const s of plain) assert.equal(eventsOf(s, 'cancel')[0]?.reason, '');
  const plainRows = records(await c.query("SELECT reason FROM clusterAllReplicas('c2', system.kill_log) WHERE query_id LIKE 'plain-%'"));
  assert.equal(plainRows.length, 4);
  assert.ok(plainRows.every((r) => r.reason === ''));
});

test('kill_reason: a multi-line or 10 KB reason is refused with one line and kills nothing', async () => {
  const sims = await Promise.all(['n1', 'n2'].map((n) => c.sim(n, ['--queries', '1', '--user', 'x', '--query-id-prefix', `bad-${n}-`])));
  for (const reason of ['first line\\nsecond line', 'x'.repeat(10 * 1024)]) {
    await assert.rejects(c.query(`KILL QUERY ON CLUSTER c2 WHERE query_id LIKE 'bad-%' SYNC SETTINGS kill_reason = '${reason}'`, 'admin', 'admin-pw'), (e: unknown) => {
      assert.ok(e instanceof QuellError, String(e));
      assert.equal(e.errorName, 'BAD_ARGUMENTS');
      assert.doesNotMatch(e.message, /[\r\n]/);
      assert.ok(e.message.length < 300, e.message);
      return true;
    });
  }
  await sleep(300);
  for (const s of sims) {
    assert.equal(eventsOf(s, 'cancel').length, 0);
    assert.equal(eventsOf(s, 'ended').length, 0);
  }
  const logged = records(await c.query("SELECT count() AS n FROM clusterAllReplicas('c2', system.kill_log) WHERE query_id LIKE 'bad-%'"));
  assert.equal(Number(logged[0]?.n), 0);
  await c.query("KILL QUERY ON CLUSTER c2 WHERE query_id LIKE 'bad-%' SYNC", 'admin', 'admin-pw');
});
