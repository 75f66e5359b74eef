import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { quellProto } from '../../proto/load';
import { CHANNEL_OPTIONS } from '../../common/grpc/channel-options';
import type { NodeAgentServiceClient } from '../../proto/generated/quell/v1/NodeAgentService';
import type { InfoResponse__Output } from '../../proto/generated/quell/v1/InfoResponse';
import { createCa, issueCert } from '../../common/tls/certs';
import { formatIdentity, identities, type PeerExpectation } from '../../common/tls/identity';
import { toNodeFailure, transportReason } from '../../common/grpc/rpc-status';
import { peerIdentity, peerRefusal, TransportSecurity, type ClientCertificates, type TlsOptions } from '../../common/tls';
import { testPki, type TestPki } from './tls-fixture';
import { X509Certificate } from 'node:crypto';
import { spawnQuell, startEtcd, type Child } from '../../common/daemon/child-processes';
import { parseExposition, scrape } from './probe-clients';

// TLS on one hop, with a real grpc-js server and client on loopback: who the peer is, and the
// one-line reason of every way a handshake can go wrong.

let pki: TestPki;
let scratch: string;
const servers: grpc.Server[] = [];
const clients: NodeAgentServiceClient[] = [];
const securities: TransportSecurity[] = [];

before(async () => {
  pki = await testPki();
  scratch = mkdtempSync(path.join(os.tmpdir(), 'quell-tls-test-'));
});
after(() => {
  for (const c of clients) c.close();
  for (const s of servers) s.forceShutdown();
  for (const s of securities) s.close();
  rmSync(scratch, { recursive: true, force: true });
});

function security(o: TlsOptions): TransportSecurity {
  const s = TransportSecurity.from(o);
  securities.push(s);
  return s;
}

/** An agent-shaped server whose Info answers with who called it and whether it may Scan. */
async function serve(creds: grpc.ServerCredentials): Promise<string> {
  const server = new grpc.Server({ ...CHANNEL_OPTIONS });
  const impl = {
    Info: (call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      const id = peerIdentity(call);
      cb(null, { node_id: id ? formatIdentity(id) : 'anonymous', clusters: [peerRefusal(call, ['coordinator'], 'Scan')?.message ?? 'Scan allowed'] });
    },
  };
  server.addService(quellProto().agent.quell.v1.NodeAgentService.service, impl as unknown as grpc.UntypedServiceImplementation);
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', creds, (err, p) => (err ? reject(err) : resolve(p))));
  servers.push(server);
  return `127.0.0.1:${port}`;
}

function serveTls(o: TlsOptions, mode: ClientCertificates): Promise<string> {
  return serve(security(o).serverCredentials('127.0.0.1:0', mode));
}

type Answer = { ok: true; info: InfoResponse__Output } | { ok: false; err: grpc.ServiceError };

function info(address: string, creds: grpc.ChannelCredentials): Promise<Answer> {
  const client = new (quellProto().agent.quell.v1.NodeAgentService)(address, creds, { ...CHANNEL_OPTIONS });
  clients.push(client);
  return new Promise((resolve) =>
    client.Info({}, { deadline: Date.now() + 10_000 }, (err, res) => {
      client.close();
      resolve(err || !res ? { ok: false, err: err as grpc.ServiceError } : { ok: true, info: res });
    }),
  );
}

function dial(address: string, o: TlsOptions, expect: PeerExpectation): Promise<Answer> {
  return info(address, security(o).channelCredentials(address, expect));
}

function caller(a: Answer): string {
  assert.ok(a.ok, a.ok ? '' : `call failed: ${a.err.details}`);
  return a.info.node_id;
}

function failure(a: Answer): { kind: string; reason: string } {
  assert.ok(!a.ok, 'the call was expected to fail');
  const f = toNodeFailure(a.err);
  assert.ok(!f.message.includes('\n'), `one line: ${f.message}`);
  return { kind: f.kind, reason: f.message };
}

