import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import { httpCredentials, httpStatementParams } from '../../coordinator/doors/http/http-request';
import { clickhouseExceptionText, httpStatusOf } from '../../coordinator/doors/http/http-errors';
import { chError, QuellError } from '../../errors/quell-error';

const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const params = (s = ''): URLSearchParams => new URLSearchParams(s);

function failure(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof QuellError);
    return `${e.code} ${e.message}`;
  }
  return 'no error';
}

test('credentials: headers, then Basic auth, then parameters; user default when none', () => {
  assert.deepEqual(httpCredentials({}, params()), { user: 'default', password: '', certificateAuth: false });
  assert.deepEqual(httpCredentials({}, params('user=alice&password=pw')), { user: 'alice', password: 'pw', certificateAuth: false });
  assert.deepEqual(httpCredentials({ authorization: basic('alice', 'p:w') }, params()), { user: 'alice', password: 'p:w', certificateAuth: false });
  assert.deepEqual(httpCredentials({ 'x-clickhouse-user': 'bob', 'x-clickhouse-key': 'k' }, params()), { user: 'bob', password: 'k', certificateAuth: false });
  const cert: IncomingHttpHeaders = { 'x-clickhouse-ssl-certificate-auth': 'on', 'x-clickhouse-user': 'alice', 'x-clickhouse-key': '' };
  assert.deepEqual(httpCredentials(cert, params()), { user: 'alice', password: '', certificateAuth: true });
});

test("credentials: ClickHouse's refusals of mixed and empty ones", () => {
  assert.equal(
    failure(() => httpCredentials({ authorization: basic('a', 'b') }, params('user=a'))),
    '516 Invalid authentication: it is not allowed to use Authorization HTTP header and authentication via parameters simultaneously',
  );
  assert.equal(
    failure(() => httpCredentials({ 'x-clickhouse-user': 'a', authorization: basic('a', 'b') }, params())),
    '516 Invalid authentication: it is not allowed to use X-ClickHouse HTTP headers and Authorization HTTP header simultaneously',
  );
  assert.equal(failure(() => httpCredentials({ 'x-clickhouse-key': 'k' }, params())), '516 Got an empty user name from X-ClickHouse HTTP headers');
  assert.equal(failure(() => httpCredentials({ authorization: basic('', 'x') }, params())), '516 Got an empty user name from Authorization HTTP header');
  assert.equal(failure(() => httpCredentials({}, params('user='))), '516 Got an empty user name from authentication via parameters');
  assert.equal(failure(() => httpCredentials({ authorization: 'Bearer abc' }, params())), "516 Invalid authentication: 'Bearer' HTTP Authorization scheme is not supported");
  assert.equal(
    failure(() => httpCredentials({ 'x-clickhouse-ssl-certificate-auth': 'on', 'x-clickhouse-user': 'a', 'x-clickhouse-key': 'pw' }, params())),
    '516 Invalid authentication: it is not allowed to use SSL certificate authentication and authentication via password simultaneously',
  );
});

test('format, query id and settings from parameters and headers', () => {
  const p = httpStatementParams({ 'x-clickhouse-query-id': 'h-1' }, params('query=SELECT%201&default_format=TSV&sync_kill_timeout=5&database=x&param_a=1&&wait_end_of_query=1'));
  assert.equal(p.query, 'SELECT 1');
  assert.equal(p.defaultFormat, 'TabSeparated');
  assert.equal(p.queryId, 'h-1');
  assert.deepEqual(p.settings, [{ name: 'sync_kill_timeout', value: '5', pos: 0 }]);
  const h = httpStatementParams({ 'x-clickhouse-format': 'JSON' }, params('default_format=CSV&query_id=p-1'));
  assert.equal(h.defaultFormat, 'JSON');
  assert.equal(h.queryId, 'p-1');
  assert.equal(h.query, undefined);
  assert.equal(httpStatementParams({}, params()).defaultFormat, 'TabSeparated');
  assert.equal(failure(() => httpStatementParams({}, params('max_threads=2'))), '115 Unknown setting max_threads');
  assert.equal(failure(() => httpStatementParams({}, params('default_format=Nope'))), '73 Unknown format Nope');
  assert.match(failure(() => httpStatementParams({}, params('compress=1'))), /^48 compress=1/);
  assert.match(failure(() => httpStatementParams({ 'content-encoding': 'gzip' }, params())), /^48 Content-Encoding gzip is not supported/);
});

test("errors: ClickHouse's status per code and its exception text", () => {
  assert.equal(httpStatusOf(chError('AUTHENTICATION_FAILED', 'x')), 403);
  assert.equal(httpStatusOf(chError('ACCESS_DENIED', 'x')), 403);
  assert.equal(httpStatusOf(chError('SYNTAX_ERROR', 'x')), 400);
  assert.equal(httpStatusOf(chError('UNKNOWN_FORMAT', 'x')), 404);
  assert.equal(httpStatusOf(chError('TIMEOUT_EXCEEDED', 'x')), 408);
  assert.equal(httpStatusOf(chError('QUERY_WAS_CANCELLED', 'x')), 500);
  assert.equal(httpStatusOf(QuellError.mariadb(1094, 'HY000', 'Unknown thread id: 9')), 500);
  assert.match(clickhouseExceptionText(chError('UNKNOWN_SETTING', 'Unknown setting foo')), /^Code: 115\. DB::Exception: Unknown setting foo\. \(UNKNOWN_SETTING\) \(version \d+\.\d+\.\d+ \(quell\)\)$/);
  // no second full stop after one the message ends with
  assert.match(clickhouseExceptionText(chError('AUTHENTICATION_FAILED', 'a: Authentication failed: no.')), /^Code: 516\. DB::Exception: a: Authentication failed: no\. \(AUTHENTICATION_FAILED\)/);
  assert.equal(clickhouseExceptionText(QuellError.mariadb(1094, 'HY000', 'Unknown thread id: 9')), 'ERROR 1094 (HY000): Unknown thread id: 9');
});
