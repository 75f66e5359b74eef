import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Client, type DatabaseError } from 'pg';
import { TestCluster, records, sleep } from './harness';
import { PG_ROLES, startPostgres, type PostgresInstance } from './servers/postgres-instance';
import { HealthProbe, parseExposition, scrape } from './probe-clients';

// Issue acceptance: agents in front of two real PostgreSQL servers (`quell agent --backend
// postgres://…`). Cluster-wide KILL QUERY … SYNC (pg_cancel_backend), a routed MariaDB-form
// KILL <id> (pg_terminate_backend), a server that stops and comes back, and the SYNC latency.

let servers: PostgresInstance[] = [];
let c: TestCluster;
const clients: Client[] = [];

before(async () => {
  servers = await Promise.all([1, 2].map(() => startPostgres()));
  for (const s of servers) {
    await s.admin('CREATE TABLE orders (id int PRIMARY KEY, note text); GRANT SELECT, INSERT ON orders TO etl;');
  }
  c = await TestCluster.start({
    cluster: 'pg',
    nodes: 2,
    agentArgs: (_nodeId, i) => ['--backend', servers[i - 1]?.url('quell', PG_ROLES.quell) ?? '', '--metrics-listen', '127.0.0.1:0'],
  });
});
after(async () => {
  for (const x of clients) await x.end().catch(() => undefined);
  await c?.stop();
  await Promise.all(servers.map((s) => s.destroy()));
});

/** An etl session; errors the server sends while it is idle (a terminate) are kept in `fatal`. */
async function etl(server: PostgresInstance): Promise<Client & { fatal: DatabaseError[] }> {
  const x = Object.assign(new Client({ connectionString: server.url('etl', PG_ROLES.etl) }), { fatal: [] as DatabaseError[] });
  x.on('error', (err) => x.fatal.push(err as DatabaseError));
  clients.push(x);
  await x.connect();
  return x;
}

const sqlstate = (p: Promise<unknown>): Promise<string> =>
  p.then(
    () => 'ok',
    (err: DatabaseError) => err.code ?? err.message,
  );

/** Starts `SELECT pg_sleep(100)` as etl on each given server; resolves once quell lists all of them. */
async function sleepers(on: PostgresInstance[]): Promise<{ conn: Client; outcome: Promise<string> }[]> {
  const started = await Promise.all(
    on.map(async (s) => {
      const conn = await etl(s);
      return { conn, outcome: sqlstate(conn.query('SELECT pg_sleep(100)')) };
    }),
  );
  const deadline = Date.now() + 10_000;
  for (;;) {
    const r = await c.query("SELECT node_id FROM clusterAllReplicas('pg', system.processes) WHERE user = 'etl' AND query LIKE 'SELECT pg_sleep%'");
    if (r.rows.length >= on.length) return started;
    if (Date.now() > deadline) throw new Error(`quell lists ${r.rows.length} of ${on.length} sleepers`);
    await sleep(20);
  }
}

/** 57014 query_canceled, and the session itself lives on. */
async function expectCancelledAndUsable(s: { conn: Client; outcome: Promise<string> }): Promise<void> {
  assert.equal(await s.outcome, '57014');
  assert.equal((await s.conn.query('SELECT 1 AS one')).rows[0]?.one, 1);
}

test('KILL QUERY ON CLUSTER … WHERE user = etl SYNC cancels pg_sleep on both servers (57014)', async () => {
  const running = await sleepers(servers);
  const rows = records(await c.query("KILL QUERY ON CLUSTER pg WHERE user = 'etl' SYNC"));
  assert.deepEqual(rows.map((r) => r.kill_status), ['finished', 'finished'], JSON.stringify(rows));
  assert.deepEqual(rows.map((r) => r.node_id).sort(), ['n1', 'n2']);
  for (const r of rows) {
    assert.equal(r.user, 'etl');
    assert.equal(r.query, 'SELECT pg_sleep(100)');
  }
  for (const s of running) await expectCancelledAndUsable(s);
  // the agents' own sessions are never listed
  const own = await c.query("SELECT query_id FROM clusterAllReplicas('pg', system.processes) WHERE user = 'quell'");
  assert.equal(own.rows.length, 0);
  for (const s of running) await s.conn.end();
});

