import { test } from 'node:test';
import assert from 'node:assert/strict';
import { eventsOf, records, sleep, TestCluster, useCluster } from './harness';

// A node_timeout row means that node killed nothing: a stalled agent that resumes after the
// coordinator's first-answer deadline must not carry out the kills it was sent meanwhile.
let c: TestCluster;
useCluster({ cluster: 'c3', nodes: 2 }, (started) => (c = started));

test('an agent stopped past distributed_ddl_task_timeout and resumed kills nothing it was sent', async () => {
  const onN2 = await c.sim('n2', ['--queries', '2', '--user', 'carol', '--query-id-prefix', 'late-n2-'], 2);
  const onN1 = await c.sim('n1', ['--queries', '1', '--user', 'carol', '--query-id-prefix', 'late-n1-'], 1);
  const n2 = c.agent('n2').child.proc;
  n2.kill('SIGSTOP');
  let rows: Record<string, unknown>[];
  try {
    rows = records(await c.query("KILL QUERY WHERE user = 'carol' SYNC SETTINGS distributed_ddl_task_timeout = 1"));
  } finally {
    n2.kill('SIGCONT');
  }
  assert.deepEqual(rows.map((r) => [r.node_id, r.kill_status]).sort(), [['n1', 'finished'], ['n2', 'node_timeout']]);
  // give the resumed agent time to work through what it was sent while stopped
  await sleep(2_000);
  assert.equal(eventsOf(onN2, 'cancel').length, 0, 'the timed-out node cancelled nothing');
  assert.equal(eventsOf(onN1, 'cancel').length, 1);
  // the kill log on n2 says why nothing happened there
  const logged = records(await c.query("SELECT kill_status, error FROM clusterAllReplicas('c3', system.kill_log) WHERE node_id = 'n2' AND process_user = 'carol'"));
  assert.ok(logged.every((r) => r.kill_status !== 'finished' && r.kill_status !== 'waiting'), JSON.stringify(logged));
});
