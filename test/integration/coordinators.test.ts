import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import mysql from 'mysql2/promise';
import { freePort, spawnQuell, type Child } from '../../common/child-processes';
import { idOwner } from '../../common/thread-id';
import { connectEtcd } from '../../common/etcd';
import { coordinatorKey } from '../../common/etcd-layout';
import { TestCluster, records } from './harness';

// Issue 22: coordinators register in etcd (system.coordinators, one live coordinator per id),
// and the connection ids of their MySQL doors carry their server ids, so they never collide
// and KILL on one coordinator tells another's session from its own.
const USERS = `
users:
  default: { grants: [ALL] }
  admin: { password: adminpw, grants: [ALL] }
  bob: { password: bobpw }
`;

let c: TestCluster;
let portA: number;
let portB: number;
let b: Child;
let bAddress: string;
let usersFile = '';

function coordinatorArgs(id: string | undefined, grpcPort: number, mysqlPort: number): string[] {
  return [
    'coordinator', '--etcd', c.etcd.url, '--listen', `127.0.0.1:${grpcPort}`, '--default-cluster', 'cc', '--users', usersFile,
    ...c.pki.argv(c.pki.coordinator()), '--mysql-listen', `127.0.0.1:${mysqlPort}`, ...(id ? ['--coordinator-id', id] : []),
  ];
}

before(async () => {
  portA = await freePort();
  portB = await freePort();
  c = await TestCluster.start({ cluster: 'cc', nodes: 1, users: USERS, coordinatorArgs: ['--mysql-listen', `127.0.0.1:${portA}`, '--coordinator-id', 'A'] });
  // the harness wrote the users file next to its other files: B reads the same one
  usersFile = String(c.coordinator.proc.spawnargs[c.coordinator.proc.spawnargs.indexOf('--users') + 1]);
  b = spawnQuell(coordinatorArgs('B', await freePort(), portB));
  const ready = await b.waitFor((e) => e.event === 'ready');
  assert.equal(ready.coordinator_id, 'B');
  bAddress = String(ready.address);
});
after(async () => {
  await b?.stop('SIGTERM', 3_000);
  await c?.stop();
});

function connect(port: number, user = 'admin', password = 'adminpw'): Promise<mysql.Connection> {
  return mysql.createConnection({ host: '127.0.0.1', port, user, password, ssl: { ca: readFileSync(c.pki.ca) } });
}

async function coordinators(): Promise<Record<string, unknown>[]> {
  return records(await c.query('SELECT id, address, mysql_address, http_address, version, started, active, statements_running, server_id FROM system.coordinators'));
}

test('system.coordinators on A lists A and B with their doors; session ids on A and B never collide and name their coordinator', async () => {
  const rows = await coordinators();
  assert.deepEqual(rows.map((r) => [r.id, r.address, r.mysql_address, r.http_address, r.active]), [
    ['A', c.address, `127.0.0.1:${portA}`, '', 1],
    ['B', bAddress, `127.0.0.1:${portB}`, '', 1],
  ]);
  for (const r of rows) {
    assert.match(String(r.version), /^\d+\.\d+\.\d+/);
    assert.ok(Math.abs(Number(r.started) - Date.now() / 1000) < 120, 'started is a recent time');
  }
  // A counts the statement that reads the table (itself)
  assert.equal(rows[0]?.statements_running, 1);
  const serverIds = rows.map((r) => Number(r.server_id));
  assert.ok(serverIds.every((s) => s > 0) && serverIds[0] !== serverIds[1], `server ids ${serverIds.join(',')}`);

  const onA = await Promise.all([connect(portA), connect(portA), connect(portA)]);
  const onB = await Promise.all([connect(portB), connect(portB), connect(portB)]);
  try {
    const idsA = onA.map((x) => x.threadId);
    const idsB = onB.map((x) => x.threadId);
    assert.equal(new Set([...idsA, ...idsB]).size, 6, `ids ${idsA.join(',')} / ${idsB.join(',')}`);
    for (const id of idsA) assert.deepEqual(idOwner(id), { kind: 'coordinator', serverId: serverIds[0] });
    for (const id of idsB) assert.deepEqual(idOwner(id), { kind: 'coordinator', serverId: serverIds[1] });
    for (const id of [...idsA, ...idsB]) assert.ok(id < 2 ** 32, 'within MariaDB 32-bit thread ids');
    // CONNECTION_ID() is the handshake's id
    const [cid] = await onB[0]!.query('SELECT CONNECTION_ID() AS id');
    assert.deepEqual(cid, [{ id: idsB[0] }]);
  } finally {
    await Promise.allSettled([...onA, ...onB].map((x) => x.end()));
  }
});

