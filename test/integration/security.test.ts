import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { Etcd3 } from 'etcd3';
import { WorkloadSession } from '../../client/workload-client';
import { createCa, issueCert } from '../../common/tls/certs';
import { freePort, spawnQuell, type Child } from '../../common/daemon/child-processes';
import { connectEtcd } from '../../common/etcd/client';
import { aliveKey, type AliveRecord } from '../../common/etcd/etcd-layout';
import { identities } from '../../common/tls/identity';
import { remoteQuellError } from '../../common/grpc/rpc-status';
import { decodeStatusDetails } from '../../common/grpc/status-details';
import type { TlsOptions } from '../../common/tls';
import { quellProto } from '../../proto/load';
import { CHANNEL_OPTIONS } from '../../common/grpc/channel-options';
import type { NodeAgentServiceClient } from '../../proto/generated/quell/v1/NodeAgentService';
import type { KillRequest } from '../../proto/generated/quell/v1/KillRequest';
import { TestCluster, clientArgv, eventsOf, records, sleep } from './harness';
import { captureLoopback, readCapture } from './capture';

// docs/security.md, tried as an attacker on loopback would (issue 10): real processes, a raw
// grpc-js client, a forged alive record, bad certificates and a packet capture.

const PASSWORD = 'Wonderland-pw-5f1c9e';
const SECRET_TEXT = 'quokka-7d41-needle';
const USERS = `
users:
  default: { grants: [ALL] }
  alice: { password: '${PASSWORD}', grants: [ALL] }
`;

let c: TestCluster;
let scratch: string;
let etcd: Etcd3;
/** bob's queries on n1 and n2: what every attack below aims at */
const targets: Child[] = [];
const BOB_QUERIES = ['sec-n1-1', 'sec-n1-2', 'sec-n2-1', 'sec-n2-2'];

