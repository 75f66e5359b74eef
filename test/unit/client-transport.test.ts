import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { QuellClient } from '../../client/coordinator-client';
import { peerIdentity, TransportSecurity } from '../../common/tls';
import { formatIdentity } from '../../common/tls/identity';
import { testPki, type TestPki } from '../integration/tls-fixture';
import { freePort } from '../../common/daemon/child-processes';
import { notStartedStatus, toServiceError } from '../../common/grpc/rpc-status';
import { chError, QuellError } from '../../errors/quell-error';
import type { SqlValue } from '../../sql/types';
import { answering, FakeCoordinators, silentServer } from './fake-coordinators';
import { TcpProxy } from '../integration/tcp-proxy';

// Issue 18 item 5: the one client transport (client/transport/: gRPC on Node's own HTTP/2, no
// grpc-js), which QuellClient and so `quell client` use: a statement goes on to another
// coordinator only when it certainly did not start, and is never sent twice; keepalive pings
// find a coordinator that went silent; the client's certificate is presented.

let pki: TestPki;
let coordinatorTls: TransportSecurity;
let fakes: FakeCoordinators;
const clients: QuellClient[] = [];
before(async () => {
  pki = await testPki();
  coordinatorTls = TransportSecurity.from(pki.coordinator());
  fakes = new FakeCoordinators(coordinatorTls);
});
after(() => {
  for (const c of clients) c.close();
  fakes.stopAll();
  coordinatorTls.close();
});

function client(addresses: string[], connectTimeoutMs?: number): QuellClient {
  const c = new QuellClient(addresses, { connectTimeoutMs, tls: pki.anonymous() });
  clients.push(c);
  return c;
}

async function rows(c: QuellClient, sql: string): Promise<SqlValue[][]> {
  const out: SqlValue[][] = [];
  for await (const ev of c.execute(sql)) if (ev.kind === 'rows') out.push(...ev.rows);
  return out;
}

test('statements run on one connection and return their rows, one connection for all', async () => {
  const a = await fakes.start(answering('a'));
  const c = client([a.address]);
  assert.deepEqual(await rows(c, 'SELECT 1'), [['a']]);
  assert.deepEqual(await rows(c, 'SELECT 2'), [['a']]);
  assert.deepEqual(a.received, ['SELECT 1', 'SELECT 2']);
});

test("a coordinator's QuellError arrives with its code, name and message", async () => {
  const a = await fakes.start((call) => call.emit('error', toServiceError(chError('UNKNOWN_TABLE', 'Table system.nope does not exist'))));
  await assert.rejects(rows(client([a.address]), 'SELECT * FROM system.nope'), (e: unknown) => {
    assert.ok(e instanceof QuellError);
    assert.deepEqual([e.errorName, e.message], ['UNKNOWN_TABLE', 'Table system.nope does not exist']);
    return true;
  });
});

test('a statement refused before it started goes to the next coordinator, and is sent there once', async () => {
  const a = await fakes.start((call) => call.emit('error', notStartedStatus(chError('NETWORK_ERROR', 'coordinator is shutting down'))));
  const b = await fakes.start(answering('b'));
  assert.deepEqual(await rows(client([a.address, b.address]), 'SELECT 1'), [['b']]);
  assert.deepEqual(b.received, ['SELECT 1']);
});

test('a coordinator that cannot be reached is skipped for the next one', async () => {
  const b = await fakes.start(answering('b'));
  assert.deepEqual(await rows(client([`127.0.0.1:${await freePort()}`, b.address]), 'SELECT 1'), [['b']]);
});

test('an address that accepts TCP but never speaks is given up after the connect timeout', async () => {
  const silent = await silentServer();
  try {
    const b = await fakes.start(answering('b'));
    const c = client([silent.address, b.address], 300);
    assert.deepEqual(await rows(c, 'SELECT 1'), [['b']]);
  } finally {
    silent.close();
  }
});