test("KILL QUERY <a session of A> sent to B: 1094 naming coordinator A; A's own KILL still works", async () => {
  const victim = await connect(portA);
  const onB = await connect(portB);
  const onA = await connect(portA);
  try {
    await assert.rejects(
      onB.query(`KILL QUERY ${victim.threadId}`),
      (e: { errno?: number; message?: string }) =>
        e.errno === 1094 && e.message === `Unknown thread id: ${victim.threadId}: it is a session of coordinator 'A' at 127.0.0.1:${portA}; send the KILL there`,
    );
    await assert.rejects(onB.query(`KILL ${victim.threadId}`), (e: { errno?: number; message?: string }) => e.errno === 1094 && /coordinator 'A'/.test(e.message ?? ''));
    // the victim is untouched; on A the same id is a local session
    assert.deepEqual((await victim.query('SELECT 1 AS x'))[0], [{ x: 1 }]);
    await onA.query(`KILL CONNECTION ${victim.threadId}`);
    await assert.rejects(victim.query('SELECT 1'));
  } finally {
    await Promise.allSettled([victim.end(), onB.end(), onA.end()]);
  }
});

test('SHOW [FULL] PROCESSLIST lists the door sessions of this coordinator; without PROCESS only your own', async () => {
  const admin = await connect(portA);
  const bob = await connect(portA, 'bob', 'bobpw');
  const other = await connect(portB);
  try {
    type Row = { Id: number; User: string; Command: string; Info: string | null; Time: number };
    const [all] = await admin.query('SHOW FULL PROCESSLIST');
    const rows = all as Row[];
    const self = rows.find((r) => r.Id === admin.threadId);
    assert.deepEqual([self?.User, self?.Command, self?.Info], ['admin', 'Query', 'SHOW FULL PROCESSLIST']);
    const idle = rows.find((r) => r.Id === bob.threadId);
    assert.deepEqual([idle?.User, idle?.Command, idle?.Info], ['bob', 'Sleep', null]);
    assert.ok(!rows.some((r) => r.Id === other.threadId), "B's sessions are B's");
    const ids = rows.map((r) => r.Id);
    assert.deepEqual(ids, [...ids].sort((x, y) => x - y), 'ordered by Id');
    const [mine] = await bob.query('SHOW PROCESSLIST');
    assert.deepEqual((mine as Row[]).map((r) => [r.Id, r.User]), [[bob.threadId, 'bob']]);
  } finally {
    await Promise.allSettled([admin.end(), bob.end(), other.end()]);
  }
});

test('a second coordinator with a live coordinator id exits with one line naming it and the holder', async () => {
  const duplicate = spawnQuell(coordinatorArgs('B', await freePort(), await freePort()), { QUELL_LOG_LEVEL: 'silent' });
  assert.notEqual(await duplicate.exited, 0);
  assert.equal(
    duplicate.stderr(),
    `Code: 36. BAD_ARGUMENTS: coordinator id 'B' is already held by a live coordinator at ${bAddress} (pid ${b.proc.pid}); stop that coordinator or choose another --coordinator-id\n`,
  );
  assert.deepEqual((await coordinators()).map((r) => [r.id, r.address]), [['A', c.address], ['B', bAddress]]);
});

test('a coordinator whose lease is lost re-registers with the same server id: its open sessions keep their ids', async () => {
  const before = (await coordinators()).find((r) => r.id === 'A');
  const session = await connect(portA);
  const etcd = connectEtcd({ endpoints: [c.etcd.url] });
  try {
    const kv = (await etcd.get(coordinatorKey('A')).exec()).kvs[0];
    assert.ok(kv && kv.lease !== '0', 'A holds its key under a lease');
    await etcd.leaseClient.leaseRevoke({ ID: kv.lease });
    // A notices at its next keep-alive (a third of the TTL) and takes key and server id again
    await c.waitForRows('SELECT id, server_id, active FROM system.coordinators', (rows) => {
      const a = rows.find((r) => r.id === 'A');
      return a !== undefined && a.server_id === before?.server_id && a.active === 1;
    }, 10_000);
    const after = (await etcd.get(coordinatorKey('A')).exec()).kvs[0];
    assert.notEqual(after?.lease, kv.lease, 'under a new lease');
    assert.deepEqual(idOwner(session.threadId), { kind: 'coordinator', serverId: before?.server_id });
    const killer = await connect(portA);
    await killer.query(`KILL CONNECTION ${session.threadId}`);
    await killer.end();
    await assert.rejects(session.query('SELECT 1'));
  } finally {
    etcd.close();
    await session.end().catch(() => undefined);
  }
});

test('the default id is HOST-PORT; a clean stop leaves at once, a SIGKILL within the lease', async () => {
  const grpcPort = await freePort();
  const third = spawnQuell(coordinatorArgs(undefined, grpcPort, await freePort()));
  const ready = await third.waitFor((e) => e.event === 'ready');
  const id = `${hostname()}-${grpcPort}`;
  assert.equal(ready.coordinator_id, id);
  assert.ok((await coordinators()).some((r) => r.id === id));
  await third.stop('SIGTERM', 5_000);
  assert.equal(await third.exited, 0);
  await c.waitForRows('SELECT id FROM system.coordinators', (rows) => !rows.some((r) => r.id === id), 2_000);

  b.proc.kill('SIGKILL');
  await b.exited;
  const killedAt = Date.now();
  // the lease is 5 s (DEFAULT_LEASE_TTL_SECONDS): B is gone from A's view within it, plus the watch's delivery
  await c.waitForRows('SELECT id FROM system.coordinators', (rows) => rows.length === 1 && rows[0]?.id === 'A', 8_000);
  assert.ok(Date.now() - killedAt < 8_000);
});
