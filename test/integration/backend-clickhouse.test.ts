import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { TestCluster, records, sleep } from './harness';
import { CH_USER, startClickHouse, type ClickHouseInstance } from './servers/clickhouse-instance';

// Issue acceptance: agents in front of two real ClickHouse 18.16 servers (`quell agent --backend
// clickhouse://…`, the HTTP interface). Cluster-wide KILL QUERY … SYNC, KILL MUTATION (which
// 18.16 cannot do), a server that stops and comes back, and the SYNC latency.

let servers: ClickHouseInstance[] = [];
let c: TestCluster;

before(async () => {
  servers = await Promise.all([1, 2].map(() => startClickHouse()));
  c = await TestCluster.start({
    cluster: 'ch',
    nodes: 2,
    // n1 logs in with a password, n2 as `default` without one
    agentArgs: (_nodeId, i) => ['--backend', i === 1 ? (servers[0]?.url(CH_USER.name, CH_USER.password) ?? '') : (servers[1]?.url() ?? '')],
  });
});
after(async () => {
  await c?.stop();
  await Promise.all(servers.map((s) => s.destroy()));
});

function server(i: number): ClickHouseInstance {
  const s = servers[i];
  assert.ok(s);
  return s;
}

/**
 * Starts `SELECT count() FROM system.numbers` (runs until cancelled; it checks its cancel flag
 * between blocks) with a known query_id; resolves once quell lists it. `outcome` is the HTTP answer
 * (wrapped in an object: an async function returning a promise would wait for it).
 */
async function longQuery(s: ClickHouseInstance, queryId: string): Promise<{ outcome: Promise<{ status: number; body: string }> }> {
  const url = `http://127.0.0.1:${s.httpPort}/?query_id=${encodeURIComponent(queryId)}&max_execution_time=60`;
  const outcome = fetch(url, { method: 'POST', body: 'SELECT count() FROM system.numbers' }).then(async (res) => ({
    status: res.status,
    body: (await res.text()).trim(),
  }), (err: Error) => ({ status: 0, body: `${err.message}: ${String(err.cause)}` }));
  const deadline = Date.now() + 10_000;
  for (;;) {
    const r = await c.query(`SELECT node_id FROM clusterAllReplicas('ch', system.processes) WHERE query_id = '${queryId}'`);
    if (r.rows.length === 1) return { outcome };
    if (Date.now() > deadline) throw new Error(`quell does not list ${queryId}`);
    await sleep(20);
  }
}

const CANCELLED = /^Code: 394, e\.displayText\(\) = DB::Exception: Query was cancelled/;

test('KILL QUERY ON CLUSTER ch WHERE query_id = … SYNC stops that query only; its client gets the cancellation error', async () => {
  const target = await longQuery(server(0), 'etl-1');
  const other = await longQuery(server(1), 'etl-2');
  const rows = records(await c.query("KILL QUERY ON CLUSTER ch WHERE query_id = 'etl-1' SYNC"));
  assert.equal(rows.length, 1, JSON.stringify(rows));
  assert.deepEqual(
    { kill_status: rows[0]?.kill_status, query_id: rows[0]?.query_id, user: rows[0]?.user, query: rows[0]?.query, node_id: rows[0]?.node_id },
    { kill_status: 'finished', query_id: 'etl-1', user: 'default', query: 'SELECT count() FROM system.numbers', node_id: 'n1' },
  );
  const res = await target.outcome;
  assert.equal(res.status, 500);
  assert.match(res.body, CANCELLED);
  // the other server's query runs on
  const still = records(await c.query("SELECT node_id, query_kind, current_database, read_rows FROM clusterAllReplicas('ch', system.processes) WHERE query_id = 'etl-2'"));
  assert.equal(still.length, 1);
  assert.equal(still[0]?.node_id, 'n2');
  assert.equal(still[0]?.query_kind, 'Select');
  assert.equal(still[0]?.current_database, ''); // 18.16 has no such column
  // the agents' own requests are never listed
  const own = await c.query("SELECT query_id FROM clusterAllReplicas('ch', system.processes) WHERE query_id LIKE 'quell-agent-%'");
  assert.equal(own.rows.length, 0);
  const rest = records(await c.query("KILL QUERY ON CLUSTER ch WHERE query_id = 'etl-2' ASYNC"));
  assert.deepEqual(rest.map((r) => r.kill_status), ['waiting']);
  assert.match((await other.outcome).body, CANCELLED);
});

