import { after, before, test } from 'node:test';
import { performance } from 'node:perf_hooks';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import mysql from 'mysql2/promise';
import { freePort, spawnChild, spawnQuell, type Child } from '../../common/daemon/child-processes';
import { idOwner, makeSessionId, queryIdServerId } from '../../common/thread-id';
import { connectEtcd } from '../../common/etcd/client';
import { coordinatorKey } from '../../common/etcd/etcd-layout';
import { TestCluster, records, until } from './harness';
import { curl, type Reply } from './curl';
import { QuellError } from '../../errors/quell-error';

// Issue 22, the rest: three coordinators on one etcd, each with a MySQL and an HTTP door.
// SHOW PROCESSLIST and system.sessions on any of them list every coordinator's door sessions,
// KILL reaches a session or an HTTP statement wherever it runs (with the killer's kill_reason in
// the victim's error), and an owner that is stopped, dead, restarted or forged is named.
const USERS = `
users:
  default: { grants: [ALL] }
  admin: { password: adminpw, grants: [ALL] }
  bob: { password: bobpw }
`;
/** A statement that runs until something stops it: a SYNC kill of a process that ignores its cancel. */
const LONG = "KILL QUERY WHERE query_id LIKE 'xstuck-%' SYNC SETTINGS sync_kill_timeout = 600";

interface Coordinator {
  readonly id: string;
  /** its gRPC address */
  address: string;
  readonly mysql: number;
  readonly http: number;
  /** B and C; A is the harness's */
  child?: Child;
}

let c: TestCluster;
let usersFile = '';
const A: Coordinator = { id: 'A', address: '', mysql: 0, http: 0 };
let B: Coordinator;
let C: Coordinator;
/** connections kept for the rest of the file, closed at its end */
const kept: mysql.Connection[] = [];

async function startCoordinator(id: string, mysqlPort: number, httpPort: number, grpcPort?: number, extra: string[] = []): Promise<Coordinator> {
  const child = spawnQuell([
    'coordinator', '--etcd', c.etcd.url, '--listen', `127.0.0.1:${grpcPort ?? (await freePort())}`, '--default-cluster', 'c3', '--users', usersFile,
    ...c.pki.argv(c.pki.coordinator()), '--mysql-listen', `127.0.0.1:${mysqlPort}`, '--http-listen', `127.0.0.1:${httpPort}`, '--coordinator-id', id, ...extra,
  ]);
  const ready = await child.waitFor((e) => e.event === 'ready');
  return { id, address: String(ready.address), mysql: mysqlPort, http: httpPort, child };
}

before(async () => {
  Object.assign(A, { mysql: await freePort(), http: await freePort() });
  c = await TestCluster.start({ cluster: 'c3', nodes: 1, users: USERS, coordinatorArgs: ['--mysql-listen', `127.0.0.1:${A.mysql}`, '--http-listen', `127.0.0.1:${A.http}`, '--coordinator-id', 'A'] });
  A.address = c.address;
  usersFile = String(c.coordinator.proc.spawnargs[c.coordinator.proc.spawnargs.indexOf('--users') + 1]);
  [B, C] = await Promise.all([startCoordinator('B', await freePort(), await freePort()), startCoordinator('C', await freePort(), await freePort())]);
  await c.sim('n1', ['--queries', '1', '--user', 'etl', '--ignore-cancel', '--query-id-prefix', 'xstuck-'], 1);
});
after(async () => {
  await Promise.allSettled(kept.map((x) => x.end()));
  await Promise.allSettled([B?.child?.stop('SIGTERM', 3_000), C?.child?.stop('SIGTERM', 3_000)]);
  await c?.stop();
});

function connect(on: Coordinator, user = 'admin', password = 'adminpw'): Promise<mysql.Connection> {
  return mysql.createConnection({ host: '127.0.0.1', port: on.mysql, user, password, ssl: { ca: readFileSync(c.pki.ca) } });
}

