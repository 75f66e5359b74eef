import { TaskCancelledError } from 'cockatiel';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EtcdAuthenticationFailedError, EtcdPermissionDeniedError } from 'etcd3';
import { connectEtcd, etcdUnavailable, EtcdTimeoutError, withinDeadline } from '../../common/etcd/client';
import { errorText } from '../../errors/error-text';
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

test('an etcd call without an answer in time reads as an unreachable etcd, naming the timeout', async () => {
  // the client's own call timeout (connectEtcd's policy), in cockatiel's words
  const call = etcdUnavailable(['http://127.0.0.1:9'], new TaskCancelledError('Operation timed out after 3000ms'));
  assert.equal(call.errorName, 'ALL_CONNECTION_TRIES_FAILED');
  assert.equal(call.retryable, true);
  assert.equal(call.message, 'etcd at http://127.0.0.1:9 is unreachable: no answer within 3 s (down, partitioned or without quorum)');
  // a statement's deadline (distributed_ddl_task_timeout) over work that never ends
  const started = Date.now();
  const err = await withinDeadline(50, new Promise(() => undefined)).catch((e: unknown) => e);
  assert.ok(err instanceof EtcdTimeoutError);
  assert.ok(Date.now() - started < 1_000);
  assert.equal(etcdUnavailable(['http://127.0.0.1:9'], err).message, 'etcd at http://127.0.0.1:9 is unreachable: no answer within 0.05 s (down, partitioned or without quorum)');
  assert.equal(await withinDeadline(1_000, Promise.resolve('answered')), 'answered');
});

test('a password in an --etcd URL is never shown: not in errors, not in messages naming etcd', () => {
  const url = 'https://quell-agent:s3cret@etcd-1.example:2379';
  const refused = (() => {
    try {
      connectEtcd({ endpoints: ['https://etcd-0.example:2379', url] }).close();
      return undefined;
    } catch (err) {
      return err;
    }
  })();
  assert.ok(refused instanceof Error);
  assert.equal(
    refused.message,
    'etcd: https://quell-agent:***@etcd-1.example:2379 carries credentials in the URL, which quell does not send: give the user with --etcd-user and the password in QUELL_ETCD_PASSWORD',
  );
  const down = renderError(etcdUnavailable([url, 'http://u:p@ss@b:2379'], new Error(`14 UNAVAILABLE: Name resolution failed for target ${url}`)));
  assert.equal(down, 'Code: 279. ALL_CONNECTION_TRIES_FAILED: etcd at https://quell-agent:***@etcd-1.example:2379,http://u:***@b:2379 is unreachable: 14 UNAVAILABLE: Name resolution failed for target https://quell-agent:***@etcd-1.example:2379');
  // every caught error shown in a log line or a message goes through errorText
  assert.equal(errorText(new Error(`connect to ${url}/v3/kv failed`)), 'connect to https://quell-agent:***@etcd-1.example:2379/v3/kv failed');
  assert.equal(errorText(new Error('no credentials: https://etcd-1.example:2379 and http://user@host:1')), 'no credentials: https://etcd-1.example:2379 and http://user@host:1');
  for (const text of [refused.message, down]) assert.ok(!text.includes('s3cret') && !text.includes('p@ss'));
});
