import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { TLSSocket } from 'node:tls';
import mysql from 'mysql2/promise';
import { freePort, spawnChild, type Child } from '../../common/daemon/child-processes';
import { TestCluster, eventsOf, sleep } from './harness';

// Issue 12, item 1: the MySQL protocol door (--mysql-listen) against a real cluster, driven by
// the stock `mariadb` client and by mysql2, over TLS (the protocol's SSL upgrade).
const doubleSha1 = (pw: string): string => createHash('sha1').update(createHash('sha1').update(pw).digest()).digest('hex');
const USERS = `
users:
  default: { grants: [ALL] }
  admin: { password: adminpw, grants: [ALL] }
  etl: { password: etlpw }
  bob: { password_double_sha1_hex: "${doubleSha1('bobpw')}" }
  carol: { password_sha256_hex: "${createHash('sha256').update('carolpw').digest('hex')}" }
  alice: { password: alicepw }
`;

let c: TestCluster;
let port: number;
before(async () => {
  port = await freePort();
  c = await TestCluster.start({ cluster: 'c3', nodes: 3, users: USERS, coordinatorArgs: ['--mysql-listen', `127.0.0.1:${port}`] });
});
after(async () => {
  await c?.stop();
});

/** The stock client, TLS verified against the test CA; resolves when it exits. */
async function mariadbCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawnChild('mariadb', ['-h127.0.0.1', `-P${port}`, `--ssl-ca=${c.pki.ca}`, ...args]);
  const code = await child.exited;
  return { code, stdout: child.stdout(), stderr: child.stderr() };
}

function connect(user: string, password: string, extra: Partial<mysql.ConnectionOptions> = {}): Promise<mysql.Connection> {
  return mysql.createConnection({ host: '127.0.0.1', port, user, password, ssl: { ca: readFileSync(c.pki.ca) }, ...extra });
}

const connectionSims = (node: string, user: string, n: number, extra: string[] = []): Promise<Child> =>
  c.sim(node, ['--connections', String(n), '--user', user, '--host', 'localhost', '--db', 'shop', ...extra], n);

test('mariadb client: MariaDB errors on stderr with its exit code; a wrong password is 1045', async () => {
  const unknown = await mariadbCli(['-uadmin', '-padminpw', '-e', 'KILL 9999']);
  assert.equal(unknown.code, 1);
  // the client adds "at line 1" in batch mode, as it does against MariaDB itself
  assert.match(unknown.stderr, /^ERROR 1094 \(HY000\) at line 1: Unknown thread id: 9999$/m);

  for (const [user, pw] of [['etl', 'nope'], ['nobody', 'x'], ['carol', 'carolpw']] as const) {
    const denied = await mariadbCli([`-u${user}`, `-p${pw}`, '-e', 'SELECT 1']);
    assert.equal(denied.code, 1, user);
    // carol has only a sha256 hash: mysql_native_password cannot check it (docs/front-doors.md §Connection phase)
    assert.equal(denied.stderr.trim(), `ERROR 1045 (28000): Access denied for user '${user}'@'127.0.0.1' (using password: YES)`);
  }
  const ok = await mariadbCli(['-ubob', '-pbobpw', '-N', '-e', 'SELECT 1']);
  assert.deepEqual([ok.code, ok.stdout.trim()], [0, '1'], ok.stderr);
});