/** A connection kept for the rest of the file. */
async function connectOnce(on: Coordinator): Promise<mysql.Connection> {
  const conn = await connect(on);
  kept.push(conn);
  return conn;
}

/** The stock `mariadb` client on a coordinator's MySQL door, TLS verified against the test CA. */
function mariadb(on: Coordinator, sql: string): Child {
  return spawnChild('mariadb', ['-h127.0.0.1', `-P${on.mysql}`, `--ssl-ca=${c.pki.ca}`, '-uadmin', '-padminpw', '-e', sql]);
}

/** One statement on a coordinator's HTTP door with curl (POST), as `user`. */
function http(on: Coordinator, sql: string, params = '', user = 'admin:adminpw'): Promise<Reply> {
  return curl(c.pki.ca, [`https://127.0.0.1:${on.http}/?${params}`, '--user', user, '--data-binary', sql]);
}

/** The coordinator's server id in A's view, once its record names one (a record says 0 until its server id is held). */
async function serverIdOf(id: string): Promise<number> {
  const rows = await c.waitForRows('SELECT id, server_id FROM system.coordinators', (r) => r.some((x) => x.id === id && Number(x.server_id) > 0), 15_000);
  return Number(rows.find((r) => r.id === id)?.server_id);
}

/** The rows of a JSONEachRow reply. */
function jsonRows(reply: Reply): Record<string, unknown>[] {
  return reply.body
    .trim()
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

type ProcessRow = { Id: number; User: string; Command: string; Info: string | null };

async function processlist(on: mysql.Connection): Promise<ProcessRow[]> {
  const [rows] = await on.query('SHOW FULL PROCESSLIST');
  return rows as ProcessRow[];
}

/** The harness's wait, with the thing waited for first and its name after (as this file reads). */
const found = <T>(find: () => Promise<T | undefined>, what: string): Promise<T> => until(what, find);

test('SHOW [FULL] PROCESSLIST on each coordinator lists the door sessions of all three; without PROCESS only your own; system.sessions names their coordinators', async () => {
  const admins = await Promise.all([connect(A), connect(B), connect(C)]);
  const bobs = await Promise.all([connect(A, 'bob', 'bobpw'), connect(B, 'bob', 'bobpw'), connect(C, 'bob', 'bobpw')]);
  try {
    const all = [...admins, ...bobs].map((s) => s.threadId);
    for (const [i, on] of admins.entries()) {
      const rows = await processlist(on);
      for (const id of all) assert.ok(rows.some((r) => r.Id === id), `${['A', 'B', 'C'][i]} lists session ${id}`);
      const self = rows.find((r) => r.Id === on.threadId);
      assert.deepEqual([self?.User, self?.Command, self?.Info], ['admin', 'Query', 'SHOW FULL PROCESSLIST']);
      const idle = rows.find((r) => r.Id === bobs[2]?.threadId);
      assert.deepEqual([idle?.User, idle?.Command, idle?.Info], ['bob', 'Sleep', null]);
    }
    // what asking the other two costs a SHOW FULL PROCESSLIST (measured, not asserted)
    const times: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t = performance.now();
      await processlist(admins[0] as mysql.Connection);
      times.push(performance.now() - t);
    }
    times.sort((x, y) => x - y);
    console.log(`# SHOW FULL PROCESSLIST on A, three coordinators and one agent: p50 ${times[10]?.toFixed(1)} ms, max ${times[19]?.toFixed(1)} ms`);
    for (const on of bobs) {
      const [mine] = await on.query('SHOW PROCESSLIST');
      const expected = bobs.map((s) => s.threadId).sort((x, y) => x - y);
      assert.deepEqual((mine as ProcessRow[]).map((r) => [r.Id, r.User]), expected.map((id) => [id, 'bob']), 'bob sees his own three, wherever they are, by Id');
    }
    const reply = await http(C, "SELECT coordinator_id, connection_id, door, user, command FROM system.sessions WHERE user = 'bob' OR door = 'http' ORDER BY coordinator_id, connection_id FORMAT TSV");
    assert.equal(reply.status, 200, reply.body);
    assert.deepEqual(reply.body.trim().split('\n'), [
      `A\t${bobs[0]?.threadId}\tmysql\tbob\tSleep`,
      `B\t${bobs[1]?.threadId}\tmysql\tbob\tSleep`,
      // the statement reading the table is an HTTP door statement of C
      'C\t0\thttp\tadmin\tQuery',
      `C\t${bobs[2]?.threadId}\tmysql\tbob\tSleep`,
    ]);
    const bobView = await http(A, 'SELECT coordinator_id, user FROM system.sessions ORDER BY coordinator_id FORMAT TSV', '', 'bob:bobpw');
    assert.equal(bobView.body, 'A\tbob\nA\tbob\nB\tbob\nC\tbob\n', 'bob sees only his sessions and his own HTTP statement');
  } finally {
    await Promise.allSettled([...admins, ...bobs].map((s) => s.end()));
  }
});

