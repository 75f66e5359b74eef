import { test } from 'node:test';
import assert from 'node:assert/strict';
import { QuellError } from '../../errors/quell-error';
import { statusCodeOf } from '../../common/grpc/rpc-status';
import { checkKillRequest, checkScanRequest } from '../../node-agent/service/request-check';
import { sessionDialect } from '../../coordinator/doors/grpc/session-dialect';

const refusal = (field: RegExp) => (err: unknown) =>
  err instanceof QuellError && err.errorName === 'BAD_ARGUMENTS' && field.test(err.message);

test('an agent refuses a kill whose target or mode is unspecified, naming the field (INVALID_ARGUMENT)', () => {
  assert.doesNotThrow(() => checkKillRequest({ target: 'KILL_TARGET_QUERY', mode: 'KILL_MODE_ASYNC' }));
  assert.throws(() => checkKillRequest({ target: 'KILL_TARGET_UNSPECIFIED', mode: 'KILL_MODE_SYNC' }), refusal(/^KillRequest\.target is unspecified/));
  assert.throws(() => checkKillRequest({ target: 'KILL_TARGET_MUTATION', mode: 'KILL_MODE_UNSPECIFIED' }), refusal(/^KillRequest\.mode is unspecified/));
  // a value from a newer sender that this agent does not know decodes as its number
  assert.throws(() => checkKillRequest({ target: 9 as unknown as 'KILL_TARGET_QUERY', mode: 'KILL_MODE_TEST' }), refusal(/^KillRequest\.target is 9, not one this agent knows/));
  assert.throws(
    () => checkKillRequest({ target: 'KILL_TARGET_CONNECTION', mode: 'KILL_MODE_UNSPECIFIED' }),
    (err: unknown) => err instanceof QuellError && statusCodeOf(err) === 3, // INVALID_ARGUMENT
  );
});

test('an agent refuses a scan whose table is unspecified, naming the field', () => {
  assert.doesNotThrow(() => checkScanRequest({ table: 'TABLE_KILL_LOG' }));
  assert.throws(() => checkScanRequest({ table: 'TABLE_UNSPECIFIED' }), refusal(/^ScanRequest\.table is unspecified/));
});

test("Execute's dialect: unspecified or unknown is no session dialect, not ClickHouse", () => {
  assert.equal(sessionDialect('DIALECT_CLICKHOUSE'), 'clickhouse');
  assert.equal(sessionDialect('DIALECT_MARIADB'), 'mariadb');
  assert.equal(sessionDialect('DIALECT_UNSPECIFIED'), undefined);
  assert.equal(sessionDialect(5), undefined);
});
