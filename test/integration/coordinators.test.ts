import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import mysql from 'mysql2/promise';
import { freePort, spawnQuell, type Child } from '../../common/daemon/child-processes';
import { idOwner } from '../../common/thread-id';
import { connectEtcd } from '../../common/etcd/client';
import { coordinatorKey } from '../../common/etcd/etcd-layout';
import { TestCluster, records } from './harness';
import * as grpc from '@grpc/grpc-js';
import { TransportSecurity } from '../../common/tls';
import { quellProto } from '../../proto/load';
import { CHANNEL_OPTIONS } from '../../common/grpc/channel-options';

// Issue 22: coordinators register in etcd (system.coordinators, one live coordinator per id),
// and the connection ids of their MySQL doors carry their server ids, so they never collide
// and KILL on one coordinator tells another's session from its own and forwards it to the owner.
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

test("KILL QUERY <a session of A> sent to B reaches A: the running statement ends with 1317 within a second, the session lives on", async () => {
  const stuck = await c.sim('n1', ['--queries', '1', '--user', 'etl', '--ignore-cancel', '--query-id-prefix', 'xstuck-'], 1);
  const victim = await connect(portA);
  const onB = await connect(portB);
  try {
    const running = victim.query("KILL QUERY WHERE query_id LIKE 'xstuck-%' SYNC SETTINGS sync_kill_timeout = 600");
    const failed = assert.rejects(running, (e: { errno?: number; sqlState?: string }) => e.errno === 1317 && e.sqlState === '70100');
    await stuck.waitFor((e) => e.event === 'cancel');
    const sent = Date.now();
    const [res] = await onB.query(`KILL QUERY ${victim.threadId}`);
    assert.equal((res as mysql.ResultSetHeader).affectedRows, 0);
    await failed;
    assert.ok(Date.now() - sent < 1_000, `interrupted after ${Date.now() - sent} ms`);
    assert.deepEqual((await victim.query('SELECT 1 AS x'))[0], [{ x: 1 }]);
  } finally {
    await Promise.allSettled([victim.end(), onB.end()]);
    await c.stopSims();
  }
});

test("KILL <a session of A> sent to B closes it on A, with the killer's rights (another user's session: 1095 without CONNECTION ADMIN)", async () => {
  const victim = await connect(portA);
  const bobOnB = await connect(portB, 'bob', 'bobpw');
  const onB = await connect(portB);
  try {
    await assert.rejects(bobOnB.query(`KILL ${victim.threadId}`), (e: { errno?: number; message?: string }) => e.errno === 1095 && e.message === `You are not owner of thread ${victim.threadId}`);
    assert.deepEqual((await victim.query('SELECT 1 AS x'))[0], [{ x: 1 }]);
    await onB.query(`KILL ${victim.threadId}`);
    await assert.rejects(victim.query('SELECT 1'));
    // gone now: A answers 1094 for it
    await assert.rejects(onB.query(`KILL ${victim.threadId}`), (e: { errno?: number }) => e.errno === 1094);
  } finally {
    await Promise.allSettled([victim.end(), bobOnB.end(), onB.end()]);
  }
});

test('KillSession, KillStatement and ListSessions are served to coordinators only: a workload or user certificate is refused', async () => {
  const victim = await connect(portA);
  try {
    for (const as of [c.pki.workload(), c.pki.user('admin')]) {
      const security = TransportSecurity.from(as);
      const stub = new (quellProto().coordinator.quell.v1.CoordinatorService)(c.address, security.channelCredentials(c.address, 'coordinator'), { ...CHANNEL_OPTIONS });
      try {
        const options = (): grpc.CallOptions => ({ deadline: Date.now() + 5_000 });
        const errors = await Promise.all([
          new Promise<grpc.ServiceError | null>((resolve) => stub.KillSession({ session_id: victim.threadId, query_only: false, user: 'admin', may_kill_others: true }, options(), (e: grpc.ServiceError | null) => resolve(e))),
          new Promise<grpc.ServiceError | null>((resolve) => stub.KillStatement({ query_ids: ['x'], user: 'admin', may_kill_others: true }, options(), (e: grpc.ServiceError | null) => resolve(e))),
          new Promise<grpc.ServiceError | null>((resolve) => stub.ListSessions({ user: 'admin', see_all: true }, options(), (e: grpc.ServiceError | null) => resolve(e))),
        ]);
        for (const err of errors) assert.ok(err && [grpc.status.PERMISSION_DENIED, grpc.status.UNAUTHENTICATED].includes(err.code), `refused: ${err?.code} ${err?.details}`);
      } finally {
        stub.close();
        security.close();
      }
    }
    assert.deepEqual((await victim.query('SELECT 1 AS x'))[0], [{ x: 1 }]);
  } finally {
    await victim.end();
  }
});

test('the owner stopped (SIGSTOP): KILL on B fails within the deadline with one line naming A', async () => {
  const victim = await connect(portA);
  const onB = await connect(portB);
  c.coordinator.proc.kill('SIGSTOP');
  try {
    const sent = Date.now();
    await assert.rejects(onB.query(`KILL ${victim.threadId}`), (e: { errno?: number; message?: string }) =>
      e.errno === 1105 && !(e.message ?? '').includes('\n') && (e.message ?? '').startsWith(`KILL got no answer in time from coordinator 'A' at ${c.address}, which owns session ${victim.threadId}: `));
    assert.ok(Date.now() - sent < 7_000, `failed after ${Date.now() - sent} ms`);
  } finally {
    c.coordinator.proc.kill('SIGCONT');
    victim.destroy();
    await onB.end();
  }
  // A may have lost its lease while stopped: it is back (same server id) before the next test
  await c.waitForRows('SELECT id, active FROM system.coordinators', (rows) => rows.some((r) => r.id === 'A' && r.active === 1), 15_000);
});

test('SHOW [FULL] PROCESSLIST lists the door sessions of both coordinators; without PROCESS only your own', async () => {
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
    const onB = rows.find((r) => r.Id === other.threadId);
    assert.deepEqual([onB?.User, onB?.Command, onB?.Info], ['admin', 'Sleep', null], "B's session, asked of B");
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