test('the mariadb client on B, mysql2 on A: KILL QUERY from A interrupts B\'s statement within a second with 1317 and the reason; KILL closes the session', async () => {
  const killer = await connect(A);
  const cli = mariadb(B, LONG);
  try {
    const id = await found(async () => (await processlist(killer)).find((r) => r.Info === LONG)?.Id, "the mariadb client's statement on B");
    assert.deepEqual(idOwner(id), { kind: 'coordinator', serverId: await serverIdOf('B') });
    await killer.query("SET kill_reason = 'runaway on B'");
    const sent = Date.now();
    const [ok] = await killer.query(`KILL QUERY ${id}`);
    assert.equal((ok as mysql.ResultSetHeader).affectedRows, 0);
    assert.equal(await cli.exited, 1);
    const took = Date.now() - sent;
    assert.match(cli.stderr(), /^ERROR 1317 \(70100\) at line 1: Query execution was interrupted: runaway on B$/m);
    assert.ok(took < 1_000, `interrupted after ${took} ms`);
    console.log(`# KILL QUERY on A of a mariadb session on B: the client exited ${took} ms after the KILL was sent`);
  } finally {
    cli.proc.kill('SIGKILL');
  }

  const second = mariadb(B, LONG);
  try {
    const id = await found(async () => (await processlist(killer)).find((r) => r.Info === LONG)?.Id, 'the second statement on B');
    await killer.query(`KILL ${id}`);
    assert.equal(await second.exited, 1);
    assert.match(second.stderr(), /^ERROR 1927 \(70100\) at line 1: Connection was killed: runaway on B$/m);
    assert.ok(!(await processlist(killer)).some((r) => r.Id === id), 'the session is gone from every list');
  } finally {
    second.proc.kill('SIGKILL');
    await killer.end();
  }

  // the other way: the mariadb client on C ends a mysql2 statement on A
  const victim = await connect(A);
  try {
    const running = victim.query(LONG);
    const failed = assert.rejects(running, (e: { errno?: number; message?: string }) => e.errno === 1317 && e.message === 'Query execution was interrupted');
    const onC = await connectOnce(C);
    await found(async () => ((await processlist(onC)).some((r) => r.Id === victim.threadId && r.Command === 'Query') ? true : undefined), 'the statement on A, seen from C');
    const cli2 = mariadb(C, `KILL QUERY ${victim.threadId}`);
    assert.equal(await cli2.exited, 0, cli2.stderr());
    await failed;
    assert.deepEqual((await victim.query('SELECT 1 AS x'))[0], [{ x: 1 }], 'KILL QUERY leaves the session');
  } finally {
    await victim.end();
  }
});

