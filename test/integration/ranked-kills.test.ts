import { test } from 'node:test';
import assert from 'node:assert/strict';
import { QuellError } from '../../errors/quell-error';
import { TestCluster, useCluster, eventsOf, records, sleep } from './harness';
import type { Child } from '../../common/daemon/child-processes';

// docs/ranked-kills.md: KILL … ORDER BY … LIMIT n chooses the n first matches cluster-wide
// (plan on every node, rank on the coordinator, kill exactly those), TEST shows the choice and
// kills nothing, bad input kills nothing, and a policy's ORDER BY decides what a run takes first.

let c: TestCluster;
useCluster({ cluster: 'c3', nodes: 3 }, (started) => (c = started));

/** One sim per size (MiB) on the given node: query ids `<prefix><mb>-1`. */
async function bigOnes(prefix: string, user: string, sizes: Record<string, number[]>): Promise<Map<number, Child>> {
  const out = new Map<number, Child>();
  await Promise.all(
    Object.entries(sizes).flatMap(([node, mbs]) =>
      mbs.map(async (mb) => out.set(mb, await c.sim(node, ['--queries', '1', '--user', user, '--memory-mb', String(mb), '--query-id-prefix', `${prefix}${mb}-`]))),
    ),
  );
  return out;
}

const cancelled = (sims: Map<number, Child>): number[] => [...sims].filter(([, s]) => eventsOf(s, 'cancel').length > 0).map(([mb]) => mb).sort((a, b) => a - b);

function isError(code: number, name: string, message?: RegExp): (e: unknown) => boolean {
  return (e) => {
    assert.ok(e instanceof QuellError, String(e));
    assert.equal(e.errorName, name, e.message);
    assert.equal(e.code, code);
    assert.doesNotMatch(e.message, /[\r\n]/);
    if (message) assert.match(e.message, message);
    return true;
  };
}

test('six processes of 100–600 MiB on three nodes: ORDER BY memory_usage DESC LIMIT 2 cancels exactly the 600 and the 500', async () => {
  const sims = await bigOnes('rk-', 'big', { n1: [100, 400], n2: [200, 500], n3: [300, 600] });
  // another user's bigger process does not match the WHERE
  const other = await c.sim('n1', ['--queries', '1', '--user', 'other', '--memory-mb', '900', '--query-id-prefix', 'rk-other-']);
  const sizes = records(await c.query("SELECT query_id, memory_usage FROM clusterAllReplicas('c3', system.processes) WHERE user = 'big' ORDER BY memory_usage"));
  assert.deepEqual(sizes.map((r) => Number(r.memory_usage) / 1024 / 1024), [100, 200, 300, 400, 500, 600]);

  // TEST: the choice, nothing sent
  const test = records(await c.query("KILL QUERY ON CLUSTER c3 WHERE user = 'big' ORDER BY memory_usage DESC LIMIT 2 TEST FORMAT JSONEachRow"));
  assert.deepEqual(test.map((r) => [r.kill_status, r.query_id, r.node_id]).sort(), [['unknown_status', 'rk-500-1', 'n2'], ['unknown_status', 'rk-600-1', 'n3']]);
  await sleep(300);
  assert.deepEqual(cancelled(sims), []);

  const rows = records(await c.query("KILL QUERY ON CLUSTER c3 WHERE user = 'big' ORDER BY memory_usage DESC LIMIT 2 SYNC FORMAT JSONEachRow"));
  assert.deepEqual(rows.map((r) => [r.kill_status, r.query_id, r.user, r.node_id, r.error]).sort(), [['finished', 'rk-500-1', 'big', 'n2', ''], ['finished', 'rk-600-1', 'big', 'n3', '']]);
  assert.deepEqual(cancelled(sims), [500, 600]);
  assert.equal(eventsOf(other, 'cancel').length, 0);
  for (const mb of [500, 600]) assert.equal(eventsOf(sims.get(mb) as Child, 'ended')[0]?.outcome, 'cancelled');

  // the kill log has the chosen processes only, with the ranked condition
  const logged = records(await c.query("SELECT node_id, query_id, mode, kill_status, condition FROM clusterAllReplicas('c3', system.kill_log) WHERE query_id LIKE 'rk-%' ORDER BY query_id, mode, kill_status"));
  assert.deepEqual(
    logged.map((r) => [r.query_id, r.mode, r.kill_status]),
    [
      ['rk-500-1', 'SYNC', 'finished'],
      ['rk-500-1', 'SYNC', 'pending'],
      ['rk-500-1', 'TEST', 'unknown_status'],
      ['rk-600-1', 'SYNC', 'finished'],
      ['rk-600-1', 'SYNC', 'pending'],
      ['rk-600-1', 'TEST', 'unknown_status'],
    ],
  );
  assert.ok(logged.every((r) => r.condition === "equals(user, 'big') ORDER BY memory_usage DESC LIMIT 2"), JSON.stringify(logged[0]));

  // the next two by the same order: ties none, the 400 and the 300
  const next = records(await c.query("KILL QUERY ON CLUSTER c3 WHERE user = 'big' ORDER BY memory_usage DESC LIMIT 2 SYNC"));
  assert.deepEqual(next.map((r) => r.query_id).sort(), ['rk-300-1', 'rk-400-1']);
  assert.deepEqual(cancelled(sims), [300, 400, 500, 600]);
  await c.query("KILL QUERY ON CLUSTER c3 WHERE query_id LIKE 'rk-%' SYNC");
});

