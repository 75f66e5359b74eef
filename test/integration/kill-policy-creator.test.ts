import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnQuell, type Child } from '../../common/daemon/child-processes';
import { TestCluster, eventsOf, records, sleep } from './harness';

// docs/kill-policies.md §Suspension, end to end: a policy whose creator is removed from the
// users file stops acting on every agent, and says so in each node's kill log and in
// system.kill_policies. Real etcd, coordinators and agents as separate processes.

const USERS = `
users:
  default: { grants: [ALL] }
  admin: { password: admin-pw, grants: [KILL POLICY, KILL QUERY, PROCESS] }
`;
/** the same file with admin removed */
const WITHOUT_ADMIN = `
users:
  default: { grants: [ALL] }
`;

let c: TestCluster;
const tmp = mkdtempSync(path.join(os.tmpdir(), 'quell-policy-creator-test-'));
let replacement: Child | undefined;

before(async () => {
  c = await TestCluster.start({ cluster: 'c3', nodes: 3, users: USERS });
});
after(async () => {
  await replacement?.stop('SIGTERM', 3_000);
  await c?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

const logOf = (policy: string) =>
  `SELECT node_id, user, mode, kill_status, error, policy FROM clusterAllReplicas('c3', system.kill_log) WHERE policy = '${policy}' ORDER BY node_id, kill_status`;

test('a policy whose creator is removed from the users file is suspended on every node and kills no more', async () => {
  const first = await c.sim('n1', ['--queries', '1', '--user', 'etl', '--query-id-prefix', 'before-']);
  await c.query("CREATE KILL POLICY etl_guard ON CLUSTER c3 WHERE user = 'etl' EVERY 1 SECONDS LIMIT 10", 'admin', 'admin-pw');
  await first.waitFor(() => eventsOf(first, 'cancel').length >= 1, 15_000);
  assert.deepEqual(records(await c.query("SELECT state, suspended_reason FROM system.kill_policies WHERE name = 'etl_guard'")), [{ state: 'active', suspended_reason: '' }]);

  // the coordinator comes back with a users file that no longer has admin
  await c.coordinator.stop('SIGTERM', 3_000);
  const users = path.join(tmp, 'users.yaml');
  writeFileSync(users, WITHOUT_ADMIN);
  replacement = spawnQuell(['coordinator', '--etcd', c.etcd.url, '--listen', c.address, '--default-cluster', 'c3', '--users', users, ...c.pki.argv(c.pki.coordinator())]);
  await replacement.waitFor((e) => e.event === 'ready');
  await c.waitForActive(3);

  const reason = "creator admin is not in the coordinator's users file";
  const shown = await c.waitForRows("SELECT name, creator, state, suspended_reason FROM system.kill_policies WHERE name = 'etl_guard'", (r) => r[0]?.state === 'suspended');
  assert.deepEqual(shown, [{ name: 'etl_guard', creator: 'admin', state: 'suspended', suspended_reason: reason }]);

  const suspendedRows = (rows: Record<string, unknown>[]) => rows.filter((r) => r.kill_status === 'policy_suspended');
  const rows = suspendedRows(await c.waitForRows(logOf('etl_guard'), (r) => suspendedRows(r).length >= 3));
  assert.deepEqual(
    rows.map((r) => [r.node_id, r.user, r.mode, r.error]),
    ['n1', 'n2', 'n3'].map((n) => [n, 'admin', 'POLICY', `kill policy etl_guard suspended: ${reason}`]),
  );

  // new matching processes on every node; a later policy that lists them proves each agent has
  // seen the suspension (one watch, in order), and several intervals pass
  const after = await Promise.all(['n1', 'n2', 'n3'].map((n) => c.sim(n, ['--queries', '1', '--user', 'etl', '--query-id-prefix', `after-${n}-`])));
  await c.query("CREATE KILL POLICY witness ON CLUSTER c3 WHERE user = 'etl' EVERY 1 SECONDS DRY RUN LIMIT 10");
  await c.waitForRows(logOf('witness'), (r) => r.length >= 3);
  await sleep(3_000);
  for (const s of after) assert.deepEqual(eventsOf(s, 'cancel'), [], 'a suspended policy kills nothing');
  const finalLog = await c.waitForRows(logOf('etl_guard'), () => true);
  assert.deepEqual(suspendedRows(finalLog).length, 3, 'the suspension is logged once per node, not at every interval');
  assert.deepEqual(finalLog.filter((r) => r.kill_status === 'waiting').map((r) => r.node_id), ['n1'], 'only the kill made before the suspension');

  // DROP still works on a suspended policy
  await c.query('DROP KILL POLICY etl_guard');
  await c.query('DROP KILL POLICY witness');
  assert.equal((await c.query('SHOW KILL POLICIES')).rows.length, 0);
});