before(async () => {
  scratch = mkdtempSync(path.join(os.tmpdir(), 'quell-security-'));
  c = await TestCluster.start({ cluster: 'sec', nodes: 3, users: USERS });
  etcd = connectEtcd({ endpoints: [c.etcd.url] });
  for (const n of ['n1', 'n2']) targets.push(await c.sim(n, ['--queries', '2', '--user', 'bob', '--query-id-prefix', `sec-${n}-`], 2));
});
after(async () => {
  etcd?.close();
  await c?.stop();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

/** bob's processes still run: no sim saw a cancel, and a TEST through the coordinator lists them all. */
async function bobStillRuns(): Promise<void> {
  for (const s of targets) assert.deepEqual(eventsOf(s, 'cancel'), [], 'a sim saw a cancel');
  const rows = records(await c.query("KILL QUERY ON CLUSTER sec WHERE user = 'bob' TEST"));
  assert.deepEqual(rows.map((r) => [r.query_id, r.kill_status]).sort(), BOB_QUERIES.map((q) => [q, 'unknown_status']));
}

type CallOutcome = { ok: true; messages: number } | { ok: false; err: grpc.ServiceError };

function streamOutcome(call: grpc.ClientReadableStream<unknown>): Promise<CallOutcome> {
  let messages = 0;
  return new Promise((resolve) => {
    call.on('data', () => messages++);
    call.on('error', (err: grpc.ServiceError) => resolve({ ok: false, err }));
    call.on('end', () => resolve({ ok: true, messages }));
  });
}

const KILL_EVERYONE: KillRequest = {
  target: 'KILL_TARGET_QUERY',
  where: "equals(user, 'bob')",
  mode: 'KILL_MODE_SYNC',
  user: 'mallory',
  may_kill_others: true,
  sync_timeout_ms: 1_000,
  statement_id: 'attack',
};

function killAs(stub: NodeAgentServiceClient): Promise<CallOutcome> {
  return streamOutcome(stub.Kill(KILL_EVERYONE, { deadline: Date.now() + 10_000 }));
}

function scanAs(stub: NodeAgentServiceClient): Promise<CallOutcome> {
  return streamOutcome(stub.Scan({ table: 'TABLE_PROCESSES', statement_id: 'attack', user: 'mallory', see_all_users: true }, { deadline: Date.now() + 10_000 }));
}

/** The gRPC status of a refusal (docs/grpc-status.md): no verified certificate 16, the wrong role 7. */
const REFUSAL_STATUS: Record<string, grpc.status> = { AUTHENTICATION_FAILED: grpc.status.UNAUTHENTICATED, ACCESS_DENIED: grpc.status.PERMISSION_DENIED };

/** A refusal's google.rpc.Status in grpc-status-details-bin: the same code, and an ErrorInfo with the error's name. */
function assertRichRefusal(err: grpc.ServiceError, name: string): void {
  const [bytes] = err.metadata.get('grpc-status-details-bin');
  assert.ok(bytes instanceof Buffer, 'a google.rpc.Status in grpc-status-details-bin');
  const rich = decodeStatusDetails(bytes);
  assert.equal(rich.code, err.code);
  assert.equal(rich.message, err.details);
  assert.deepEqual([rich.errorInfo?.reason, rich.errorInfo?.domain], [name, 'quell']);
}

/** A refusal by the agent's role check: its gRPC status, quell code and one-line message. */
function assertRefused(who: string, outcome: CallOutcome, rpc: string, code: number, name: string, reason: RegExp): void {
  assert.ok(!outcome.ok, `${rpc} with ${who} was served (${outcome.ok ? outcome.messages : 0} messages)`);
  assert.equal(outcome.err.code, REFUSAL_STATUS[name], `${who}: ${outcome.err.details}`);
  assertRichRefusal(outcome.err, name);
  const typed = remoteQuellError(outcome.err);
  assert.equal(typed?.code, code, who);
  assert.equal(typed?.errorName, name, who);
  assert.match(outcome.err.details, new RegExp(`^${rpc} refused for 127\\.0\\.0\\.1:\\d+: needs a spiffe://quell/coordinator certificate; ${reason.source}$`));
}

test('a raw gRPC client without the coordinator certificate cannot Kill or Scan on an agent, and nothing is cancelled', async () => {
  const callers: [string, TlsOptions, number, string, RegExp][] = [
    ['no certificate', c.pki.anonymous(), 516, 'AUTHENTICATION_FAILED', /the peer presented none that our CA signed \(no certificate, another CA, or expired\)/],
    ['the workload certificate', c.pki.workload(), 497, 'ACCESS_DENIED', /the peer is spiffe:\/\/quell\/workload/],
    ['a user certificate', c.pki.user('alice'), 497, 'ACCESS_DENIED', /the peer is spiffe:\/\/quell\/user\/alice/],
  ];
  for (const [who, as, code, name, reason] of callers) {
    for (const node of ['n1', 'n2']) {
      const stub = c.agentStub(node, as);
      assertRefused(who, await killAs(stub), 'Kill', code, name, reason);
      assertRefused(who, await scanAs(stub), 'Scan', code, name, reason);
    }
  }
  // plaintext to a TLS agent does not even get a gRPC answer
  const plain = new (quellProto().agent.quell.v1.NodeAgentService)(c.agent('n1').address, grpc.credentials.createInsecure(), { ...CHANNEL_OPTIONS });
  try {
    const outcome = await killAs(plain);
    assert.ok(!outcome.ok);
    assert.equal(outcome.err.code, grpc.status.UNAVAILABLE, outcome.err.details);
  } finally {
    plain.close();
  }
  // the agents still serve the coordinator, and bob's queries were never touched
  const asCoordinator = await scanAs(c.agentStub('n1'));
  assert.ok(asCoordinator.ok && asCoordinator.messages > 0, 'the coordinator certificate may Scan');
  await bobStillRuns();
});

const portOf = (address: string): number => Number(address.slice(address.lastIndexOf(':') + 1));

function attachRefusal(err: unknown, name: string, reason: RegExp): void {
  const e = err as grpc.ServiceError;
  assert.equal(e?.code, REFUSAL_STATUS[name], String(e?.details ?? err));
  assertRichRefusal(e, name);
  assert.match(e.details, new RegExp(`^Attach refused for 127\\.0\\.0\\.1:\\d+: needs a spiffe://quell/workload certificate; ${reason.source}$`));
}

test('Attach needs the workload certificate or the agent\'s workload socket (mode 0660), where a local workload is found and killed', async () => {
  const callers: [TlsOptions, string, RegExp][] = [
    [c.pki.user('alice'), 'ACCESS_DENIED', /the peer is spiffe:\/\/quell\/user\/alice/],
    [c.pki.anonymous(), 'AUTHENTICATION_FAILED', /the peer presented none that our CA signed \(no certificate, another CA, or expired\)/],
  ];
  for (const [as, name, reason] of callers) {
    const session = new WorkloadSession(c.agent('n1').address, as);
    try {
      const err = await session.register({ query_id: 'fake-admin', user: 'admin', query: 'DROP DATABASE prod', client_name: 'mallory' }).then(
        () => undefined,
        (e: unknown) => e,
      );
      attachRefusal(err, name, reason);
    } finally {
      session.close();
    }
  }
  const fake = await c.query("SELECT query_id FROM clusterAllReplicas('sec', system.processes) WHERE query_id = 'fake-admin'");
  assert.deepEqual(fake.rows, [], 'a refused workload registered nothing');

  const socket = path.join(scratch, 'n4-workloads.sock');
  await c.addAgent('n4', 'sec', ['--workload-socket', socket]);
  await c.waitForActive(4);
  const st = statSync(socket);
  assert.ok(st.isSocket());
  assert.equal(st.mode & 0o777, 0o660);
  const local = new WorkloadSession(`unix:${socket}`);
  const stub = new (quellProto().agent.quell.v1.NodeAgentService)(`unix:${socket}`, grpc.credentials.createInsecure(), { ...CHANNEL_OPTIONS });
  try {
    const proc = await local.register({ query_id: 'local-1', user: 'carol', query: 'SELECT sleep(3600)', client_name: 'local workload' });
    proc.signal.addEventListener('abort', () => proc.end('cancelled'), { once: true });
    const rows = records(await c.query("KILL QUERY ON CLUSTER sec WHERE query_id = 'local-1' SYNC"));
    assert.deepEqual(rows.map((r) => [r.kill_status, r.query_id, r.node_id]), [['finished', 'local-1', 'n4']]);
    assert.equal(proc.signal.aborted, true);
    // the socket is for workloads only: the agent's Kill is not served there
    const outcome = await killAs(stub);
    assert.ok(!outcome.ok);
    assert.equal(outcome.err.code, grpc.status.UNIMPLEMENTED, outcome.err.details);
  } finally {
    stub.close();
    local.close();
  }
  await bobStillRuns();
});

/** Polls system.clusters until the coordinator's view has n1 live at `address`. */
async function waitForN1At(address: string): Promise<void> {
  for (let i = 0; ; i++) {
    const [n1] = records(await c.query("SELECT host, port, is_active FROM system.clusters WHERE cluster = 'sec' AND node_id = 'n1'"));
    if (n1 && `${String(n1.host)}:${String(n1.port)}` === address && n1.is_active === 1) return;
    if (i > 200) throw new Error(`the coordinator never saw n1 at ${address}: ${JSON.stringify(n1)}`);
    await sleep(25);
  }
}

/** Overwrites n1's alive record (under n1's own lease) with another address; returns the restore. */
async function forgeN1Alive(address: string): Promise<() => Promise<void>> {
  const kv = (await etcd.get(aliveKey('n1')).exec()).kvs[0];
  assert.ok(kv, 'n1 is alive');
  const original = kv.value.toString();
  const record = JSON.parse(original) as AliveRecord;
  await etcd.put(aliveKey('n1')).value(JSON.stringify({ ...record, address })).lease(kv.lease).exec();
  await waitForN1At(address);
  return async () => {
    await etcd.put(aliveKey('n1')).value(original).lease(kv.lease).exec();
    await waitForN1At(record.address);
  };
}

/** A plaintext impostor that answers every Kill with a `finished` row for n1's victim. */
async function fakeAgent(): Promise<{ address: string; calls: () => number; server: grpc.Server }> {
  let calls = 0;
  const server = new grpc.Server({ ...CHANNEL_OPTIONS });
  const impl = {
    Kill: (call: grpc.ServerWritableStream<unknown, unknown>) => {
      calls++;
      call.write({ plan: { eligible: 1, skipped: 0 } });
      call.write({ process: { status: 'KILL_STATUS_FINISHED', query_id: 'victim-n1-1', user: 'victim', query: 'SELECT 1' } });
      call.end();
    },
    Scan: (call: grpc.ServerWritableStream<unknown, unknown>) => {
      calls++;
      call.end();
    },
    Info: (_call: unknown, cb: grpc.sendUnaryData<unknown>) => {
      calls++;
      cb(null, { node_id: 'n1', clusters: ['sec'] });
    },
  };
  server.addService(quellProto().agent.quell.v1.NodeAgentService.service, impl as unknown as grpc.UntypedServiceImplementation);
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  return { address: `127.0.0.1:${port}`, calls: () => calls, server };
}

test('a forged alive record never makes a kill show finished for n1: another agent or a fake server is a node row, and n1 keeps running', async () => {
  const victims = [await c.sim('n1', ['--queries', '1', '--user', 'victim', '--query-id-prefix', 'victim-n1-']), await c.sim('n2', ['--queries', '1', '--user', 'victim', '--query-id-prefix', 'victim-n2-'])];
  const kill = "KILL QUERY ON CLUSTER sec WHERE user = 'victim' SYNC SETTINGS sync_kill_timeout = 1";

  // n1's record names n2, a real agent with another identity
  let restore = await forgeN1Alive(c.agent('n2').address);
  try {
    const rows = records(await c.query(kill));
    const n1 = rows.filter((r) => r.node_id === 'n1');
    assert.equal(n1.length, 1, JSON.stringify(rows));
    assert.equal(n1[0]?.kill_status, 'node_error');
    assert.match(String(n1[0]?.error), /identity mismatch: expected spiffe:\/\/quell\/agent\/n1, peer presented spiffe:\/\/quell\/agent\/n2/);
    // n2 answered for itself only: its own victim, under its own name
    assert.deepEqual(rows.filter((r) => r.node_id !== 'n1').map((r) => [r.kill_status, r.query_id, r.node_id]), [['finished', 'victim-n2-1', 'n2']]);
  } finally {
    await restore();
  }

  // n1's record names a plaintext server that would answer `finished`
  const fake = await fakeAgent();
  restore = await forgeN1Alive(fake.address);
  try {
    const rows = records(await c.query(kill));
    const n1 = rows.filter((r) => r.node_id === 'n1');
    assert.equal(n1.length, 1, JSON.stringify(rows));
    assert.ok(['node_error', 'node_unreachable'].includes(String(n1[0]?.kill_status)), JSON.stringify(n1));
    assert.match(String(n1[0]?.error), /TLS|identity mismatch/);
    assert.equal(fake.calls(), 0, 'the coordinator never completed a call to the impostor');
  } finally {
    await restore();
    fake.server.forceShutdown();
  }

  assert.deepEqual(eventsOf(victims[0] as Child, 'cancel'), [], "n1's victim saw no cancel");
  const left = records(await c.query("KILL QUERY ON CLUSTER sec WHERE user = 'victim' TEST"));
  assert.deepEqual(left.map((r) => [r.kill_status, r.query_id, r.node_id]), [['unknown_status', 'victim-n1-1', 'n1']]);
  await bobStillRuns();
});

/** The one line a CLI prints on stderr when it fails. */
function oneLine(child: Child, pattern: RegExp): void {
  const err = child.stderr();
  assert.equal(err.split('\n').length, 2, `not one line: ${err}`);
  assert.match(err, pattern);
}

test('bad transport gets one line and a non-zero exit: a plaintext client, an agent with another node\'s certificate, expired or untrusted client certificates', async () => {
  const silent = { QUELL_LOG_LEVEL: 'silent' };
  const plain = spawnQuell(['client', '--coordinator', c.address, '--insecure', '-q', 'SELECT 1'], silent);
  assert.notEqual(await plain.exited, 0);
  oneLine(plain, /^Code: 210\. NETWORK_ERROR: cannot reach the coordinator at 127\.0\.0\.1:\d+: the peer closed the connection during setup: .*only one side uses TLS\n$/);

  const n2Files = c.pki.agent('n2');
  const impostor = spawnQuell(['agent', '--etcd', c.etcd.url, '--node-id', 'n1', '--listen', '127.0.0.1:0', '--cluster', 'sec', ...c.pki.argv(n2Files)], silent);
  assert.notEqual(await impostor.exited, 0);
  assert.equal(impostor.stderr(), `Code: 36. BAD_ARGUMENTS: ${String(n2Files.cert)} is spiffe://quell/agent/n2, but this process is spiffe://quell/agent/n1\n`);

  const expired = await issueCert(scratch, c.pki.certs.ca, 'alice-expired', identities.user('alice'), { expired: true });
  const rogueCa = await createCa(scratch, { name: 'rogue-ca', commonName: 'rogue CA' });
  const rogue = await issueCert(scratch, rogueCa, 'alice-rogue', identities.user('alice'));
  const refusals = [
    ['expired', expired, `${expired.cert} \\(spiffe://quell/user/alice\\) expired at 2020-01-02T00:00:00\\.000Z`],
    ['untrusted CA', rogue, `${rogue.cert} \\(spiffe://quell/user/alice\\) is not signed by a CA in ${c.pki.ca}: every peer that trusts only those CAs would refuse it`],
  ] as const;
  for (const [what, pair, reason] of refusals) {
    const client = spawnQuell(['client', '--coordinator', c.address, ...c.pki.argv({ ca: c.pki.ca, cert: pair.cert, key: pair.key }), '-u', 'alice', '-q', 'SELECT 1'], silent);
    assert.notEqual(await client.exited, 0, `${what}: ${client.stdout()}`);
    oneLine(client, new RegExp(`^Code: 36\\. BAD_ARGUMENTS: TLS files unusable: ${reason}\\n$`));
  }
  // nothing crashed: the coordinator and the agents still serve
  await bobStillRuns();
});

test('a capture of a password login and a KILL on loopback holds neither the password nor the statement, only TLS; a plaintext one holds both', async () => {
  const statement = `KILL QUERY ON CLUSTER sec WHERE query = '${SECRET_TEXT}' TEST`;
  const coordinatorPort = portOf(c.address);
  const agentPorts = [...c.agents.values()].map((a) => portOf(a.address));
  const file = path.join(scratch, 'tls.pcap');
  await captureLoopback(file, [coordinatorPort, ...agentPorts], async () => {
    const client = spawnQuell([...clientArgv(c), '-u', 'alice', '-q', statement], { QUELL_PASSWORD: PASSWORD });
    assert.equal(await client.exited, 0, client.stderr());
  });
  const raw = readFileSync(file);
  assert.equal(raw.includes(PASSWORD), false, 'the password crossed the wire in clear');
  assert.equal(raw.includes(SECRET_TEXT), false, 'the statement crossed the wire in clear');
  const decodeAsTls = [coordinatorPort, ...agentPorts].flatMap((p) => ['-d', `tcp.port==${p},tls`]);
  const fields = (filter: string): Promise<string[]> =>
    readCapture(file, [...decodeAsTls, '-Y', filter, '-T', 'fields', '-e', 'tcp.srcport', '-e', 'tcp.dstport']).then((out) => out.split('\n').filter((l) => l.trim() !== ''));
  const clientHellos = await fields('tls.handshake.type == 1');
  assert.ok(clientHellos.some((l) => l.split('\t')[1] === String(coordinatorPort)), `no ClientHello to the coordinator: ${clientHellos.join('; ')}`);
  const serverHellos = await fields('tls.handshake.type == 2');
  assert.ok(serverHellos.some((l) => l.split('\t')[0] === String(coordinatorPort)), 'no ServerHello from the coordinator');
  const appData = await fields('tls.app_data');
  for (const port of [coordinatorPort, ...agentPorts.slice(0, 3)]) {
    assert.ok(appData.some((l) => l.split('\t').includes(String(port))), `no TLS application data on port ${port}`);
  }

  // the same login and statement to a plaintext coordinator (--insecure, loopback): the capture sees them
  const usersFile = path.join(scratch, 'users.yaml');
  writeFileSync(usersFile, USERS);
  const plainPort = await freePort();
  const plain = spawnQuell(['coordinator', '--etcd', c.etcd.url, '--listen', `127.0.0.1:${plainPort}`, '--default-cluster', 'sec', '--users', usersFile, '--insecure']);
  try {
    await plain.waitFor((e) => e.event === 'ready');
    const control = path.join(scratch, 'plaintext.pcap');
    await captureLoopback(control, [plainPort], async () => {
      const client = spawnQuell(['client', '--coordinator', `127.0.0.1:${plainPort}`, '--insecure', '-u', 'alice', '-q', statement], { QUELL_PASSWORD: PASSWORD, QUELL_LOG_LEVEL: 'silent' });
      await client.exited;
    });
    const clear = readFileSync(control);
    assert.equal(clear.includes(PASSWORD), true, 'the control capture saw no password: the capture itself is broken');
    assert.equal(clear.includes(SECRET_TEXT), true, 'the control capture saw no statement: the capture itself is broken');
  } finally {
    await plain.stop('SIGTERM', 3_000);
  }
});