test('mariadb client: connect-time chatter, USE and COM_INIT_DB, SHOW DATABASES/TABLES, SET NAMES, ping', async () => {
  const r = await mariadbCli([
    '-uadmin', '-padminpw', '-D', 'information_schema', '-e',
    "select @@version_comment limit 1; SELECT DATABASE(); SET NAMES utf8mb4; use system; SELECT DATABASE(); SHOW DATABASES; SHOW TABLES; USE information_schema; SHOW TABLES; SELECT CONNECTION_ID() AS id",
  ]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.deepEqual(lines.slice(0, 6), ['@@version_comment', 'quell: KILL across a cluster', 'DATABASE()', 'information_schema', 'DATABASE()', 'system']);
  assert.deepEqual(lines.slice(6, 9), ['Database', 'information_schema', 'system']);
  assert.ok(lines.includes('Tables_in_system') && lines.includes('processes') && lines.includes('clusters'));
  assert.ok(lines.includes('Tables_in_information_schema') && lines.includes('PROCESSLIST'));
  assert.equal(lines.at(-2), 'id');
  assert.match(lines.at(-1) ?? '', /^[1-9]\d*$/);
  const noDb = await mariadbCli(['-uadmin', '-padminpw', '-e', 'SHOW TABLES']);
  assert.match(noDb.stderr, /^ERROR 1046 \(3D000\) at line 1: No database selected$/m);
  const badDb = await mariadbCli(['-uadmin', '-padminpw', '-D', 'nope', '-e', 'SELECT 1']);
  assert.equal(badDb.stderr.trim(), "ERROR 1049 (42000): Unknown database 'nope'");

  const ping = spawnChild('mariadb-admin', ['-h127.0.0.1', `-P${port}`, `--ssl-ca=${c.pki.ca}`, '-uadmin', '-padminpw', 'ping']);
  assert.equal(await ping.exited, 0, ping.stderr());
  assert.match(ping.stdout(), /mysqld is alive/);
});

test('TLS: the session is encrypted (mysql2 sees a TLSSocket, Ssl_cipher is set); a client that skips TLS is refused', async () => {
  const conn = await connect('admin', 'adminpw');
  try {
    // the promise wrapper's underlying connection holds the socket mysql2 talks over
    const stream = (conn as unknown as { connection: { stream: unknown } }).connection.stream;
    assert.ok(stream instanceof TLSSocket && stream.encrypted);
    const [rows] = await conn.query("SHOW STATUS LIKE 'Ssl_cipher'");
    assert.match(String((rows as { Value: string }[])[0]?.Value), /^TLS_/);
    await conn.ping();
  } finally {
    await conn.end();
  }
  const cli = await mariadbCli(['-uadmin', '-padminpw', '-N', '-e', "SHOW STATUS LIKE 'Ssl_version'"]);
  assert.match(cli.stdout, /^Ssl_version\tTLSv1\.[23]$/m);
  const plain = spawnChild('mariadb', ['-h127.0.0.1', `-P${port}`, '--skip-ssl', '-uadmin', '-padminpw', '-e', 'SELECT 1']);
  assert.equal(await plain.exited, 1);
  assert.match(plain.stderr(), /^ERROR 1045 \(28000\): Access denied for user 'admin'@'127\.0\.0\.1' \(using password: YES\): this server requires TLS/);
});

test('a user/<name> client certificate logs in without a password, as that user only', async () => {
  const cert = path.join(c.pki.dir, 'user-alice.pem');
  const key = path.join(c.pki.dir, 'user-alice-key.pem');
  const r = await mariadbCli([`--ssl-cert=${cert}`, `--ssl-key=${key}`, '-ualice', '-N', '-e', 'SELECT CURRENT_USER()']);
  assert.deepEqual([r.code, r.stdout.trim()], [0, 'alice@%'], r.stderr);
  const other = await mariadbCli([`--ssl-cert=${cert}`, `--ssl-key=${key}`, '-uetl', '-e', 'SELECT 1']);
  assert.equal(other.stderr.trim(), "ERROR 1045 (28000): Access denied for user 'etl'@'127.0.0.1' (using password: NO)");
});

test('KILL USER: Query OK with the count (mariadb -v and mysql2 affectedRows); SHOW PROCESSLIST has MariaDB columns', async () => {
  const sims = await Promise.all(['n1', 'n2', 'n3'].map((n) => connectionSims(n, 'etl', 1)));
  const list = await mariadbCli(['-uadmin', '-padminpw', '-t', '-e', 'SHOW PROCESSLIST']);
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, /^\| Id +\| User +\| Host +\| db +\| Command +\| Time +\| State +\| Info +\| Progress \|$/m);
  assert.equal(list.stdout.split('\n').filter((l) => /^\| +\d+ \| etl /.test(l)).length, 3);

  const conn = await connect('admin', 'adminpw');
  try {
    const [rows, fields] = await conn.query('SHOW FULL PROCESSLIST');
    assert.deepEqual(fields.map((f) => f.name), ['Id', 'User', 'Host', 'db', 'Command', 'Time', 'State', 'Info', 'Progress']);
    assert.equal((rows as { User: string }[]).filter((r) => r.User === 'etl').length, 3);
  } finally {
    await conn.end();
  }

  const killed = await mariadbCli(['-uadmin', '-padminpw', '-vvv', '-e', 'KILL USER etl']);
  assert.equal(killed.code, 0, killed.stderr);
  assert.match(killed.stdout, /^Query OK, 3 rows affected \(\d+\.\d{3} sec\)$/m);
  for (const s of sims) assert.equal(await s.exited, 0);

  await Promise.all(['n1', 'n2'].map((n) => connectionSims(n, 'etl', 1)));
  const again = await connect('admin', 'adminpw');
  try {
    const [res] = await again.query('KILL USER etl');
    assert.equal((res as mysql.ResultSetHeader).affectedRows, 2);
    const [none] = await again.query('KILL USER nobody_here');
    assert.equal((none as mysql.ResultSetHeader).affectedRows, 0);
  } finally {
    await again.end();
  }
  await c.stopSims();
});

