import { test } from 'node:test';
import assert from 'node:assert/strict';
import { QuellError } from '../../errors/quell-error';
import { type TestCluster, eventsOf, records, sleep } from './harness';
import { useKillCluster } from './kill-users';

// DESIGN.md §Reasons, ranked kills, escalation: SYNC SETTINGS escalate_after = S gives a process
// that outlives its cancel by S seconds its hard kill (a workload's Terminate), marks its row
// escalated, and logs both steps; a policy's ESCALATE AFTER and REASON do the same on their own.
// Real etcd, coordinator and agents, TLS, `quell sim` workloads that ignore cancels.

let c: TestCluster;
useKillCluster((started) => (c = started));

const admin = (sql: string) => c.query(sql, 'admin', 'admin-pw');

/** The kill log's steps for query ids LIKE `pattern`, in the order they were written per node. */
async function steps(pattern: string): Promise<unknown[][]> {
  const rows = records(
    await c.query(
      `SELECT node_id, query_id, mode, kill_status, escalated, reason, policy, error FROM clusterAllReplicas('c2', system.kill_log) WHERE query_id LIKE '${pattern}' ORDER BY node_id, query_id, event_time, escalated, kill_status = 'pending' DESC`,
    ),
  );
  return rows.map((r) => [r.node_id, r.query_id, r.mode, r.kill_status, r.escalated, r.reason, r.policy]);
}

test('escalate_after = 1: a process that ignores its cancel gets the terminate and ends within about 2 s, finished and escalated', async () => {
  const sim = await c.sim('n1', ['--queries', '1', '--user', 'x', '--query-id-prefix', 'stubborn-', '--ignore-cancel']);
  const started = Date.now();
  const result = await admin("KILL QUERY ON CLUSTER c2 WHERE query_id LIKE 'stubborn-%' SYNC SETTINGS escalate_after = 1, kill_reason = 'runaway etl'");
  const took = Date.now() - started;
  assert.deepEqual(result.columns.map((col) => col.name), ['kill_status', 'query_id', 'user', 'query', 'host', 'port', 'node_id', 'error', 'escalated']);
  assert.deepEqual(records(result).map((r) => [r.kill_status, r.query_id, r.node_id, r.escalated, r.error]), [['finished', 'stubborn-1', 'n1', 1, '']]);
  assert.ok(took >= 900, `it waited for escalate_after (${took} ms)`);
  assert.ok(took < 6_000, `ended long before sync_kill_timeout (${took} ms)`);
  await sim.waitFor(() => eventsOf(sim, 'ended').length === 1, 5_000);
  const [cancel] = eventsOf(sim, 'cancel');
  const [terminate] = eventsOf(sim, 'terminate');
  assert.equal(cancel?.reason, 'runaway etl');
  assert.equal(terminate?.reason, 'runaway etl');
  assert.equal(terminate?.killed_by, 'admin');
  assert.equal(terminate?.escalate_after_ms, 1000);
  assert.equal(terminate?.statement_id, cancel?.statement_id);
  assert.equal(eventsOf(sim, 'ended')[0]?.outcome, 'cancelled');
  assert.deepEqual(await steps('stubborn-%'), [
    ['n1', 'stubborn-1', 'SYNC', 'pending', 0, 'runaway etl', ''],
    ['n1', 'stubborn-1', 'SYNC', 'pending', 1, 'runaway etl', ''],
    ['n1', 'stubborn-1', 'SYNC', 'finished', 1, 'runaway etl', ''],
  ]);
  const [step] = records(await c.query("SELECT error FROM clusterAllReplicas('c2', system.kill_log) WHERE query_id = 'stubborn-1' AND escalated = 1 AND kill_status = 'pending'"));
  assert.equal(step?.error, 'still running 1 s after its cancel');
});