test('mutual TLS: the coordinator reaches agent n1 and the agent sees the coordinator', async () => {
  const address = await serveTls(pki.agent('n1'), 'require');
  const a = await dial(address, pki.coordinator(), identities.agent('n1'));
  assert.equal(caller(a), 'spiffe://quell/coordinator');
  assert.ok(a.ok);
  assert.deepEqual(a.info.clusters, ['Scan allowed']);
});

test('a server that asks for certificates reads each caller: none, workload, user', async () => {
  const address = await serveTls(pki.coordinator(), 'request');
  const anon = await dial(address, pki.anonymous(), 'coordinator');
  assert.equal(caller(anon), 'anonymous');
  assert.ok(anon.ok);
  assert.match(anon.info.clusters[0] ?? '', /^Scan refused for 127\.0\.0\.1:\d+: needs a spiffe:\/\/quell\/coordinator certificate; the peer presented none that our CA signed/);
  const workload = await dial(address, pki.workload(), 'coordinator');
  assert.equal(caller(workload), 'spiffe://quell/workload');
  assert.ok(workload.ok);
  assert.match(workload.info.clusters[0] ?? '', /^Scan refused for 127\.0\.0\.1:\d+: needs a spiffe:\/\/quell\/coordinator certificate; the peer is spiffe:\/\/quell\/workload$/);
  assert.equal(caller(await dial(address, pki.user('alice'), 'coordinator')), 'spiffe://quell/user/alice');
  assert.equal(caller(await dial(address, pki.agent('n3'), 'coordinator')), 'spiffe://quell/agent/n3');
});

test('a server requiring certificates refuses a client without one', async () => {
  const address = await serveTls(pki.agent('n1'), 'require');
  const f = failure(await dial(address, pki.anonymous(), 'agent'));
  assert.match(f.reason, /^the peer (requires a client certificate and we sent none|closed the connection during setup: it refused our certificate, or only one side uses TLS)$/);
});

test('an untrusted CA: the client refuses the server, and the server ignores the client', async () => {
  const evil = await createCa(path.join(scratch, 'evil'), { commonName: 'evil CA' });
  const evilCoordinator = await issueCert(path.join(scratch, 'evil'), evil, 'coordinator', identities.coordinator());
  const evilAgent = await issueCert(path.join(scratch, 'evil'), evil, 'agent-n1', identities.agent('n1'));

  const impostor = await serveTls({ ca: evil.cert, ...evilAgent }, 'require');
  assert.deepEqual(failure(await dial(impostor, pki.coordinator(), identities.agent('n1'))), { kind: 'node_error', reason: "the peer's certificate is not signed by our CA" });

  // our own load check refuses a certificate the CA file did not sign
  assert.throws(
    () => TransportSecurity.from({ ca: pki.ca, cert: evilCoordinator.cert, key: evilCoordinator.key }),
    (e: Error) => e.message === `TLS files unusable: ${evilCoordinator.cert} (spiffe://quell/coordinator) is not signed by a CA in ${pki.ca}: every peer that trusts only those CAs would refuse it`,
  );
  // a forger who trusts both CAs passes it; the server, trusting only ours, sees an anonymous caller
  const both = path.join(scratch, 'both-cas.pem');
  writeFileSync(both, Buffer.concat([readFileSync(pki.ca), readFileSync(evil.cert)]));
  const agent = await serveTls(pki.agent('n1'), 'request');
  const forged = await dial(agent, { ca: both, cert: evilCoordinator.cert, key: evilCoordinator.key }, identities.agent('n1'));
  assert.equal(caller(forged), 'anonymous');
  const strict = await serveTls(pki.agent('n1'), 'require');
  const forger = security({ ca: both, cert: evilCoordinator.cert, key: evilCoordinator.key });
  const dropped = await info(strict, forger.channelCredentials(strict, identities.agent('n1')));
  assert.equal(failure(dropped).reason, 'the peer closed the connection during setup: it refused our certificate, or only one side uses TLS');
  assert.ok(!dropped.ok);
  assert.equal(forger.connectFailureReason(dropped.err.details), 'the peer closed the connection during setup: it probably refused our certificate spiffe://quell/coordinator (issued by a CA it does not trust?)');
  assert.equal(security(pki.anonymous()).connectFailureReason(dropped.err.details), 'the peer closed the connection during setup: it probably requires a client certificate, and none is configured (--tls-cert/--tls-key)');
});