test("KILL QUERY WHERE query_id = … reaches a statement on B's HTTP door from A's HTTP door and C's MySQL door: 394 with the reason; another user's needs the grant", async () => {
  const running = http(B, LONG, 'query_id=http-long-1');
  await found(async () => ((await http(A, "SELECT coordinator_id, door FROM system.sessions WHERE query_id = 'http-long-1' FORMAT TSV")).body === 'B\thttp\n' ? true : undefined), "B's HTTP statement in system.sessions on A");
  const denied = await http(A, "KILL QUERY WHERE query_id = 'http-long-1'", '', 'bob:bobpw');
  assert.equal(denied.headers['x-clickhouse-exception-code'], '497');
  assert.match(denied.body, /^Code: 497\. DB::Exception: User bob attempts to kill query created by admin\./);
  // TEST lists it and sends nothing: it is still running afterwards
  const listed = await http(C, "KILL QUERY WHERE query_id = 'http-long-1' TEST FORMAT JSONEachRow");
  assert.deepEqual(jsonRows(listed).map((r) => [r.kill_status, r.query_id, r.node_id]), [['unknown_status', 'http-long-1', 'B']]);
  assert.equal((await http(A, "SELECT door FROM system.sessions WHERE query_id = 'http-long-1' FORMAT TSV")).body, 'http\n');
  const killed = await http(A, "KILL QUERY WHERE query_id = 'http-long-1' SETTINGS kill_reason = 'cleanup' FORMAT JSONEachRow");
  assert.equal(killed.status, 200, killed.body);
  const [host, port] = B.address.split(':');
  assert.deepEqual(jsonRows(killed), [{ kill_status: 'waiting', query_id: 'http-long-1', user: 'admin', query: LONG, host, port: Number(port), node_id: 'B', error: '' }]);
  const victim = await running;
  assert.equal(victim.headers['x-clickhouse-exception-code'], '394');
  assert.match(victim.body, /^Code: 394\. DB::Exception: Query was cancelled: cleanup\. \(QUERY_WAS_CANCELLED\)/);

  // a query_id B made itself carries B's server id: C finds it in system.sessions and kills it (SYNC: finished)
  const second = http(B, LONG);
  const onC = await connectOnce(C);
  const queryId = await found(async () => {
    const [rows] = await onC.query("SELECT query_id FROM system.sessions WHERE coordinator_id = 'B' AND door = 'http'");
    return (rows as { query_id: string }[])[0]?.query_id;
  }, "B's second HTTP statement, seen from C");
  assert.equal(queryIdServerId(queryId), await serverIdOf('B'));
  const [rows] = await onC.query(`KILL QUERY WHERE query_id = '${queryId}' SYNC`);
  assert.deepEqual((rows as Record<string, unknown>[]).map((r) => [r.kill_status, r.query_id, r.node_id]), [['finished', queryId, 'B']]);
  const cancelled = await second;
  assert.equal(cancelled.headers['x-clickhouse-exception-code'], '394');
  assert.equal(cancelled.headers['x-clickhouse-query-id'], queryId);
  assert.match(cancelled.body, /^Code: 394\. DB::Exception: Query was cancelled\. \(QUERY_WAS_CANCELLED\)/);

  // a statement of A's gRPC door (QuellClient), killed from B's MySQL door with that session's reason
  const grpcRun = c.client('admin', 'adminpw').query(LONG, { statementId: 'grpc-long-1' });
  const rejected = assert.rejects(grpcRun, (e: unknown) => e instanceof QuellError && e.code === 394 && e.message === 'Query was cancelled: from B');
  const onB = await connectOnce(B);
  await found(async () => {
    const [rows] = await onB.query("SELECT coordinator_id, door FROM system.sessions WHERE query_id = 'grpc-long-1'");
    const r = (rows as { coordinator_id: string; door: string }[])[0];
    return r?.coordinator_id === 'A' && r.door === 'grpc' ? true : undefined;
  }, "A's gRPC statement, seen from B");
  await onB.query("SET kill_reason = 'from B'");
  const [grpcRows] = await onB.query("KILL QUERY WHERE query_id = 'grpc-long-1'");
  assert.deepEqual((grpcRows as Record<string, unknown>[]).map((r) => [r.kill_status, r.query_id, r.user, r.node_id]), [['waiting', 'grpc-long-1', 'admin', 'A']]);
  await rejected;
});

