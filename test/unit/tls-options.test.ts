import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addressHost, isLoopback, plaintextAllowed } from '../../common/tls/options';
import { CLOSED_DURING_SETUP, lastConnectError, tlsFailure } from '../../common/tls/failures';
import { toNodeFailure, transportReason } from '../../common/grpc/rpc-status';
import * as grpc from '@grpc/grpc-js';
import { TransportSecurity } from '../../common/tls';

test('loopback is judged by the address alone', () => {
  assert.equal(addressHost('127.0.0.1:9701'), '127.0.0.1');
  assert.equal(addressHost('[::1]:9701'), '::1');
  assert.equal(addressHost('dns:localhost:9700'), 'localhost');
  for (const a of ['127.0.0.1:9701', '127.3.2.1:1', 'localhost:9700', '[::1]:9701', 'LOCALHOST:1', 'unix:/tmp/agent.sock', '[::ffff:127.0.0.1]:5']) assert.ok(isLoopback(a), a);
  for (const a of ['0.0.0.0:9701', '10.0.0.1:9701', '[::]:9701', 'db1.example:9701', '128.0.0.1:1', 'localhost.evil.com:1']) assert.ok(!isLoopback(a), a);
});

test('plaintext only with --insecure, never on a non-loopback address', () => {
  assert.doesNotThrow(() => plaintextAllowed('127.0.0.1:9701', true));
  assert.doesNotThrow(() => plaintextAllowed('unix:/run/quell/agent.sock', false));
  assert.throws(() => plaintextAllowed('127.0.0.1:9701', false), /^QuellError: 127\.0\.0\.1:9701: no TLS certificate given .*plaintext only with --insecure, never on a non-loopback address$/);
  assert.throws(() => plaintextAllowed('0.0.0.0:9701', true), /0\.0\.0\.0:9701 is not a loopback address: plaintext only with --insecure/);
});

const grpcText = (last: string): string => `No connection established. Last error: ${last} (2026-11-25T23:43:19.506Z). Resolution note: `;

test('a listener that Node runs (the MySQL door) follows the same rule: plaintext only with --insecure on loopback', () => {
  const ignore = (): void => undefined;
  assert.equal(TransportSecurity.from({ insecure: true }).followServerCertificate('127.0.0.1:3306', ignore), false);
  assert.throws(() => TransportSecurity.from({}).followServerCertificate('127.0.0.1:3306', ignore), /no TLS certificate given/);
  assert.throws(() => TransportSecurity.from({ insecure: true }).followServerCertificate('0.0.0.0:3306', ignore), /is not a loopback address/);
});

test("grpc-js's TLS connect failures become one-line reasons", () => {
  assert.equal(lastConnectError(grpcText('Error: identity mismatch: expected spiffe://quell/agent/n1, peer presented spiffe://quell/agent/n2')), 'identity mismatch: expected spiffe://quell/agent/n1, peer presented spiffe://quell/agent/n2');
  const cases: [string, string][] = [
    ['Error: self-signed certificate in certificate chain', "the peer's certificate is not signed by our CA"],
    ['Error: certificate has expired', "the peer's certificate has expired"],
    ['Error: 80BC6518CB7F0000:error:0A00010B:SSL routines:ssl3_get_record:wrong version number:../deps/openssl/openssl/ssl/record/ssl3_record.c:350:\n', 'the peer does not speak TLS (a plaintext endpoint; is it running with --insecure?)'],
    ['80BC:error:0A00045C:SSL routines:ssl3_read_bytes:tlsv13 alert certificate required:../x.c:1601:SSL alert number 116\n', 'the peer requires a client certificate and we sent none'],
  ];
  for (const [last, reason] of cases) assert.deepEqual(tlsFailure(grpcText(last)), { reason, definite: true }, last);
  assert.deepEqual(tlsFailure(grpcText('Failed to connect')), { reason: 'the peer closed the connection during setup: it refused our certificate, or only one side uses TLS', definite: false });
  assert.equal(tlsFailure(grpcText('Error: connect ECONNREFUSED 127.0.0.1:9')), undefined);
});

test("the client transport's bare close during setup reads as the same reason, and only that exact text does", () => {
  assert.deepEqual(tlsFailure(CLOSED_DURING_SETUP), { reason: 'the peer closed the connection during setup: it refused our certificate, or only one side uses TLS', definite: false });
  assert.equal(transportReason(CLOSED_DURING_SETUP), 'the peer closed the connection during setup: it refused our certificate, or only one side uses TLS');
  assert.equal(tlsFailure(`${CLOSED_DURING_SETUP}: read ECONNRESET`), undefined);
});

test('a definite TLS failure is a node_error row, not an outage', () => {
  const err = (details: string): grpc.ServiceError => Object.assign(new Error(details), { code: grpc.status.UNAVAILABLE, details, metadata: new grpc.Metadata() });
  const mismatch = toNodeFailure(err(grpcText('Error: identity mismatch: expected spiffe://quell/agent/n1, peer presented spiffe://quell/agent/n2')));
  assert.deepEqual([mismatch.kind, mismatch.message], ['node_error', 'identity mismatch: expected spiffe://quell/agent/n1, peer presented spiffe://quell/agent/n2']);
  const closed = toNodeFailure(err(grpcText('Failed to connect')));
  assert.equal(closed.kind, 'node_unreachable');
  const refused = toNodeFailure(err(grpcText('Error: connect ECONNREFUSED 127.0.0.1:9')));
  assert.deepEqual([refused.kind, refused.message], ['node_unreachable', 'connect ECONNREFUSED 127.0.0.1:9']);
  assert.equal(transportReason(grpcText('Error: certificate has expired')), "the peer's certificate has expired");
});