test('ClickHouse-form statements over the same door: result columns, ClickHouse errors', async () => {
  await c.sim('n2', ['--queries', '2', '--user', 'etl', '--query-id-prefix', 'ch-'], 2);
  const conn = await connect('admin', 'adminpw');
  try {
    const [rows, fields] = await conn.query("KILL QUERY WHERE query_id LIKE 'ch-%' TEST");
    assert.deepEqual(fields.map((f) => f.name), ['kill_status', 'query_id', 'user', 'query', 'host', 'port', 'node_id', 'error']);
    assert.deepEqual((rows as { kill_status: string; node_id: string }[]).map((r) => [r.kill_status, r.node_id]), [['unknown_status', 'n2'], ['unknown_status', 'n2']]);
    const [sel] = await conn.query("SELECT query_id, elapsed > 0 AS running FROM clusterAllReplicas('c3', system.processes) WHERE query_id LIKE 'ch-%' ORDER BY query_id");
    assert.deepEqual(sel, [{ query_id: 'ch-1', running: 1 }, { query_id: 'ch-2', running: 1 }]);
    await assert.rejects(conn.query('SELECT nope FROM system.one'), (e: { errno?: number; message?: string }) => e.errno === 47 && /^Code: 47\. UNKNOWN_IDENTIFIER: /.test(e.message ?? ''));
    const [w] = await conn.query('SHOW WARNINGS');
    assert.deepEqual((w as { Level: string; Code: number }[]).map((r) => [r.Level, r.Code]), [['Error', 47]]);
  } finally {
    await conn.end();
  }
  await c.stopSims();
});

test('SET kill_reason: the session\'s kills carry it to the victim and the kill log; a bad one is refused', async () => {
  const sim = await c.sim('n2', ['--queries', '1', '--user', 'etl', '--query-id-prefix', 'why-door-'], 1);
  const conn = await connect('admin', 'adminpw');
  try {
    await assert.rejects(conn.query("SET kill_reason = 'two\\nlines'"), (e: { errno?: number; message?: string }) => e.errno === 36 && !/\n/.test(e.message ?? ''));
    await conn.query("SET SESSION kill_reason = 'door reason'");
    await conn.query("KILL QUERY WHERE query_id LIKE 'why-door-%' SYNC");
    const [cancel] = eventsOf(sim, 'cancel');
    assert.equal(cancel?.reason, 'door reason');
    assert.equal(cancel?.killed_by, 'admin');
    const [rows] = await conn.query("SELECT reason FROM clusterAllReplicas('c3', system.kill_log) WHERE query_id LIKE 'why-door-%'");
    assert.ok((rows as { reason: string }[]).length > 0);
    assert.ok((rows as { reason: string }[]).every((r) => r.reason === 'door reason'), JSON.stringify(rows));
  } finally {
    await conn.end();
  }
  await c.stopSims();
});