test("a client-named query_id in another coordinator's form (c<server id>-<uuid>) is refused, where a KILL by it would miss the statement; the coordinator's own form is taken", async () => {
  const [a, b] = [await serverIdOf('A'), await serverIdOf('B')];
  const uuid = randomUUID();
  const refused = await http(A, 'SELECT 1', `query_id=c${b}-${uuid}`);
  assert.equal(refused.headers['x-clickhouse-exception-code'], '36', refused.body);
  assert.match(refused.body, new RegExp(`^Code: 36\\. DB::Exception: query_id 'c${b}-${uuid}' has the form of the query_ids that the coordinator with server id ${b} makes`));
  await assert.rejects(c.client('admin', 'adminpw').query('SELECT 1', { statementId: `c${b}-${uuid}` }), (e: unknown) => e instanceof QuellError && e.code === 36 && e.message.includes('a KILL by it would miss this statement'));
  // A's own form: a KILL by it asks A, so A takes it
  const own = await http(A, 'SELECT 1', `query_id=c${a}-${uuid}`);
  assert.equal(own.status, 200, own.body);
  assert.equal(own.headers['x-clickhouse-query-id'], `c${a}-${uuid}`);
});

test('S stopped (SIGSTOP): KILL of its session fails with one line naming it; SHOW PROCESSLIST warns that it is missing; a kill by query_id lists it node_timeout', async () => {
  const onA = await connectOnce(A);
  // a lease longer than the stops: S stays registered while it cannot answer
  const S = await startCoordinator('S', await freePort(), await freePort(), undefined, ['--lease-ttl', '30']);
  const victim = await connect(S);
  const stop = async (step: () => Promise<void>): Promise<void> => {
    S.child?.proc.kill('SIGSTOP');
    try {
      await step();
    } finally {
      S.child?.proc.kill('SIGCONT');
    }
  };
  try {
    await stop(async () => {
      const sent = Date.now();
      await assert.rejects(onA.query(`KILL ${victim.threadId}`), (e: { errno?: number; message?: string }) =>
        e.errno === 1105 && !(e.message ?? '').includes('\n') && (e.message ?? '').startsWith(`KILL got no answer in time from coordinator 'S' at ${S.address}, which owns session ${victim.threadId}: `));
      assert.ok(Date.now() - sent < 7_000, `failed after ${Date.now() - sent} ms`);
    });
    await stop(async () => {
      const sent = Date.now();
      const rows = await processlist(onA);
      const took = Date.now() - sent;
      assert.ok(took < 4_000, `SHOW PROCESSLIST took ${took} ms`);
      assert.ok(rows.some((r) => r.Id === onA.threadId) && !rows.some((r) => r.Id === victim.threadId), 'A lists its own, not the stopped one');
      const [warnings] = await onA.query('SHOW WARNINGS');
      assert.ok((warnings as { Message: string }[]).some((w) => w.Message.startsWith(`no sessions from coordinator 'S' at ${S.address} (`)), JSON.stringify(warnings));
      console.log(`# SHOW FULL PROCESSLIST with one coordinator stopped: ${took} ms`);
    });
    await stop(async () => {
      const reply = await http(B, "KILL QUERY WHERE query_id = 'nobody-runs-this' FORMAT JSONEachRow");
      assert.equal(reply.status, 200, reply.body);
      const [host, port] = S.address.split(':');
      const rows = jsonRows(reply);
      assert.deepEqual(rows.map((r) => [r.kill_status, r.query_id, r.host, r.port, r.node_id]), [['node_timeout', '', host, Number(port), 'S']]);
      const error = String(rows[0]?.error);
      assert.ok(error.startsWith(`KILL got no answer in time from coordinator 'S' at ${S.address}: `) && !error.includes('\n'), error);
      // throw mode counts the coordinators as it counts nodes: of the 5 hosts (c3's one node; A,
      // B, C and S), S did not answer, and the statement fails naming it
      const thrown = await http(B, "KILL QUERY WHERE query_id = 'nobody-runs-this' SETTINGS distributed_ddl_output_mode = 'throw'");
      assert.match(thrown.body, /^Code: 159\. DB::Exception: KILL QUERY is not finished on 1 of 5 hosts: S \(node_timeout\)\. \(TIMEOUT_EXCEEDED\)/, thrown.body);
    });
    // S serves again: the victim is still there (the first KILL, which A reported failed, reached S
    // after SIGCONT past its act_by_unix_ms and was refused), and killable from A
    await onA.query(`KILL ${victim.threadId}`);
    await assert.rejects(victim.query('SELECT 1'));
  } finally {
    victim.destroy();
    S.child?.proc.kill('SIGCONT');
    await S.child?.stop('SIGTERM', 3_000);
  }
});