test('expired certificates: refused at load, by the client, and by the server', async () => {
  const dir = path.join(scratch, 'expired');
  const expiredAgent = await issueCert(dir, { cert: pki.ca, key: path.join(pki.dir, 'ca-key.pem') }, 'agent-n1', identities.agent('n1'), { expired: true });
  const expiredCoordinator = await issueCert(dir, { cert: pki.ca, key: path.join(pki.dir, 'ca-key.pem') }, 'coordinator', identities.coordinator(), { expired: true });
  assert.throws(
    () => TransportSecurity.from({ ca: pki.ca, ...expiredAgent }),
    (e: Error) => e.message === `TLS files unusable: ${expiredAgent.cert} (spiffe://quell/agent/n1) expired at 2020-01-02T00:00:00.000Z`,
  );
  // a server that skipped the check still cannot fool a client
  const raw = grpc.ServerCredentials.createSsl(readFileSync(pki.ca), [{ cert_chain: readFileSync(expiredAgent.cert), private_key: readFileSync(expiredAgent.key) }], false);
  assert.deepEqual(failure(await dial(await serve(raw), pki.coordinator(), identities.agent('n1'))), { kind: 'node_error', reason: "the peer's certificate has expired" });
  // an expired client certificate bypassing our load check is not an identity
  const rawClient = grpc.credentials.createSsl(readFileSync(pki.ca), readFileSync(expiredCoordinator.key), readFileSync(expiredCoordinator.cert), { checkServerIdentity: () => undefined });
  assert.equal(caller(await info(await serveTls(pki.agent('n1'), 'request'), rawClient)), 'anonymous');
});

test('plaintext client on a TLS port, and a TLS client on a plaintext port', async () => {
  const tlsPort = await serveTls(pki.agent('n1'), 'require');
  const plain = await dial(tlsPort, { insecure: true }, 'agent');
  assert.equal(failure(plain).reason, 'the peer closed the connection during setup: it refused our certificate, or only one side uses TLS');
  assert.ok(!plain.ok);
  assert.equal(security({ insecure: true }).connectFailureReason(plain.err.details), 'the peer closed the connection during setup: it probably requires TLS, and this side is plaintext (--insecure)');
  const plainPort = await serve(security({ insecure: true }).serverCredentials('127.0.0.1:0', 'require'));
  const tlsClient = await dial(plainPort, pki.coordinator(), 'agent');
  assert.deepEqual(failure(tlsClient), { kind: 'node_error', reason: 'the peer does not speak TLS (a plaintext endpoint; is it running with --insecure?)' });
  assert.ok(!tlsClient.ok);
  assert.equal(security(pki.coordinator()).connectFailureReason(tlsClient.err.details), 'the peer does not speak TLS (a plaintext endpoint; is it running with --insecure?)');
});

test('the coordinator refuses an agent whose certificate names another node', async () => {
  const address = await serveTls(pki.agent('n2'), 'require');
  const f = failure(await dial(address, pki.coordinator(), identities.agent('n1')));
  assert.deepEqual(f, { kind: 'node_error', reason: 'identity mismatch: expected spiffe://quell/agent/n1, peer presented spiffe://quell/agent/n2' });
  // the client library's message names the peer around the same reason
  assert.ok(!f.reason.includes('Resolution note'));
  const wrongRole = failure(await dial(await serveTls(pki.workload(), 'request'), pki.anonymous(), 'coordinator'));
  assert.equal(wrongRole.reason, 'identity mismatch: expected spiffe://quell/coordinator, peer presented spiffe://quell/workload');
  assert.ok(transportReason(`No connection established. Last error: Error: ${wrongRole.reason}. Resolution note: `).startsWith('identity mismatch'));
});