test('LIMIT without ORDER BY takes the oldest first; a LIMIT larger than the matches takes them all', async () => {
  const first = await c.sim('n2', ['--queries', '1', '--user', 'old', '--query-id-prefix', 'old-a-']);
  await sleep(50);
  const second = await c.sim('n1', ['--queries', '1', '--user', 'old', '--query-id-prefix', 'old-b-']);
  const rows = records(await c.query("KILL QUERY ON CLUSTER c3 WHERE user = 'old' LIMIT 1 SYNC"));
  assert.deepEqual(rows.map((r) => [r.kill_status, r.query_id]), [['finished', 'old-a-1']]);
  assert.equal(eventsOf(first, 'cancel').length, 1);
  assert.equal(eventsOf(second, 'cancel').length, 0);
  const all = records(await c.query("KILL QUERY ON CLUSTER c3 WHERE user = 'old' ORDER BY query_id LIMIT 1000 SYNC"));
  assert.deepEqual(all.map((r) => [r.kill_status, r.query_id]), [['finished', 'old-b-1']]);
});

test('bad input: LIMIT 0, negative, huge, ORDER BY without LIMIT, an unknown column, a tuple or NULL: one coded line, nothing killed', async () => {
  const sims = await bigOnes('bad-', 'bad', { n1: [10], n2: [20] });
  const kill = (tail: string) => c.query(`KILL QUERY ON CLUSTER c3 WHERE user = 'bad' ${tail} SYNC`);
  await assert.rejects(kill('ORDER BY memory_usage DESC LIMIT 0'), isError(36, 'BAD_ARGUMENTS', /^LIMIT 0 is out of range: a ranked KILL chooses 1 to 1000 processes$/));
  await assert.rejects(kill('ORDER BY memory_usage DESC LIMIT -2'), isError(36, 'BAD_ARGUMENTS', /^LIMIT -2 is out of range/));
  await assert.rejects(kill('ORDER BY memory_usage DESC LIMIT 1001'), isError(36, 'BAD_ARGUMENTS', /^LIMIT 1001 is out of range/));
  await assert.rejects(kill('ORDER BY memory_usage DESC LIMIT 99999999999999999999'), isError(62, 'SYNTAX_ERROR'));
  await assert.rejects(kill('ORDER BY memory_usage DESC'), isError(36, 'BAD_ARGUMENTS', /^ORDER BY in KILL needs LIMIT n/));
  await assert.rejects(kill('ORDER BY memory_usag LIMIT 1'), isError(47, 'UNKNOWN_IDENTIFIER'));
  await assert.rejects(kill('ORDER BY (memory_usage, elapsed) LIMIT 1'), isError(43, 'ILLEGAL_TYPE_OF_ARGUMENT'));
  await assert.rejects(kill('ORDER BY NULL LIMIT 1'), isError(43, 'ILLEGAL_TYPE_OF_ARGUMENT', /^Illegal type Nullable\(Nothing\) of ORDER BY key NULL/));
  await sleep(300);
  assert.deepEqual(cancelled(sims), []);
  const logged = records(await c.query("SELECT count() AS n FROM clusterAllReplicas('c3', system.kill_log) WHERE query_id LIKE 'bad-%'"));
  assert.equal(Number(logged[0]?.n), 0);
  // the MariaDB form has no ORDER BY
  await assert.rejects(c.query('KILL QUERY 5 ORDER BY 1 LIMIT 1'), (e: unknown) => e instanceof QuellError && e.code === 1064);
  await c.query("KILL QUERY ON CLUSTER c3 WHERE user = 'bad' SYNC");
});

test("a policy with ORDER BY memory_usage DESC … LIMIT 1 REASON 'r' kills the largest first, and its victim sees r", async () => {
  const sims = await bigOnes('pol-', 'pol', { n1: [100, 300, 200] });
  await c.query("CREATE KILL POLICY largest ON CLUSTER c3 WHERE user = 'pol' ORDER BY memory_usage DESC EVERY 1 SECONDS LIMIT 1 REASON 'r'");
  try {
    const shown = records(await c.query("SELECT order_by, `limit` AS most FROM system.kill_policies WHERE name = 'largest'"));
    assert.deepEqual(shown.map((r) => [r.order_by, Number(r.most)]), [['memory_usage DESC', 1]]);
    const sim300 = sims.get(300) as Child;
    await sim300.waitFor(() => eventsOf(sim300, 'cancel').length === 1, 15_000);
    // runs are a second apart: the first cancel went to the largest, and only to it
    assert.deepEqual(cancelled(sims), [300]);
    const cancel = eventsOf(sim300, 'cancel')[0];
    assert.deepEqual([cancel?.reason, cancel?.policy], ['r', 'largest']);
    const sim200 = sims.get(200) as Child;
    await sim200.waitFor(() => eventsOf(sim200, 'cancel').length === 1, 15_000);
    assert.deepEqual(cancelled(sims), [200, 300]);
    const skipped = records(await c.query("SELECT query_id, error FROM clusterAllReplicas('c3', system.kill_log) WHERE policy = 'largest' AND kill_status = 'skipped_limit' ORDER BY query_id"));
    assert.ok(skipped.length >= 2, JSON.stringify(skipped));
    assert.match(String(skipped[0]?.error), /it takes the first by its ORDER BY/);
  } finally {
    await c.query('DROP KILL POLICY largest ON CLUSTER c3');
  }
  await c.query("KILL QUERY ON CLUSTER c3 WHERE user = 'pol' SYNC");
});