test('a statement that reached a coordinator and failed there is not sent to the next one', async () => {
  const a = await fakes.start((call) => call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'connection dropped' }));
  const b = await fakes.start(answering('b'));
  await assert.rejects(rows(client([a.address, b.address]), 'KILL QUERY WHERE 1'), (e: unknown) => e instanceof QuellError && e.errorName === 'NETWORK_ERROR');
  assert.deepEqual(a.received, ['KILL QUERY WHERE 1']);
  assert.deepEqual(b.received, []);
});

test('a statement that started (header sent) and then broke is not sent again', async () => {
  const a = await fakes.start((call) => {
    call.write({ header: { columns: [{ name: 'x', type: 'String' }], format: '', dialect: 'DIALECT_CLICKHOUSE', statement_id: 's' } });
    setTimeout(() => call.emit('error', { code: grpc.status.INTERNAL, details: 'coordinator failed' }), 20);
  });
  const b = await fakes.start(answering('b'));
  await assert.rejects(rows(client([a.address, b.address]), 'KILL QUERY WHERE 1'), (e: unknown) => {
    assert.ok(e instanceof QuellError);
    assert.equal(e.errorName, 'NETWORK_ERROR');
    assert.match(e.message, /failed the call: coordinator failed/);
    return true;
  });
  assert.deepEqual(b.received, []);
});


test('a coordinator that goes silent mid-statement (its host died: no FIN, no reset) fails the statement with NETWORK_ERROR once a keepalive ping goes unanswered, and it is not sent again', async () => {
  // the header, then nothing: the statement is running when the coordinator's host dies
  const a = await fakes.start((call) => call.write({ header: { columns: [{ name: 'x', type: 'String' }], format: '', dialect: 'DIALECT_CLICKHOUSE', statement_id: 's' } }));
  const b = await fakes.start(answering('b'));
  const proxy = await TcpProxy.start(Number(a.address.split(':')[1]));
  try {
    const c = new QuellClient([proxy.address, b.address], { tls: pki.anonymous() }, { timeMs: 100, timeoutMs: 200 });
    clients.push(c);
    const results = c.execute('KILL QUERY WHERE 1')[Symbol.asyncIterator]();
    const first = await results.next();
    assert.equal(first.done === false && first.value.kind, 'header');
    assert.equal(proxy.freeze(), 1);
    await assert.rejects(results.next(), (e: unknown) => {
      assert.ok(e instanceof QuellError);
      assert.equal(e.errorName, 'NETWORK_ERROR');
      assert.match(e.message, new RegExp(`coordinator at ${proxy.address}: Connection dropped: no answer to a keepalive ping`));
      return true;
    });
    assert.deepEqual([a.received, b.received], [['KILL QUERY WHERE 1'], []]);
  } finally {
    await proxy.close();
  }
});

test('keepalive pings leave a coordinator that answers them alone, however long its statement runs', async () => {
  const a = await fakes.start((call) => {
    call.write({ header: { columns: [{ name: 'who', type: 'String' }], format: '', dialect: 'DIALECT_CLICKHOUSE', statement_id: 's' } });
    // many ping rounds pass before the rows come, and the first answers had to come in time
    setTimeout(() => answering('a')(call), 1_000);
  });
  // the answers' limit is generous for a loaded machine (the coordinator is in this process)
  const c = new QuellClient([a.address], { tls: pki.anonymous() }, { timeMs: 20, timeoutMs: 500 });
  clients.push(c);
  assert.deepEqual(await rows(c, 'KILL QUERY WHERE 1 SYNC'), [['a']]);
});

test('a connection reset before the coordinator answered anything fails the statement with NETWORK_ERROR: it may have started, so it is not sent to the next one', async () => {
  let cut: () => void = () => undefined;
  // the statement arrives, and the connection breaks before a byte of answer
  const a = await fakes.start(() => cut());
  const b = await fakes.start(answering('b'));
  const proxy = await TcpProxy.start(Number(a.address.split(':')[1]));
  cut = () => proxy.cut();
  try {
    await assert.rejects(rows(client([proxy.address, b.address]), 'KILL QUERY WHERE 1'), (e: unknown) => {
      assert.ok(e instanceof QuellError);
      assert.equal(e.errorName, 'NETWORK_ERROR');
      assert.match(e.message, new RegExp(`cannot reach the coordinator at ${proxy.address}`));
      return true;
    });
    assert.deepEqual([a.received, b.received], [['KILL QUERY WHERE 1'], []]);
  } finally {
    await proxy.close();
  }
});