test('KILL QUERY <connection id> from a second session cancels a long SYNC kill (mysql2 and the mariadb client Ctrl-C)', async () => {
  const stuck = await c.sim('n1', ['--queries', '1', '--user', 'etl', '--ignore-cancel', '--query-id-prefix', 'stuck-'], 1);
  const victim = await connect('admin', 'adminpw');
  const killer = await connect('admin', 'adminpw');
  try {
    const running = victim.query("KILL QUERY WHERE query_id LIKE 'stuck-%' SYNC SETTINGS sync_kill_timeout = 600");
    const failed = assert.rejects(running, (e: { errno?: number; sqlState?: string; message?: string }) => e.errno === 1317 && e.sqlState === '70100' && e.message === 'Query execution was interrupted');
    await stuck.waitFor((e) => e.event === 'cancel');
    const [res] = await killer.query(`KILL QUERY ${victim.threadId}`);
    assert.equal((res as mysql.ResultSetHeader).affectedRows, 0);
    await failed;
    // the session lives on; its diagnostics say what happened
    const [w] = await victim.query('SHOW WARNINGS');
    assert.deepEqual(w, [{ Level: 'Error', Code: 1317, Message: 'Query execution was interrupted' }]);
    const [one] = await victim.query('SELECT 1 AS x');
    assert.deepEqual(one, [{ x: 1 }]);
    // an idle session's KILL QUERY is dropped (MariaDB): the next statement runs
    await killer.query(`KILL QUERY ${victim.threadId}`);
    assert.deepEqual((await victim.query('SELECT 2 AS x'))[0], [{ x: 2 }]);
  } finally {
    await victim.end();
    await killer.end();
  }

  // the stock client: Ctrl-C opens a second connection and sends KILL QUERY <its connection id>
  const stuck2 = await c.sim('n3', ['--queries', '1', '--user', 'etl', '--ignore-cancel', '--query-id-prefix', 'stuck2-'], 1);
  const cli = spawnChild('mariadb', ['-h127.0.0.1', `-P${port}`, `--ssl-ca=${c.pki.ca}`, '-uadmin', '-padminpw', '-e', "KILL QUERY WHERE query_id LIKE 'stuck2-%' SYNC SETTINGS sync_kill_timeout = 600"]);
  await stuck2.waitFor((e) => e.event === 'cancel');
  assert.equal(eventsOf(stuck2, 'cancel').length, 1);
  cli.proc.kill('SIGINT');
  assert.equal(await cli.exited, 1);
  assert.match(cli.stdout() + cli.stderr(), /Ctrl-C -- query killed/);
  assert.match(cli.stderr(), /^ERROR 1317 \(70100\) at line 1: Query execution was interrupted$/m);
  await c.stopSims();
});

test("sessions: another user's session is not ours to kill (1095); KILL CONNECTION ends the session; killing yourself", async () => {
  const victim = await connect('admin', 'adminpw');
  const bob = await connect('bob', 'bobpw');
  const own = await connect('bob', 'bobpw');
  try {
    await assert.rejects(bob.query(`KILL QUERY ${victim.threadId}`), (e: { errno?: number; message?: string }) => e.errno === 1095 && e.message === `You are not owner of thread ${victim.threadId}`);
    await assert.rejects(bob.query(`KILL QUERY ${own.threadId + 1000}`), (e: { errno?: number }) => e.errno === 1094);
    // bob may end his own sessions
    await bob.query(`KILL CONNECTION ${own.threadId}`);
    await assert.rejects(own.query('SELECT 1'));
    await assert.rejects(bob.query(`KILL QUERY ${bob.threadId}`), (e: { errno?: number }) => e.errno === 1317);
    await assert.rejects(bob.query(`KILL ${bob.threadId}`), (e: { errno?: number }) => e.errno === 1927);
    const [alive] = await victim.query('SELECT 1 AS x');
    assert.deepEqual(alive, [{ x: 1 }]);
  } finally {
    await Promise.allSettled([victim.end(), bob.end(), own.end()]);
  }
});