test('a forged coordinator record: its address is called only with the coordinator identity required, so an agent there fails the KILL with one line naming it', async () => {
  const etcd = connectEtcd({ endpoints: [c.etcd.url] });
  const agent = c.agent('n1').address;
  const forged = { id: 'F', address: agent, mysql_address: '', http_address: '', version: '0', started_at: new Date().toISOString(), pid: 1, instance: 'x', server_id: 4000, statements_running: 0 };
  const onA = await connectOnce(A);
  try {
    await etcd.put(coordinatorKey('F')).value(JSON.stringify(forged));
    await c.waitForRows('SELECT id FROM system.coordinators', (rows) => rows.some((r) => r.id === 'F'), 10_000);
    const id = makeSessionId(4000, 0, 1);
    await assert.rejects(onA.query(`KILL ${id}`), (e: { errno?: number; message?: string }) =>
      e.errno === 1105 && !(e.message ?? '').includes('\n') && (e.message ?? '').startsWith(`KILL failed on coordinator 'F' at ${agent}, which owns session ${id}: identity mismatch: expected spiffe://quell/coordinator, `));
    const rows = await processlist(onA);
    assert.ok(rows.some((r) => r.Id === onA.threadId), 'the other coordinators are still listed');
    const [warnings] = await onA.query('SHOW WARNINGS');
    assert.ok((warnings as { Message: string }[]).some((w) => w.Message.startsWith(`no sessions from coordinator 'F' at ${agent} (`)), JSON.stringify(warnings));
  } finally {
    await etcd.delete().key(coordinatorKey('F'));
    etcd.close();
  }
  // the agent is unharmed: the stuck process it serves is still there
  assert.ok(records(await c.query("SELECT query_id FROM system.processes WHERE query_id LIKE 'xstuck-%'")).length === 1);
});