test('plaintext needs --insecure and loopback; TLS needs its CA; a process is checked against its role', () => {
  assert.throws(() => TransportSecurity.from({}).serverCredentials('127.0.0.1:9701', 'require'), /plaintext only with --insecure/);
  assert.throws(() => TransportSecurity.from({ insecure: true }).serverCredentials('0.0.0.0:9701', 'require'), /0\.0\.0\.0:9701 is not a loopback address/);
  assert.throws(() => TransportSecurity.from({ insecure: true }).channelCredentials('10.1.2.3:9700', 'coordinator'), /10\.1\.2\.3:9700 is not a loopback address/);
  assert.throws(() => TransportSecurity.from({ cert: pki.agent('n1').cert, key: pki.agent('n1').key }), /--tls-ca is required/);
  assert.throws(() => TransportSecurity.from({ ...pki.agent('n1'), insecure: true }), /--insecure contradicts/);
  assert.throws(() => TransportSecurity.from({ ca: pki.ca, cert: pki.agent('n1').cert }), /needs its key/);
  assert.throws(() => TransportSecurity.from({ ca: pki.ca, cert: pki.agent('n1').cert, key: pki.agent('n2').key }), /agent-n2-key\.pem is not the key of .*agent-n1\.pem/);
  assert.throws(() => TransportSecurity.from({ ca: path.join(scratch, 'missing.pem') }), /TLS files unusable: ENOENT/);
  assert.throws(() => TransportSecurity.from(pki.anonymous()).serverCredentials('127.0.0.1:1', 'request'), /a server needs its own certificate/);
  const n1 = TransportSecurity.from(pki.agent('n1'));
  assert.doesNotThrow(() => n1.requireOwnIdentity(identities.agent('n1')));
  assert.throws(() => n1.requireOwnIdentity(identities.agent('n2')), /agent-n1\.pem is spiffe:\/\/quell\/agent\/n1, but this process is spiffe:\/\/quell\/agent\/n2/);
  assert.throws(() => TransportSecurity.from(pki.anonymous()).requireOwnIdentity('coordinator'), /a certificate for spiffe:\/\/quell\/coordinator is required/);
});

function copyPair(from: TlsOptions, dir: string): TlsOptions {
  const cert = path.join(dir, 'tls.pem');
  const key = path.join(dir, 'tls-key.pem');
  copyFileSync(from.cert as string, cert);
  copyFileSync(from.key as string, key);
  return { ca: from.ca, cert, key };
}

/** Replaces the files as an operator's tooling would: each one atomically, certificate first. */
function rotate(to: TlsOptions, from: TlsOptions, parts: 'cert' | 'both' = 'both'): void {
  copyFileSync(from.cert as string, `${to.cert as string}.new`);
  renameSync(`${to.cert as string}.new`, to.cert as string);
  if (parts === 'cert') return;
  copyFileSync(from.key as string, `${to.key as string}.new`);
  renameSync(`${to.key as string}.new`, to.key as string);
}

test('rotation: new connections present the new certificate, a half-written rotation is not used', async () => {
  const dir = mkdtempSync(path.join(scratch, 'rot-'));
  const files = copyPair(pki.agent('n4'), dir);
  const server = security(files);
  const address = await serve(server.serverCredentials('127.0.0.1:0', 'require'));
  assert.equal(caller(await dial(address, pki.coordinator(), identities.agent('n4'))), 'spiffe://quell/coordinator');

  rotate(files, pki.agent('n5'), 'cert');
  assert.equal(server.reloadNow(), false, 'a certificate without its key is not taken');
  assert.equal(caller(await dial(address, pki.coordinator(), identities.agent('n4'))), 'spiffe://quell/coordinator');

  rotate(files, pki.agent('n5'));
  assert.equal(server.reloadNow(), true);
  assert.equal(caller(await dial(address, pki.coordinator(), identities.agent('n5'))), 'spiffe://quell/coordinator');
  assert.equal(failure(await dial(address, pki.coordinator(), identities.agent('n4'))).reason, 'identity mismatch: expected spiffe://quell/agent/n4, peer presented spiffe://quell/agent/n5');
  assert.equal(server.identity && formatIdentity(server.identity), 'spiffe://quell/agent/n5');
});

