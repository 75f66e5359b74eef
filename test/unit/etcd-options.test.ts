import { BrokenCircuitError } from 'cockatiel';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EtcdAuthenticationFailedError, EtcdPermissionDeniedError } from 'etcd3';
import { connectEtcd, etcdUnavailable } from '../../common/etcd';
import { etcdFromFlags } from '../../cli/etcd-flags';
import { renderError } from '../../errors/quell-error';

test('etcd flags: the password (QUELL_ETCD_PASSWORD or its file, cli/config.ts) is used only with a user', () => {
  const flags = { etcd: 'https://a:2379, https://b:2379', 'etcd-ca': 'ca.pem', 'etcd-user': 'quell-agent', 'etcd-password': 'pw' };
  assert.deepEqual(etcdFromFlags(flags), {
    endpoints: ['https://a:2379', 'https://b:2379'],
    security: { ca: 'ca.pem', cert: undefined, key: undefined, user: 'quell-agent', password: 'pw' },
  });
  assert.equal(etcdFromFlags({ etcd: 'http://a:2379', 'etcd-password': 'pw' }).security.password, undefined);
});

test('unusable etcd options fail before any connection, naming the flag', () => {
  const message = (o: Parameters<typeof connectEtcd>[0]): string => {
    try {
      connectEtcd(o).close();
      return 'connected';
    } catch (err) {
      return err instanceof Error ? err.message : String(err);
    }
  };
  assert.equal(message({ endpoints: ['https://a:2379'], user: 'u' }), "etcd: user 'u' needs its password in QUELL_ETCD_PASSWORD");
  assert.equal(message({ endpoints: ['http://a:2379'], ca: '/dev/null' }), 'etcd: TLS files need https:// endpoints, got http://a:2379');
  assert.equal(message({ endpoints: ['https://a:2379'], cert: '/dev/null' }), 'etcd: --etcd-cert and --etcd-key go together');
  assert.match(message({ endpoints: ['https://a:2379'], ca: '/nonexistent/ca.pem' }), /^etcd: cannot read --etcd-ca \/nonexistent\/ca\.pem: ENOENT/);
  assert.equal(message({ endpoints: ['https://a:2379'], user: 'u', password: 'p' }), 'connected');
});

test('etcd errors: refused credentials, denied permissions and an unreachable etcd are told apart', () => {
  const hosts = ['https://10.0.0.5:2379'];
  assert.equal(
    renderError(etcdUnavailable(hosts, new EtcdAuthenticationFailedError('3 INVALID_ARGUMENT: etcdserver: authentication failed, invalid user ID or password'))),
    'Code: 516. AUTHENTICATION_FAILED: etcd at https://10.0.0.5:2379 refused the credentials: etcdserver: authentication failed, invalid user ID or password (check --etcd-user, QUELL_ETCD_PASSWORD and --etcd-cert)',
  );
  const denied = etcdUnavailable(hosts, new EtcdPermissionDeniedError('7 PERMISSION_DENIED: etcdserver: permission denied'));
  assert.equal(denied.errorName, 'ACCESS_DENIED');
  assert.equal(denied.retryable, false);
  assert.match(denied.message, /^etcd at https:\/\/10\.0\.0\.5:2379 denied the request: etcdserver: permission denied \(/);
  const down = etcdUnavailable(['http://127.0.0.1:9'], new Error('14 UNAVAILABLE: No connection established. Last error: connect ECONNREFUSED 127.0.0.1:9.'));
  assert.equal(down.message, 'etcd at http://127.0.0.1:9 is unreachable: connect ECONNREFUSED 127.0.0.1:9');
  assert.equal(down.retryable, true);
});

test("etcd's open circuit breaker reads as an unreachable etcd, not as the breaker's words", () => {
  const broken = etcdUnavailable(['http://127.0.0.1:9'], new BrokenCircuitError());
  assert.equal(broken.errorName, 'ALL_CONNECTION_TRIES_FAILED');
  assert.equal(broken.retryable, true);
  assert.equal(broken.message, 'etcd at http://127.0.0.1:9 is unreachable: its last calls failed (down, partitioned or without quorum); calls are tried again within 1 s');
  assert.doesNotMatch(broken.message, /circuit breaker/);
});