test('--ignore-terminate: the row stays waiting at sync_kill_timeout, marked escalated; a process that obeys is not escalated', async () => {
  const deaf = await c.sim('n1', ['--queries', '1', '--user', 'x', '--query-id-prefix', 'deaf-', '--ignore-terminate']);
  const polite = await c.sim('n2', ['--queries', '1', '--user', 'x', '--query-id-prefix', 'deaf-polite-']);
  const result = await admin("KILL QUERY ON CLUSTER c2 WHERE query_id LIKE 'deaf-%' SYNC SETTINGS escalate_after = 1, sync_kill_timeout = 3");
  assert.deepEqual(
    records(result).map((r) => [r.query_id, r.kill_status, r.escalated]).sort(),
    [['deaf-1', 'waiting', 1], ['deaf-polite-1', 'finished', 0]],
  );
  assert.equal(eventsOf(deaf, 'cancel').length, 1);
  assert.equal(eventsOf(deaf, 'terminate').length, 1);
  assert.equal(eventsOf(deaf, 'ended').length, 0, 'it ignored both');
  assert.equal(eventsOf(polite, 'terminate').length, 0);
  assert.deepEqual(await steps('deaf-%'), [
    ['n1', 'deaf-1', 'SYNC', 'pending', 0, '', ''],
    ['n1', 'deaf-1', 'SYNC', 'pending', 1, '', ''],
    ['n1', 'deaf-1', 'SYNC', 'waiting', 1, '', ''],
    ['n2', 'deaf-polite-1', 'SYNC', 'pending', 0, '', ''],
    ['n2', 'deaf-polite-1', 'SYNC', 'finished', 0, '', ''],
  ]);
  await deaf.stop('SIGKILL', 1_000);
});

test('bad escalate_after: one line with code 36, nothing cancelled or logged', async () => {
  const sim = await c.sim('n2', ['--queries', '1', '--user', 'x', '--query-id-prefix', 'badesc-', '--ignore-cancel']);
  const cases: [string, RegExp][] = [
    ["ASYNC SETTINGS escalate_after = 1", /escalate_after needs SYNC \(this kill is ASYNC\)/],
    ["SYNC SETTINGS escalate_after = 5, sync_kill_timeout = 2", /escalate_after \(5 s\) is longer than sync_kill_timeout \(2 s\)/],
    ["SYNC SETTINGS escalate_after = 0", /Invalid value 0 for setting escalate_after: expected seconds/],
    ["SYNC SETTINGS escalate_after = -1", /Invalid value -1 for setting escalate_after/],
    ["SYNC SETTINGS escalate_after = 'soon'", /Invalid value "soon" for setting escalate_after/],
  ];
  for (const [tail, text] of cases) {
    await assert.rejects(admin(`KILL QUERY ON CLUSTER c2 WHERE query_id LIKE 'badesc-%' ${tail}`), (e: unknown) => {
      assert.ok(e instanceof QuellError, String(e));
      assert.deepEqual([e.code, e.errorName], [36, 'BAD_ARGUMENTS']);
      assert.match(e.message, text);
      assert.doesNotMatch(e.message, /[\r\n]/);
      return true;
    });
  }
  await assert.rejects(admin("KILL MUTATION ON CLUSTER c2 WHERE mutation_id = 'm' SYNC SETTINGS escalate_after = 1"), (e: unknown) => e instanceof QuellError && e.code === 36 && /applies to KILL QUERY/.test(e.message));
  await sleep(300);
  assert.equal(eventsOf(sim, 'cancel').length, 0);
  assert.deepEqual(await steps('badesc-%'), []);
  await sim.stop('SIGKILL', 1_000);
});