test('a routed MariaDB KILL <id> terminates the session (57P01) and rolls back its transaction', async () => {
  const server = servers[1];
  assert.ok(server);
  const victim = await etl(server);
  const pid = Number((await victim.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid);
  await victim.query('BEGIN');
  await victim.query("INSERT INTO orders VALUES (42, 'inside the transaction')");
  const list = records(await c.client().query("SELECT ID, COMMAND FROM information_schema.PROCESSLIST WHERE USER = 'etl'", { dialect: 'mariadb' }));
  assert.equal(list.length, 1, JSON.stringify(list));
  assert.equal(list[0]?.COMMAND, 'idle in transaction');
  const id = Number(list[0]?.ID);
  assert.notEqual(id, pid); // the cluster-wide id, not the server's pid
  await c.client().query(`KILL ${id}`, { dialect: 'mariadb' });
  const deadline = Date.now() + 5_000;
  while (victim.fatal.length === 0 && Date.now() < deadline) await sleep(10);
  assert.equal(victim.fatal[0]?.code, '57P01', String(victim.fatal[0]));
  await assert.rejects(victim.query('SELECT 1'));
  const n = await server.admin('SELECT count(*)::int AS n FROM orders WHERE id = 42');
  assert.deepEqual(n, [{ n: 0 }]);
});

/** What n2 says of its server: quell_backend_up, and gRPC health of quell.backend and of the agent itself. */
async function backendHealth(server: PostgresInstance): Promise<{ up: number | undefined; backend: string; agent: string }> {
  const n2 = c.agent('n2');
  const metrics = String(n2.child.events.find((e) => e.event === 'ready')?.metrics);
  const up = parseExposition((await scrape(metrics, c.pki.ca)).body).value('quell_backend_up', { backend: `postgres://quell@127.0.0.1:${server.port}` });
  const probe = new HealthProbe(n2.address, c.pki.ca);
  try {
    return { up, backend: await probe.check('quell.backend'), agent: await probe.check() };
  } finally {
    probe.close();
  }
}

async function eventually<T>(read: () => Promise<T>, want: T): Promise<void> {
  let seen = await read();
  for (let i = 0; i < 100 && JSON.stringify(seen) !== JSON.stringify(want); i++) {
    await sleep(100);
    seen = await read();
  }
  assert.deepEqual(seen, want);
}

test('a stopped server is that node’s node_error row; after a restart the agent serves it again', async (t) => {
  const [s1, s2] = servers;
  assert.ok(s1 && s2);
  assert.deepEqual(await backendHealth(s2), { up: 1, backend: 'SERVING', agent: 'SERVING' });
  await s2.stop();
  // checked every 2 s: the server is reported down, the agent itself still serves (node rows)
  await eventually(() => backendHealth(s2), { up: 0, backend: 'NOT_SERVING', agent: 'SERVING' });
  assert.match(c.agent('n2').child.stderr(), /"msg":"backend server does not answer; statements will show node_error until it does"/);
  const running = await sleepers([s1]);
  const rows = records(await c.query("KILL QUERY ON CLUSTER pg WHERE user = 'etl' SYNC"));
  const byNode = new Map(rows.map((r) => [r.node_id, r]));
  assert.equal(rows.length, 2, JSON.stringify(rows));
  assert.equal(byNode.get('n1')?.kill_status, 'finished');
  const n2 = byNode.get('n2');
  assert.equal(n2?.kill_status, 'node_error', JSON.stringify(n2));
  t.diagnostic(`n2: ${String(n2?.error)}`);
  assert.match(String(n2?.error), /ECONNREFUSED/);
  assert.match(String(n2?.error), new RegExp(`postgres://quell@127\\.0\\.0\\.1:${s2.port}`));
  assert.ok(!String(n2?.error).includes(PG_ROLES.quell), String(n2?.error));
  for (const s of running) await expectCancelledAndUsable(s);

  await s2.restart();
  await eventually(() => backendHealth(s2), { up: 1, backend: 'SERVING', agent: 'SERVING' });
  assert.match(c.agent('n2').child.stderr(), /"msg":"backend server answers again"/);
  const again = await sleepers([s2]);
  const after = records(await c.query("KILL QUERY ON CLUSTER pg WHERE user = 'etl' SYNC"));
  assert.deepEqual(after.map((r) => [r.node_id, r.kill_status]), [['n2', 'finished']], JSON.stringify(after));
  for (const s of again) await expectCancelledAndUsable(s);
  for (const s of [...running, ...again]) await s.conn.end();
});

test('time from KILL … SYNC to finished against PostgreSQL', async (t) => {
  const times: number[] = [];
  for (let round = 0; round < 10; round++) {
    const running = await sleepers(servers);
    const t0 = performance.now();
    const rows = records(await c.query("KILL QUERY ON CLUSTER pg WHERE user = 'etl' SYNC"));
    times.push(performance.now() - t0);
    assert.deepEqual(rows.map((r) => r.kill_status), ['finished', 'finished']);
    for (const s of running) await expectCancelledAndUsable(s);
    for (const s of running) await s.conn.end();
  }
  const sorted = [...times].sort((a, b) => a - b);
  const p50 = sorted[Math.floor(sorted.length / 2)] ?? 0;
  const max = sorted[sorted.length - 1] ?? 0;
  t.diagnostic(`KILL QUERY ON CLUSTER pg … SYNC → 2 finished (PostgreSQL backends, 10 rounds): p50 ${p50.toFixed(1)} ms, max ${max.toFixed(1)} ms`);
});
