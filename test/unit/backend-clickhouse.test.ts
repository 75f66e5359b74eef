import { test } from 'node:test';
import assert from 'node:assert/strict';
import { quote, serverError } from '../../node-agent/backends/clickhouse';

// Issue: the ClickHouse backend's text handling — literals it sends, errors it passes on.

test('quote() escapes backslash and quote the way the ClickHouse lexer reads them', () => {
  assert.equal(quote('abc'), "'abc'");
  assert.equal(quote("it's"), "'it\\'s'");
  assert.equal(quote('a\\b'), "'a\\\\b'");
  assert.equal(quote("\\'"), "'\\\\\\''");
});

test('serverError() gives 18.16 and newer error texts one form', () => {
  assert.equal(
    serverError('Code: 62, e.displayText() = DB::Exception: Syntax error: failed at position 6: MUTATION WHERE x. Expected QUERY, e.what() = DB::Exception\n', 400),
    'Code: 62. DB::Exception: Syntax error: failed at position 6: MUTATION WHERE x. Expected QUERY',
  );
  assert.equal(
    serverError('Code: 60. DB::Exception: Table default.nope does not exist. (UNKNOWN_TABLE) (version 23.8.1.1)\n', 404),
    'Code: 60. DB::Exception: Table default.nope does not exist. (UNKNOWN_TABLE) (version 23.8.1.1)',
  );
  assert.equal(serverError('  \n', 502), 'HTTP 502');
  assert.equal(serverError('line one\nline two', 500), 'line one line two');
});