test("a policy with ESCALATE AFTER 1 SECONDS REASON 'r': its victim sees r, ignores the cancel, and is terminated", async () => {
  const victim = await c.sim('n2', ['--queries', '1', '--user', 'x', '--query-id-prefix', 'polesc-', '--ignore-cancel']);
  await admin("CREATE KILL POLICY esc ON CLUSTER c2 WHERE query_id LIKE 'polesc-%' EVERY 1 SECONDS LIMIT 1 ESCALATE AFTER 1 SECONDS REASON 'r'");
  try {
    const shown = records(await admin("SELECT name, escalate_after, reason FROM system.kill_policies WHERE name = 'esc'"));
    assert.deepEqual(shown, [{ name: 'esc', escalate_after: 1, reason: 'r' }]);
    await victim.waitFor(() => eventsOf(victim, 'ended').length === 1, 15_000);
    const [cancel] = eventsOf(victim, 'cancel');
    const [terminate] = eventsOf(victim, 'terminate');
    assert.deepEqual([cancel?.reason, cancel?.policy, cancel?.killed_by], ['r', 'esc', 'admin']);
    assert.deepEqual([terminate?.reason, terminate?.policy, terminate?.escalate_after_ms], ['r', 'esc', 1000]);
    assert.equal(eventsOf(victim, 'ended')[0]?.outcome, 'cancelled');
    const logged = await c.waitForRows(
      "SELECT query_id FROM clusterAllReplicas('c2', system.kill_log) WHERE policy = 'esc' AND kill_status = 'finished'",
      (rows) => rows.length === 1,
    );
    assert.equal(logged.length, 1);
    assert.deepEqual(await steps('polesc-%'), [
      ['n2', 'polesc-1', 'POLICY', 'pending', 0, 'r', 'esc'],
      ['n2', 'polesc-1', 'POLICY', 'pending', 1, 'r', 'esc'],
      ['n2', 'polesc-1', 'POLICY', 'finished', 1, 'r', 'esc'],
    ]);
  } finally {
    await admin('DROP KILL POLICY esc ON CLUSTER c2');
  }
});

test('a policy run waiting to escalate its victim does not hold up the next runs: a process that matches later is cancelled at a later interval, the victim is not cancelled again', async () => {
  const stubborn = await c.sim('n1', ['--queries', '1', '--user', 'x', '--query-id-prefix', 'polwait-a-', '--ignore-cancel']);
  await admin("CREATE KILL POLICY waits ON CLUSTER c2 WHERE query_id LIKE 'polwait-%' EVERY 1 SECONDS LIMIT 5 ESCALATE AFTER 60 SECONDS");
  try {
    await stubborn.waitFor(() => eventsOf(stubborn, 'cancel').length === 1, 15_000);
    // the first run waits up to 65 s for the stubborn one; the next ones go on every second
    const later = await c.sim('n1', ['--queries', '1', '--user', 'x', '--query-id-prefix', 'polwait-b-']);
    await later.waitFor(() => eventsOf(later, 'ended').length === 1, 15_000);
    assert.deepEqual([eventsOf(later, 'cancel')[0]?.policy, eventsOf(later, 'ended')[0]?.outcome], ['waits', 'cancelled']);
    assert.equal(eventsOf(stubborn, 'cancel').length, 1, 'the victim a run waits for is left to that run');
    assert.equal(eventsOf(stubborn, 'terminate').length, 0);
  } finally {
    await admin('DROP KILL POLICY waits ON CLUSTER c2');
    await stubborn.stop('SIGKILL', 1_000);
  }
});

test('a policy REASON that is not one short line, or ESCALATE AFTER on a connection policy, is refused and nothing is stored', async () => {
  for (const [sql, text] of [
    ["CREATE KILL POLICY bad ON CLUSTER c2 WHERE 1 LIMIT 1 REASON 'a\\nb'", /^Invalid value for REASON: one line of text without control characters$/],
    [`CREATE KILL POLICY bad ON CLUSTER c2 WHERE 1 LIMIT 1 REASON '${'x'.repeat(2000)}'`, /^Invalid value for REASON: 2000 characters, at most 1024$/],
    ["CREATE KILL POLICY bad ON CLUSTER c2 WHERE COMMAND = 'Sleep' KILL CONNECTION LIMIT 1 ESCALATE AFTER 5 SECONDS", /a connection kill is already the hard kill/],
    ['CREATE KILL POLICY bad ON CLUSTER c2 WHERE 1 LIMIT 1 ESCALATE AFTER 0 SECONDS', /ESCALATE AFTER 0 SECONDS is out of range/],
  ] as const) {
    await assert.rejects(admin(sql), (e: unknown) => e instanceof QuellError && e.code === 36 && text.test(e.message.replace(/^Code: 36\. BAD_ARGUMENTS: /, '')));
  }
  assert.deepEqual(records(await admin("SELECT name FROM system.kill_policies WHERE name = 'bad'")), []);
});
