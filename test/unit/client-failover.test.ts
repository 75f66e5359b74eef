import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { QuellClient } from '../../client/coordinator-client';
import { TransportSecurity } from '../../common/tls';
import { testPki, type TestPki } from '../integration/tls-fixture';
import { freePort, spawnQuell } from '../../common/daemon/child-processes';
import { notStartedStatus } from '../../common/grpc/rpc-status';
import { chError, QuellError } from '../../errors/quell-error';
import { answering, FakeCoordinators, silentServer, type ExecuteCall, type FakeCoordinator } from './fake-coordinators';

// Issue 11 item 8: a client with several coordinators moves on to the next only when the
// statement certainly did not start; a statement that may have started is never sent twice.
// Real gRPC servers on loopback play the coordinators.

// the fakes speak TLS as real coordinators do, with the test CA's coordinator certificate
let pki: TestPki;
let coordinatorTls: TransportSecurity;
before(async () => {
  pki = await testPki();
  coordinatorTls = TransportSecurity.from(pki.coordinator());
  fakes = new FakeCoordinators(coordinatorTls);
});

let fakes: FakeCoordinators;
const clients: QuellClient[] = [];
after(() => {
  for (const c of clients) c.close();
  fakes.stopAll();
  coordinatorTls.close();
});

const fakeCoordinator = (answer: (call: ExecuteCall) => void, port = 0): Promise<FakeCoordinator> => fakes.start(answer, port);

function client(addresses: string[], connectTimeoutMs?: number): QuellClient {
  const c = new QuellClient(addresses, { connectTimeoutMs, tls: pki.anonymous() });
  clients.push(c);
  return c;
}

/** An address nothing listens on. */
const closedAddress = async (): Promise<string> => `127.0.0.1:${await freePort()}`;

test('a coordinator that cannot be reached is skipped; the next one runs the statement and is tried first afterwards', async () => {
  const down = await closedAddress();
  const b = await fakeCoordinator(answering('b'));
  const c = client([down, b.address]);
  const r = await c.query('SELECT 1');
  assert.deepEqual(r.rows, [['b']]);
  assert.equal(c.address, b.address);
  await c.query('SELECT 2');
  assert.deepEqual(b.received, ['SELECT 1', 'SELECT 2']);
});

test('a long-lived client whose coordinator comes back at its address runs the next statement there, not failing on the outage\'s last error', async () => {
  const port = await freePort();
  const c = client([`127.0.0.1:${port}`]);
  await assert.rejects(c.query('SELECT 1'), (e: unknown) => e instanceof QuellError && e.errorName === 'NETWORK_ERROR');
  // grpc-js keeps the channel failed until a background retry connects: the statement waits for that retry
  const back = await fakeCoordinator(answering('back'), port);
  assert.deepEqual((await c.query('SELECT 2')).rows, [['back']]);
  assert.deepEqual(back.received, ['SELECT 2']);
});

test('the CLI form `a,b,c` is the same list', async () => {
  const b = await fakeCoordinator(answering('b'));
  const c = client([`${await closedAddress()}, ${await closedAddress()},${b.address}`]);
  assert.deepEqual((await c.query('SELECT 1')).rows, [['b']]);
  assert.equal(c.addresses.length, 3);
});

test('quell client --coordinator a,b: the CLI fails over the same way', async () => {
  const b = await fakeCoordinator(answering('b'));
  const cli = spawnQuell(['client', '--coordinator', `${await closedAddress()},${b.address}`, ...pki.argv(pki.anonymous()), '-q', 'SELECT 1']);
  assert.equal(await cli.exited, 0, cli.stderr());
  assert.equal(cli.stdout(), 'b\n');
  assert.deepEqual(b.received, ['SELECT 1']);
});

test('a statement that reached a coordinator and failed there is not sent to the next one', async () => {
  // UNAVAILABLE without any header: the coordinator had the statement, so it may have started
  const a = await fakeCoordinator((call) => call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'connection dropped' }));
  const b = await fakeCoordinator(answering('b'));
  const c = client([a.address, b.address]);
  await assert.rejects(c.query('KILL QUERY WHERE 1'), (e: unknown) => e instanceof QuellError && e.errorName === 'NETWORK_ERROR');
  assert.deepEqual(a.received, ['KILL QUERY WHERE 1']);
  assert.deepEqual(b.received, []);
});

test('a statement that started (header sent) and then broke is not sent again', async () => {
  const a = await fakeCoordinator((call) => {
    call.write({ header: { columns: [], format: '', dialect: 'DIALECT_CLICKHOUSE', statement_id: 's' } });
    setImmediate(() => call.emit('error', { code: grpc.status.UNAVAILABLE, details: 'No connection established' }));
  });
  const b = await fakeCoordinator(answering('b'));
  const c = client([a.address, b.address]);
  await assert.rejects(c.query('KILL QUERY WHERE 1'), (e: unknown) => e instanceof QuellError && e.errorName === 'NETWORK_ERROR');
  assert.deepEqual(b.received, []);
});

test('a coordinator that refuses a statement before starting it (draining) passes it on', async () => {
  const a = await fakeCoordinator((call) => call.emit('error', notStartedStatus(chError('NETWORK_ERROR', 'coordinator is shutting down'))));
  const b = await fakeCoordinator(answering('b'));
  const c = client([a.address, b.address]);
  assert.deepEqual((await c.query('SELECT 1')).rows, [['b']]);
  assert.deepEqual(a.received, ['SELECT 1']);
  assert.deepEqual(b.received, ['SELECT 1']);
  // alone, its refusal is the answer
  const alone = client([a.address]);
  await assert.rejects(alone.query('SELECT 1'), (e: unknown) => e instanceof QuellError && e.errorName === 'NETWORK_ERROR' && /^coordinator is shutting down$/.test(e.message));
});

test('an address that accepts TCP but never speaks is given up after the connect timeout', async () => {
  const silent = await silentServer();
  try {
    const b = await fakeCoordinator(answering('b'));
    const c = client([silent.address, b.address], 300);
    assert.deepEqual((await c.query('SELECT 1')).rows, [['b']]);
  } finally {
    silent.close();
  }
});

test('when every coordinator is unreachable: ALL_CONNECTION_TRIES_FAILED naming each; one alone: NETWORK_ERROR', async () => {
  const [x, y] = [await closedAddress(), await closedAddress()];
  await assert.rejects(client([x, y]).query('SELECT 1'), (e: unknown) => {
    assert.ok(e instanceof QuellError);
    assert.deepEqual([e.code, e.errorName], [279, 'ALL_CONNECTION_TRIES_FAILED']);
    assert.ok(e.message.includes(`${x}: connect ECONNREFUSED`) && e.message.includes(`${y}: connect ECONNREFUSED`), e.message);
    return true;
  });
  const z = await closedAddress();
  await assert.rejects(client([z]).query('SELECT 1'), (e: unknown) => {
    assert.ok(e instanceof QuellError);
    assert.deepEqual([e.code, e.errorName], [210, 'NETWORK_ERROR']);
    assert.match(e.message, new RegExp(`^cannot reach the coordinator at ${z}: connect ECONNREFUSED`));
    return true;
  });
});