test('a large result (20,000 messages, 20 MB) arrives whole and in order', async () => {
  const TOTAL = 20_000;
  const text = 'x'.repeat(1000);
  const a = await fakes.start((call) => {
    void (async () => {
      call.write({ header: { columns: [{ name: 'x', type: 'String' }], format: '', dialect: 'DIALECT_CLICKHOUSE', statement_id: 's' } });
      for (let i = 0; i < TOTAL; i++) {
        // as the coordinator writes: no faster than the client reads
        if (!call.write({ rows: { rows: [{ values: [{ str: `${i} ${text}` }] }] } })) await new Promise((resolve) => call.once('drain', resolve));
      }
      call.write({ end: { rows: String(TOTAL), elapsed_seconds: 0, affected_rows: '0', warnings: [] } });
      call.end();
    })();
  });
  const got = await rows(client([a.address]), 'SELECT big');
  assert.equal(got.length, TOTAL);
  assert.ok(got.every((r, i) => r[0] === `${i} ${text}`));
});

test("the connection presents the client's certificate: the coordinator sees the user's identity", async () => {
  let seen = '';
  const a = await fakes.start((call) => {
    const identity = peerIdentity(call, 'quell');
    seen = identity ? formatIdentity(identity) : 'none';
    answering('a')(call);
  });
  const c = new QuellClient([a.address], { tls: pki.user('alice') });
  clients.push(c);
  assert.deepEqual(await rows(c, 'SELECT 1'), [['a']]);
  assert.equal(seen, 'spiffe://quell/user/alice');
});

test('a server that accepts the TCP connection and never answers fails the setup after its timeout, not the kernel’s', async () => {
  const { createServer } = await import('node:net');
  const { H2Connection } = await import('../../client/transport/h2-connection');
  const held: import('node:net').Socket[] = [];
  const mute = createServer((s) => held.push(s));
  await new Promise<void>((resolve) => mute.listen(0, '127.0.0.1', resolve));
  const port = (mute.address() as import('node:net').AddressInfo).port;
  try {
    const { ClientTls } = await import('../../client/transport/client-tls');
    const connection = new H2Connection({ host: '127.0.0.1', port }, ClientTls.from(pki.anonymous()).securing('coordinator'), { timeMs: 60_000, timeoutMs: 20_000 }, 300);
    const started = Date.now();
    assert.deepEqual(await connection.readiness, { failed: 'no connection within 0.3 s' });
    assert.ok(Date.now() - started < 10_000, 'the setup timeout ended it');
  } finally {
    for (const s of held) s.destroy();
    mute.close();
  }
});

test("a coordinator that never answers the connection is given up on after the client's connect timeout, in those words", async () => {
  const { createServer } = await import('node:net');
  const held: import('node:net').Socket[] = [];
  const mute = createServer((s) => held.push(s));
  await new Promise<void>((resolve) => mute.listen(0, '127.0.0.1', resolve));
  const address = `127.0.0.1:${(mute.address() as import('node:net').AddressInfo).port}`;
  try {
    const started = Date.now();
    await assert.rejects(rows(client([address], 300), 'SELECT 1'), (e: unknown) => {
      assert.ok(e instanceof QuellError);
      assert.equal(e.errorName, 'NETWORK_ERROR');
      assert.equal(e.message, `cannot reach the coordinator at ${address}: no connection within 0.3 s`);
      return true;
    });
    assert.ok(Date.now() - started < 10_000, 'the connect timeout ended it');
  } finally {
    for (const s of held) s.destroy();
    mute.close();
  }
});