test('KILL CONNECTION … WHERE … ORDER BY TIME_MS DESC LIMIT 1 ends the connection idle longest, cluster-wide; SYNC is refused', async () => {
  const older = await c.sim('n3', ['--connections', '1', '--user', 'conn', '--host', 'app1', '--statement', '']);
  await sleep(1_100);
  const younger = await c.sim('n1', ['--connections', '1', '--user', 'conn', '--host', 'app1', '--statement', '']);
  const [oldId, youngId] = [older, younger].map((s) => String(eventsOf(s, 'started')[0]?.thread_id));
  await assert.rejects(c.query("KILL CONNECTION ON CLUSTER c3 WHERE USER = 'conn' ORDER BY TIME_MS DESC LIMIT 1 SYNC"), isError(36, 'BAD_ARGUMENTS', /^KILL CONNECTION is ASYNC or TEST, not SYNC/));
  const shown = records(await c.query("KILL CONNECTION ON CLUSTER c3 WHERE USER = 'conn' ORDER BY TIME_MS DESC LIMIT 1 TEST"));
  assert.deepEqual(shown.map((r) => [r.kill_status, r.thread_id, r.user, r.node_id]), [['unknown_status', oldId, 'conn', 'n3']]);
  const rows = records(await c.query("KILL CONNECTION ON CLUSTER c3 WHERE USER = 'conn' ORDER BY TIME_MS DESC LIMIT 1"));
  assert.deepEqual(rows.map((r) => [r.thread_id, r.node_id]), [[oldId, 'n3']]);
  await older.waitFor((e) => e.event === 'kill');
  assert.equal(eventsOf(older, 'kill')[0]?.query_only, false, 'the connection, not only its statement');
  await sleep(300);
  assert.equal(eventsOf(younger, 'kill').length, 0);
  // the plain form kills every match
  await c.query("KILL CONNECTION WHERE USER = 'conn' AND ID = " + youngId);
  await younger.waitFor((e) => e.event === 'kill');
});

test('KILL MUTATION … ORDER BY create_time LIMIT 1 kills the oldest mutation of the cluster only', async () => {
  const mutation = (node: string, prefix: string, ago: number) =>
    c.sim(node, ['--mutations', '1', '--database', 'db', '--table', 'rt', '--command', 'DELETE WHERE x = 1', '--mutation-id-prefix', prefix, '--parts', '100000', '--part-ms', '50', '--created-ago', String(ago)]);
  const newer = await mutation('n1', 'rm_new_', 60);
  const older = await mutation('n2', 'rm_old_', 600);
  const newest = await mutation('n3', 'rm_newest_', 5);
  const rows = records(await c.query("KILL MUTATION ON CLUSTER c3 WHERE table = 'rt' ORDER BY create_time LIMIT 1"));
  assert.deepEqual(rows.map((r) => [r.kill_status, r.mutation_id, r.node_id]), [['waiting', 'rm_old_1', 'n2']]);
  await older.waitFor((e) => e.event === 'cancel');
  await sleep(300);
  assert.equal(eventsOf(newer, 'cancel').length + eventsOf(newest, 'cancel').length, 0);
  await c.query("KILL MUTATION ON CLUSTER c3 WHERE table = 'rt'");
});

// last: it stops n3
test('a node that misses a ranked mutation kill gets its node row, never a queued kill (that would act on every match)', async () => {
  const chosen = await c.sim('n1', ['--mutations', '1', '--database', 'db', '--table', 'rq', '--mutation-id-prefix', 'rq_n1_', '--parts', '100000', '--created-ago', '100']);
  const n3 = c.agent('n3');
  n3.child.proc.kill('SIGKILL');
  await c.expireLease('n3');
  await c.waitForRows("SELECT node_id FROM system.clusters WHERE cluster = 'c3' AND is_active = 0", (rows) => rows.some((r) => r.node_id === 'n3'));
  const rows = records(await c.query("KILL MUTATION ON CLUSTER c3 WHERE table = 'rq' ORDER BY create_time LIMIT 1"));
  assert.deepEqual(rows.map((r) => [r.kill_status, r.mutation_id, r.node_id]).sort(), [['node_inactive', '', 'n3'], ['waiting', 'rq_n1_1', 'n1']]);
  await chosen.waitFor((e) => e.event === 'cancel');
  const queued = records(await c.query('SELECT count() AS n FROM system.kill_queue'));
  assert.equal(Number(queued[0]?.n), 0);
});