test('C killed (SIGKILL): KILL of its session is 1094 naming it, a kill of its query_id a node_inactive row naming it; restarted with the same id, its new session ids are not the old ones', async () => {
  const onA = await connectOnce(A);
  const old = await Promise.all([connect(C), connect(C), connect(C)]);
  const oldIds = old.map((s) => s.threadId);
  const serverId = await serverIdOf('C');
  // an HTTP statement C named itself: its query_id carries C's server id
  const running = http(C, LONG).catch(() => undefined);
  const queryId = await found(async () => {
    const [rows] = await onA.query("SELECT query_id FROM system.sessions WHERE coordinator_id = 'C' AND door = 'http'");
    return (rows as { query_id: string }[])[0]?.query_id;
  }, "C's HTTP statement, seen from A");
  C.child?.proc.kill('SIGKILL');
  await C.child?.exited;
  for (const s of old) s.destroy();
  await c.waitForRows('SELECT id FROM system.coordinators', (rows) => !rows.some((r) => r.id === 'C'), 10_000);
  const gone = oldIds[0] as number;
  await assert.rejects(onA.query(`KILL QUERY ${gone}`), (e: { errno?: number; message?: string }) =>
    e.errno === 1094 && e.message === `Unknown thread id: ${gone}: it is a session of coordinator 'C' (server id ${serverId}, at ${C.address}), which has left (no registry record)`);
  await running;
  const [killRows] = await onA.query(`KILL QUERY WHERE query_id = '${queryId}'`);
  const [host, cPort] = C.address.split(':');
  assert.deepEqual(killRows, [{
    kill_status: 'node_inactive', query_id: '', user: '', query: '', host, port: Number(cPort), node_id: 'C',
    error: `coordinator 'C' (server id ${serverId}), which made the query_id, is not live (no registry record): its statements ended with it`,
  }]);

  const port = Number(C.address.split(':')[1]);
  C = await startCoordinator('C', C.mysql, C.http, port);
  const fresh = await Promise.all([connect(C), connect(C), connect(C)]);
  try {
    const freshIds = fresh.map((s) => s.threadId);
    assert.ok(freshIds.every((id) => !oldIds.includes(id)), `old ${oldIds.join(',')} / new ${freshIds.join(',')}`);
    for (const id of freshIds) assert.deepEqual(idOwner(id), { kind: 'coordinator', serverId: await serverIdOf('C') });
    // an old id reaches the new C (or names the one that left), never one of the new sessions
    await assert.rejects(onA.query(`KILL ${gone}`), (e: { errno?: number }) => e.errno === 1094);
    for (const s of fresh) assert.deepEqual((await s.query('SELECT 1 AS x'))[0], [{ x: 1 }]);
  } finally {
    await Promise.allSettled(fresh.map((s) => s.end()));
  }
});

test('a stopped coordinator replaced under its id: the new one never hands out the old sessions\' ids, and the old one exits once it resumes', async () => {
  const onA = await connectOnce(A);
  const D = await startCoordinator('D', await freePort(), await freePort());
  const old = await Promise.all([connect(D), connect(D)]);
  const oldIds = old.map((s) => s.threadId);
  D.child?.proc.kill('SIGSTOP');
  try {
    // its lease runs out while it is stopped: its id is free for another process
    await c.waitForRows('SELECT id FROM system.coordinators', (rows) => !rows.some((r) => r.id === 'D'), 15_000);
    const D2 = await startCoordinator('D', await freePort(), await freePort());
    try {
      const fresh = await Promise.all([connect(D2), connect(D2), connect(D2)]);
      const freshIds = fresh.map((s) => s.threadId);
      assert.ok(freshIds.every((id) => !oldIds.includes(id)), `old ${oldIds.join(',')} / new ${freshIds.join(',')}`);
      // a KILL of an old id reaches no new session: the new holder does not know it
      await assert.rejects(onA.query(`KILL ${oldIds[0]}`), (e: { errno?: number }) => e.errno === 1094);
      D.child?.proc.kill('SIGCONT');
      // the old process finds its id taken when it re-registers: it stops, and its sessions with it
      assert.notEqual(await D.child?.exited, 0);
      assert.match(D.child?.stderr() ?? '', /coordinator id taken by another coordinator while this one was not live; stopping/);
      for (const s of old) await assert.rejects(s.query('SELECT 1'));
      for (const s of fresh) assert.deepEqual((await s.query('SELECT 1 AS x'))[0], [{ x: 1 }]);
      assert.deepEqual(records(await c.query("SELECT address FROM system.coordinators WHERE id = 'D'")).map((r) => r.address), [D2.address]);
      await Promise.allSettled(fresh.map((s) => s.end()));
    } finally {
      await D2.child?.stop('SIGTERM', 3_000);
    }
  } finally {
    D.child?.proc.kill('SIGCONT');
    D.child?.proc.kill('SIGKILL');
    for (const s of old) s.destroy();
  }
});