test('KILL MUTATION ON CLUSTER ch: listed from system.mutations; 18.16 cannot kill it, so cant_cancel with the server\'s reason', async () => {
  const s = server(0);
  await s.query('CREATE TABLE default.events (id UInt64) ENGINE = MergeTree ORDER BY id');
  await s.query('INSERT INTO default.events SELECT number FROM system.numbers LIMIT 1000');
  // merges stopped on this table: the mutation stays unfinished while the test looks at it
  await s.query('SYSTEM STOP MERGES default.events');
  await s.query('ALTER TABLE default.events DELETE WHERE id = 7');
  const listed = records(
    await c.query("SELECT database, table, mutation_id, command, parts_to_do, node_id FROM clusterAllReplicas('ch', system.mutations) WHERE table = 'events'"),
  );
  assert.equal(listed.length, 1, JSON.stringify(listed));
  assert.equal(listed[0]?.node_id, 'n1');
  assert.equal(listed[0]?.command, 'DELETE WHERE id = 7');
  assert.match(String(listed[0]?.mutation_id), /^mutation_\d+\.txt$/);
  assert.equal(Number(listed[0]?.parts_to_do), 1);

  const rows = records(await c.query("KILL MUTATION ON CLUSTER ch WHERE database = 'default' AND table = 'events'"));
  assert.equal(rows.length, 1, JSON.stringify(rows));
  assert.equal(rows[0]?.kill_status, 'cant_cancel');
  assert.equal(rows[0]?.mutation_id, listed[0]?.mutation_id);
  assert.match(String(rows[0]?.error), /^Code: 62\. DB::Exception: Syntax error: failed at position \d+: MUTATION WHERE .*Expected QUERY/);
  // still there: nothing was killed
  const again = await c.query("SELECT mutation_id FROM clusterAllReplicas('ch', system.mutations) WHERE table = 'events'");
  assert.equal(again.rows.length, 1);
  await s.query('DROP TABLE default.events');
});

test('a stopped server is that node’s node_error row; after a restart the agent serves it again', async (t) => {
  const s2 = server(1);
  await s2.stop();
  const running = await longQuery(server(0), 'etl-3');
  const rows = records(await c.query("KILL QUERY ON CLUSTER ch WHERE query_id LIKE 'etl-%' SYNC"));
  const byNode = new Map(rows.map((r) => [r.node_id, r]));
  assert.equal(rows.length, 2, JSON.stringify(rows));
  assert.equal(byNode.get('n1')?.kill_status, 'finished');
  const n2 = byNode.get('n2');
  assert.equal(n2?.kill_status, 'node_error', JSON.stringify(n2));
  t.diagnostic(`n2: ${String(n2?.error)}`);
  assert.match(String(n2?.error), /ECONNREFUSED/);
  assert.match(String(n2?.error), new RegExp(`clickhouse://127\\.0\\.0\\.1:${s2.httpPort}`));
  assert.match((await running.outcome).body, CANCELLED);

  await s2.restart();
  const again = await longQuery(s2, 'etl-4');
  const after = records(await c.query("KILL QUERY ON CLUSTER ch WHERE query_id LIKE 'etl-%' SYNC"));
  assert.deepEqual(after.map((r) => [r.node_id, r.kill_status]), [['n2', 'finished']], JSON.stringify(after));
  assert.match((await again.outcome).body, CANCELLED);
});

test('wrong credentials: the node_error row carries the server\'s error, never the password', async () => {
  // an agent (n8: a node id of the test PKI) in front of server 1 with a wrong password, in a cluster of its own
  await c.addAgent('n8', 'chbad', ['--backend', server(0).url(CH_USER.name, 'wrong-password')]);
  const deadline = Date.now() + 10_000;
  let rows: Record<string, unknown>[] = [];
  // the coordinator learns of the new cluster from its etcd watch
  while (Date.now() < deadline) {
    try {
      rows = records(await c.query("KILL QUERY ON CLUSTER chbad WHERE query_id = 'nothing' TEST"));
      if (rows.length > 0) break;
    } catch {
      // CLUSTER_DOESNT_EXIST until the watch delivers it
    }
    await sleep(50);
  }
  assert.equal(rows.length, 1, JSON.stringify(rows));
  assert.equal(rows[0]?.kill_status, 'node_error', JSON.stringify(rows));
  assert.match(String(rows[0]?.error), /Code: 193\. DB::Exception: Wrong password for user quell/);
  assert.ok(!String(rows[0]?.error).includes('wrong-password'));
  await c.agent('n8').child.stop('SIGTERM', 3_000);
  c.agents.delete('n8');
});

test('time from KILL … SYNC to finished against ClickHouse', async (t) => {
  const times: number[] = [];
  for (let round = 0; round < 10; round++) {
    const running = await Promise.all(servers.map((s, i) => longQuery(s, `sync-${round}-${i}`)));
    const t0 = performance.now();
    const rows = records(await c.query(`KILL QUERY ON CLUSTER ch WHERE query_id LIKE 'sync-${round}-%' SYNC`));
    times.push(performance.now() - t0);
    assert.deepEqual(rows.map((r) => r.kill_status), ['finished', 'finished']);
    for (const r of running) assert.match((await r.outcome).body, CANCELLED);
  }
  const sorted = [...times].sort((a, b) => a - b);
  const p50 = sorted[Math.floor(sorted.length / 2)] ?? 0;
  const max = sorted[sorted.length - 1] ?? 0;
  t.diagnostic(`KILL QUERY ON CLUSTER ch … SYNC → 2 finished (ClickHouse 18.16 backends, 10 rounds): p50 ${p50.toFixed(1)} ms, max ${max.toFixed(1)} ms`);
});