/** Writes raw bytes to the door and collects what comes back until it closes. */
function raw(bytes: Buffer | undefined, closeAfterMs?: number): Promise<Buffer> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    const got: Buffer[] = [];
    s.on('data', (d: Buffer) => {
      got.push(d);
      if (bytes && got.length === 1) s.write(bytes);
      if (closeAfterMs !== undefined && got.length === 1) setTimeout(() => s.destroy(), closeAfterMs);
    });
    s.on('error', () => undefined);
    s.on('close', () => resolve(Buffer.concat(got)));
  });
}

test('bad input: garbage, an unfinished handshake and prepared statements get an error or a closed connection, and the door serves on', async () => {
  const http = await raw(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
  assert.match(http.toString('latin1'), /#08S01Got a packet bigger than 'max_allowed_packet' bytes$/);
  const noise = await raw(randomBytes(4096));
  assert.match(noise.toString('latin1'), /#08S01(Got a packet bigger than 'max_allowed_packet' bytes|Got packets out of order|Bad handshake)$/);
  // greeting read, then gone
  await raw(undefined, 0);
  const conn = await connect('admin', 'adminpw');
  try {
    await assert.rejects(conn.execute('SELECT ?', [1]), (e: { errno?: number }) => e.errno === 1295);
    const [rows] = await conn.query('SELECT 1 AS x');
    assert.deepEqual(rows, [{ x: 1 }]);
  } finally {
    await conn.end();
  }
});

test('SHOW WARNINGS lists what quell warned about: a member that could not answer', async () => {
  // a member of another cluster, so that the statements of the tests above see only c3
  const n4 = await c.addAgent('n4', 'side');
  await n4.child.stop('SIGTERM', 3_000);
  // the coordinator's view learns of the revoked lease from its etcd watch: wait for it (bounded)
  for (let i = 0; i < 100; i++) {
    const r = await c.query("SELECT node_id FROM system.clusters WHERE cluster = 'side' AND is_active = 1");
    if (r.rows.length === 0) break;
    await sleep(50);
  }
  const conn = await connect('admin', 'adminpw');
  try {
    const [rows] = await conn.query("SELECT query_id FROM clusterAllReplicas('side', system.processes)");
    assert.deepEqual(rows, []);
    const [w] = await conn.query('SHOW WARNINGS');
    assert.deepEqual((w as { Level: string; Message: string }[]).map((r) => [r.Level, r.Message]), [['Warning', 'no rows from n4 (node_inactive)']]);
  } finally {
    await conn.end();
  }
});

test('stopping the coordinator: a running SYNC kill finishes with its rows, an idle session is closed, the coordinator exits 0', async () => {
  const stubborn = await c.sim('n1', ['--queries', '1', '--user', 'etl', '--ignore-cancel', '--query-id-prefix', 'drain-'], 1);
  const busy = await connect('admin', 'adminpw');
  const idle = await connect('admin', 'adminpw');
  const idleClosed = new Promise<void>((resolve) => (idle as unknown as { connection: { stream: NodeJS.EventEmitter } }).connection.stream.once('close', () => resolve()));
  const running = busy.query("KILL QUERY WHERE query_id LIKE 'drain-%' SYNC SETTINGS sync_kill_timeout = 2");
  await stubborn.waitFor((e) => e.event === 'cancel');
  c.coordinator.proc.kill('SIGTERM');
  const [rows] = await running;
  assert.deepEqual((rows as { kill_status: string; query_id: string }[]).map((r) => [r.kill_status, r.query_id]), [['waiting', 'drain-1']]);
  await idleClosed;
  assert.equal(await c.coordinator.exited, 0);
  await Promise.allSettled([busy.end(), idle.end()]);
});
