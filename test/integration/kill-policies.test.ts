import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { QuellError } from '../../errors/quell-error';
import { spawnQuell, type Child } from '../../common/daemon/child-processes';
import { TestCluster, eventsOf, records, sleep } from './harness';
import { unixNow } from '../../sql/compile';

// docs/kill-policies.md, end to end: real etcd, a coordinator and three agents as separate
// processes, TLS everywhere, `quell sim` workloads. Policies are created through the
// coordinator and run by every agent on its own, also while no coordinator runs.

const USERS = `
users:
  default: { grants: [ALL] }
  admin: { password: admin-pw, grants: [KILL POLICY, KILL QUERY, PROCESS] }
  carol: { password: carol-pw, grants: [KILL POLICY] }
  bob: { password: bob-pw, grants: [KILL QUERY, KILL MUTATION, PROCESS] }
  viewer: { password: viewer-pw, readonly: true, grants: [KILL POLICY, PROCESS] }
`;

let c: TestCluster;
const tmp = mkdtempSync(path.join(os.tmpdir(), 'quell-policies-test-'));
/** a coordinator this file started in place of the cluster's own */
let replacement: Child | undefined;

before(async () => {
  c = await TestCluster.start({ cluster: 'c3', nodes: 3, users: USERS });
});
after(async () => {
  await replacement?.stop('SIGTERM', 3_000);
  await c?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

const admin = (sql: string) => c.query(sql, 'admin', 'admin-pw');

/** Resolves once the sim has been told to cancel `n` processes (the policy acts on its own time). */
function cancelled(sim: Child, n = 1, timeoutMs = 15_000): Promise<unknown> {
  return sim.waitFor(() => eventsOf(sim, 'cancel').length >= n, timeoutMs);
}

/** Kill-log rows of one policy, every node, as objects. */
async function policyLog(policy: string, extraWhere = ''): Promise<Record<string, unknown>[]> {
  return records(
    await c.query(
      'SELECT node_id, statement_id, user, client, coordinator, target, mode, condition, query_id, process_user, kill_status, error, policy ' +
        `FROM clusterAllReplicas('c3', system.kill_log) WHERE policy = '${policy}' ${extraWhere} ORDER BY node_id, query_id, kill_status`,
    ),
  );
}

/** Polls the kill log until `ready` holds for a policy's rows. */
async function waitForLog(policy: string, ready: (rows: Record<string, unknown>[]) => boolean, timeoutMs = 15_000): Promise<Record<string, unknown>[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const rows = await policyLog(policy);
    if (ready(rows)) return rows;
    if (Date.now() > deadline) throw new Error(`kill log of ${policy}: ${JSON.stringify(rows)}`);
    await sleep(100);
  }
}

function isError(code: number, name: string, message?: RegExp): (e: unknown) => boolean {
  return (e) => {
    assert.ok(e instanceof QuellError, String(e));
    assert.equal(e.errorName, name, e.message);
    assert.equal(e.code, code);
    if (message) assert.match(e.message, message);
    return true;
  };
}

test('bad input: one-line coded errors, nothing stored', async () => {
  const ok = "CREATE KILL POLICY p WHERE user = 'x'";
  await assert.rejects(c.query(ok, 'bob', 'bob-pw'), isError(497, 'ACCESS_DENIED', /^bob: Not enough privileges\. To execute this query it's necessary to have grant KILL POLICY$/));
  await assert.rejects(c.query(ok, 'viewer', 'viewer-pw'), isError(497, 'ACCESS_DENIED'), 'a readonly user never, whatever its grants');
  await assert.rejects(c.query('DROP KILL POLICY IF EXISTS p', 'bob', 'bob-pw'), isError(497, 'ACCESS_DENIED'));
  await assert.rejects(admin("CREATE KILL POLICY p WHERE user = 'x' EVERY 0 SECONDS"), isError(36, 'BAD_ARGUMENTS', /^EVERY 0 SECONDS is out of range/));
  await assert.rejects(admin("CREATE KILL POLICY p WHERE user = 'x' LIMIT 0"), isError(36, 'BAD_ARGUMENTS', /^LIMIT 0 is out of range/));
  await assert.rejects(admin("CREATE KILL POLICY p WHERE user = 'x' LIMIT -3"), isError(36, 'BAD_ARGUMENTS', /^LIMIT -3 is out of range/));
  await assert.rejects(admin('CREATE KILL POLICY p WHERE usr = 1'), isError(47, 'UNKNOWN_IDENTIFIER'));
  await assert.rejects(admin('CREATE KILL POLICY p WHERE frobnicate(user)'), isError(46, 'UNKNOWN_FUNCTION'));
  await assert.rejects(admin('CREATE KILL POLICY p WHERE user'), isError(43, 'ILLEGAL_TYPE_OF_ARGUMENT'));
  await assert.rejects(admin("CREATE KILL POLICY p WHERE COMMAND = 'Sleep'"), isError(47, 'UNKNOWN_IDENTIFIER'), 'KILL QUERY checks against system.processes');
  await assert.rejects(admin("CREATE KILL POLICY p ON CLUSTER nowhere WHERE user = 'x'"), isError(701, 'CLUSTER_DOESNT_EXIST', /^Requested cluster 'nowhere' not found$/));
  await assert.rejects(admin("CREATE KILL POLICY `a/b` WHERE user = 'x'"), isError(36, 'BAD_ARGUMENTS', /^Invalid kill policy name 'a\/b'/));
  await assert.rejects(admin("CREATE KILL POLICY p WHERE command LIKE '%x%' KILL MUTATION"), isError(497, 'ACCESS_DENIED', /grant KILL MUTATION$/), 'mutations have no owner: the grant is needed');
  // without LIMIT a policy needs the setting, whatever its WHERE: no WHERE is judged harmless
  for (const where of ['1 = 1', 'elapsed > -1 OR 1', "user = 'x'"]) {
    await assert.rejects(
      admin(`CREATE KILL POLICY p WHERE ${where}`),
      isError(36, 'BAD_ARGUMENTS', /^Kill policy p on cluster c3 has no LIMIT: add LIMIT n, or SETTINGS allow_unbounded_policy = 1$/),
      where,
    );
  }
  await assert.rejects(admin('DROP KILL POLICY nope'), isError(523, 'UNKNOWN_ROW_POLICY', /^There is no kill policy `nope` in cluster 'c3'$/));
  await assert.rejects(c.query('CREATE KILL POLICY p WHERE'), isError(62, 'SYNTAX_ERROR', /position 27/));
  assert.equal((await c.query('SHOW KILL POLICIES')).rows.length, 0);
});

test('CREATE, SHOW, duplicates, IF [NOT] EXISTS, DROP', async () => {
  await admin("CREATE KILL POLICY slow ON CLUSTER c3 WHERE elapsed > 3600 AND NOT match(user, '^(admin|backup)$') KILL QUERY EVERY 30 SECONDS LIMIT 5");
  await c.query('CREATE KILL POLICY everything WHERE 1 DRY RUN SETTINGS allow_unbounded_policy = 1');
  const shown = records(await c.query('SHOW KILL POLICIES'));
  const now = unixNow();
  for (const r of shown) assert.ok(Math.abs(Number(r.created) - now) < 60, 'created is now');
  assert.deepEqual(
    shown.map(({ created: _created, ...r }) => r),
    [
      { cluster: 'c3', name: 'everything', condition: '1', action: 'KILL QUERY', every_s: 5, limit: 0, dry_run: 1, creator: 'default', state: 'active', suspended_reason: '', invalid_reason: '', order_by: '', escalate_after: 0, reason: '' },
      { cluster: 'c3', name: 'slow', condition: "and(greater(elapsed, 3600), not(match(user, '^(admin|backup)$')))", action: 'KILL QUERY', every_s: 30, limit: 5, dry_run: 0, creator: 'admin', state: 'active', suspended_reason: '', invalid_reason: '', order_by: '', escalate_after: 0, reason: '' },
    ],
  );
  assert.deepEqual(records(await c.query("SELECT name, `limit` AS max_kills FROM system.kill_policies WHERE creator = 'admin'")), [{ name: 'slow', max_kills: 5 }]);
  await assert.rejects(
    admin("CREATE KILL POLICY slow WHERE user = 'x' LIMIT 10"),
    isError(493, 'ACCESS_ENTITY_ALREADY_EXISTS', /^kill policy `slow`: cannot insert because kill policy `slow` already exists in cluster 'c3'$/),
  );
  await admin("CREATE KILL POLICY IF NOT EXISTS slow WHERE user = 'x' LIMIT 10");
  assert.equal(records(await c.query("SELECT condition FROM system.kill_policies WHERE name = 'slow'"))[0]?.condition, "and(greater(elapsed, 3600), not(match(user, '^(admin|backup)$')))", 'the first one stays');
  await admin('DROP KILL POLICY slow ON CLUSTER c3');
  await c.query('DROP KILL POLICY everything');
  await admin('DROP KILL POLICY IF EXISTS slow');
  assert.equal((await c.query('SHOW KILL POLICIES')).rows.length, 0);
});

test('a policy kills on every node, keeps killing with the coordinator stopped, and stops at DROP', async () => {
  const etl = await Promise.all(['n1', 'n2', 'n3'].map((n) => c.sim(n, ['--queries', '1', '--user', 'etl', '--query-id-prefix', `etl-${n}-`])));
  const others = await Promise.all(['n1', 'n2', 'n3'].map((n) => c.sim(n, ['--queries', '1', '--user', 'analyst', '--query-id-prefix', `keep-${n}-`])));
  await admin("CREATE KILL POLICY etl_guard ON CLUSTER c3 WHERE user = 'etl' EVERY 1 SECONDS LIMIT 10");
  await Promise.all(etl.map((s) => cancelled(s)));
  const rows = await waitForLog('etl_guard', (r) => r.length >= 3);
  assert.deepEqual(rows.map((r) => [r.node_id, r.query_id, r.kill_status]), [
    ['n1', 'etl-n1-1', 'waiting'],
    ['n2', 'etl-n2-1', 'waiting'],
    ['n3', 'etl-n3-1', 'waiting'],
  ]);
  for (const r of rows) {
    assert.equal(r.mode, 'POLICY');
    assert.equal(r.policy, 'etl_guard');
    assert.equal(r.user, 'admin', 'the policy runs as its creator');
    assert.equal(r.process_user, 'etl');
    assert.equal(r.target, 'QUERY');
    assert.equal(r.condition, "equals(user, 'etl')");
  }
  for (const s of others) assert.deepEqual(eventsOf(s, 'cancel'), []);

  // no coordinator at all: the agents go on by themselves
  await c.coordinator.stop('SIGTERM', 3_000);
  const late = await c.sim('n2', ['--queries', '1', '--user', 'etl', '--query-id-prefix', 'late-']);
  await cancelled(late);

  // a new coordinator on the same address reads what the agents logged meanwhile
  const users = path.join(tmp, 'users.yaml');
  writeFileSync(users, USERS);
  replacement = spawnQuell(['coordinator', '--etcd', c.etcd.url, '--listen', c.address, '--default-cluster', 'c3', '--users', users, ...c.pki.argv(c.pki.coordinator())]);
  await replacement.waitFor((e) => e.event === 'ready');
  await c.waitForActive(3);
  const lateRows = await waitForLog('etl_guard', (r) => r.some((x) => x.query_id === 'late-1'));
  assert.deepEqual(lateRows.filter((r) => r.query_id === 'late-1').map((r) => [r.node_id, r.mode, r.coordinator, r.kill_status]), [['n2', 'POLICY', '', 'waiting']]);

  await admin('DROP KILL POLICY etl_guard');
  const after = await c.sim('n3', ['--queries', '1', '--user', 'etl', '--query-id-prefix', 'after-drop-']);
  // a later policy that lists the same process proves the agent has seen the DROP (one watch, in order)
  await admin("CREATE KILL POLICY witness WHERE query_id = 'after-drop-1' EVERY 1 SECONDS DRY RUN LIMIT 10");
  await waitForLog('witness', (r) => r.length >= 1);
  assert.deepEqual(eventsOf(after, 'cancel'), [], 'a dropped policy kills nothing');
  assert.deepEqual(await policyLog('etl_guard', "AND query_id = 'after-drop-1'"), []);
  await admin('DROP KILL POLICY witness');
});

test('DRY RUN kills nothing and logs every match once', async () => {
  const sim = await c.sim('n1', ['--queries', '2', '--user', 'dry', '--query-id-prefix', 'dry-'], 2);
  await admin("CREATE KILL POLICY rehearsal WHERE user = 'dry' EVERY 1 SECONDS DRY RUN LIMIT 10");
  const rows = await waitForLog('rehearsal', (r) => r.length >= 2);
  assert.deepEqual(rows.map((r) => [r.node_id, r.query_id, r.mode, r.kill_status]), [
    ['n1', 'dry-1', 'POLICY', 'unknown_status'],
    ['n1', 'dry-2', 'POLICY', 'unknown_status'],
  ]);
  // two more runs at least: still one entry per match
  await sleep(2_500);
  assert.equal((await policyLog('rehearsal')).length, 2, 'each match is logged once, not every second');
  assert.deepEqual(eventsOf(sim, 'cancel'), []);
  const running = records(await c.query("SELECT query_id FROM clusterAllReplicas('c3', system.processes) WHERE user = 'dry' ORDER BY query_id"));
  assert.deepEqual(running.map((r) => r.query_id), ['dry-1', 'dry-2']);
  await admin('DROP KILL POLICY rehearsal');
});

test('LIMIT 1: each run kills the oldest match on each node and logs the rest as skipped_limit', async () => {
  const nodes = ['n1', 'n2', 'n3'];
  const old = await Promise.all(nodes.map((n) => c.sim(n, ['--queries', '1', '--user', 'batch', '--query-id-prefix', `old-${n}-`])));
  const young = await Promise.all(nodes.map((n) => c.sim(n, ['--queries', '2', '--user', 'batch', '--query-id-prefix', `young-${n}-`], 2)));
  await admin("CREATE KILL POLICY batch_cap ON CLUSTER c3 WHERE user = 'batch' EVERY 1 SECONDS LIMIT 1");
  await Promise.all([...old.map((s) => cancelled(s)), ...young.map((s) => cancelled(s, 2, 20_000))]);
  const rows = await policyLog('batch_cap');
  for (const n of nodes) {
    const of = (id: string) => rows.filter((r) => r.node_id === n && r.query_id === id).map((r) => r.kill_status);
    assert.deepEqual(of(`old-${n}-1`), ['waiting'], `${n}: the oldest is killed in the first run, never skipped`);
    assert.deepEqual(of(`young-${n}-1`), ['skipped_limit', 'waiting'], `${n}: skipped once, killed in a later run`);
    assert.deepEqual(of(`young-${n}-2`), ['skipped_limit', 'waiting'], `${n}: skipped once, killed in a later run`);
    // one kill per node per run
    const runs = new Map<unknown, number>();
    for (const r of rows) if (r.node_id === n && r.kill_status === 'waiting') runs.set(r.statement_id, (runs.get(r.statement_id) ?? 0) + 1);
    assert.deepEqual([...runs.values()], [1, 1, 1]);
  }
  assert.match(String(rows.find((r) => r.kill_status === 'skipped_limit')?.error), /^not killed: over the policy's LIMIT 1/);
  await admin('DROP KILL POLICY batch_cap');
});

test("a policy made by a user without KILL QUERY kills only that user's own processes", async () => {
  const mine = await c.sim('n3', ['--queries', '1', '--user', 'carol', '--query-id-prefix', 'own-carol-']);
  const theirs = await c.sim('n3', ['--queries', '1', '--user', 'dave', '--query-id-prefix', 'own-dave-']);
  await c.query("CREATE KILL POLICY mine WHERE query_id LIKE 'own-%' EVERY 1 SECONDS LIMIT 10", 'carol', 'carol-pw');
  assert.equal(records(await c.query("SELECT creator FROM system.kill_policies WHERE name = 'mine'"))[0]?.creator, 'carol');
  await cancelled(mine);
  // dave's process matched in that same run: it was left alone, and not logged
  const rows = await policyLog('mine');
  assert.deepEqual(rows.map((r) => [r.node_id, r.query_id, r.user, r.kill_status]), [['n3', 'own-carol-1', 'carol', 'waiting']]);
  assert.deepEqual(eventsOf(theirs, 'cancel'), []);
  await c.query('DROP KILL POLICY mine', 'carol', 'carol-pw');
});