test('rotation without being told: the files are watched, for clients too', async () => {
  const address = await serveTls(pki.agent('n6'), 'require');
  const dir = mkdtempSync(path.join(scratch, 'rot-'));
  const files = copyPair(pki.user('alice'), dir);
  const client = security({ ...files, reloadIntervalMs: 20 });
  const creds = client.channelCredentials(address, identities.agent('n6'));
  assert.equal(caller(await info(address, creds)), 'spiffe://quell/user/alice');
  rotate(files, pki.user('bob'));
  // the watcher runs on its own; each new connection shows what it has taken so far
  let seen = 'spiffe://quell/user/alice';
  for (let i = 0; i < 500 && seen === 'spiffe://quell/user/alice'; i++) {
    await new Promise((r) => setTimeout(r, 20));
    seen = caller(await info(address, client.channelCredentials(address, identities.agent('n6'))));
  }
  assert.equal(seen, 'spiffe://quell/user/bob');
});

/** The daemon's JSON log lines whose msg starts with `prefix`. */
function logLines(child: Child, prefix: string): string[] {
  return child
    .stderr()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => String((JSON.parse(l) as { msg?: unknown }).msg))
    .filter((m) => m.startsWith(prefix));
}

async function until(what: string, check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 50));
  assert.ok(check(), `timed out waiting for ${what}`);
}

test('a daemon logs each rotation of its certificate, and quell_tls_cert_expiry_seconds follows it', async () => {
  const etcd = await startEtcd();
  const dir = mkdtempSync(path.join(scratch, 'daemon-rot-'));
  const files = copyPair(pki.coordinator(), dir);
  const ca = { cert: pki.ca, key: path.join(pki.dir, 'ca-key.pem') };
  const coordinator = spawnQuell(['coordinator', '--etcd', etcd.url, '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0', ...pki.argv(files)]);
  try {
    const ready = await coordinator.waitFor((e) => e.event === 'ready');
    const expiry = async (): Promise<number | undefined> =>
      parseExposition((await scrape(String(ready.metrics), pki.ca)).body).value('quell_tls_cert_expiry_seconds', { identity: 'spiffe://quell/coordinator' });
    const notAfter = (file: string): Date => new Date(new X509Certificate(readFileSync(file)).validTo);
    assert.equal(await expiry(), Math.floor(notAfter(files.cert as string).getTime() / 1000));

    const fresh = await issueCert(path.join(dir, 'fresh'), ca, 'coordinator', identities.coordinator(), { days: 2 });
    const freshTo = notAfter(fresh.cert).toISOString();
    rotate(files, { ca: pki.ca, ...fresh });
    const accepted = `TLS rotation accepted: ${files.cert as string} (spiffe://quell/coordinator) valid until ${freshTo}`;
    await until('the accepted line', () => logLines(coordinator, 'TLS rotation accepted').includes(accepted));
    assert.equal(await expiry(), Math.floor(notAfter(fresh.cert).getTime() / 1000));

    const expired = await issueCert(path.join(dir, 'expired'), ca, 'coordinator', identities.coordinator(), { expired: true });
    rotate(files, { ca: pki.ca, ...expired });
    const rejected = `TLS rotation rejected, keeping the certificate valid until ${freshTo}: ${files.cert as string} (spiffe://quell/coordinator) expired at 2020-01-02T00:00:00.000Z`;
    await until('the rejected line', () => logLines(coordinator, 'TLS rotation rejected').includes(rejected));
    assert.equal(await expiry(), Math.floor(notAfter(fresh.cert).getTime() / 1000), 'the accepted certificate stays');
    assert.deepEqual(logLines(coordinator, 'TLS rotation accepted'), [accepted], 'one accepted line for the one rotation');
  } finally {
    await coordinator.stop();
    await etcd.stop();
  }
});
