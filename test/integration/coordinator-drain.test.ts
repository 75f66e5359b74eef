import { test } from 'node:test';
import assert from 'node:assert/strict';
import { QuellError } from '../../errors/quell-error';
import { records, sleep, TestCluster, useCluster } from './harness';

// A coordinator stopped with SIGTERM mid-SYNC lets the statement finish within its own
// deadline: the client gets every row it was owed (still-running ones as `waiting`), never a
// bare "cancelled"; statements that arrive meanwhile are refused as not started.
let c: TestCluster;
useCluster({ cluster: 'c3', nodes: 2 }, (started) => (c = started));

test('SIGTERM mid-SYNC: the running kill finishes with its rows, new statements are refused, then the coordinator exits', async () => {
  await c.sim('n1', ['--queries', '2', '--user', 'stubborn', '--ignore-cancel', '--query-id-prefix', 'drain-']);
  await c.sim('n2', ['--queries', '1', '--user', 'stubborn', '--query-id-prefix', 'drain-n2-'], 1);
  const client = c.client();
  const running = client.query("KILL QUERY WHERE user = 'stubborn' SYNC SETTINGS sync_kill_timeout = 3");
  await sleep(500);
  c.coordinator.proc.kill('SIGTERM');
  await sleep(300);
  // a statement that arrives while draining is refused, not half-run
  await assert.rejects(c.client().query('SELECT 1'), (e: unknown) => e instanceof QuellError && e.code === 236 && e.errorName === 'ABORTED');

  const rows = records(await running);
  const byId = new Map(rows.map((r) => [r.query_id, r.kill_status]));
  assert.deepEqual(Object.fromEntries([...byId].sort()), { 'drain-1': 'waiting', 'drain-2': 'waiting', 'drain-n2-1': 'finished' });
  // `waiting` rows exist only once sync_kill_timeout passed: the coordinator waited for them
  assert.equal(await c.coordinator.exited, 0);
});
