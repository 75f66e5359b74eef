import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { notStartedStatus, remoteQuellError, STATUS_OF_ERROR, STATUS_OF_MARIADB_ERROR, statusCodeOf, toServiceError } from '../../common/grpc/rpc-status';
import { decodeStatusDetails, STATUS_DETAILS_TRAILER } from '../../common/grpc/status-details';
import { NOT_STARTED_TRAILER } from '../../common/grpc/call-status';
import { chError, ErrorCode, QuellError, type ErrorName } from '../../errors/quell-error';
import { ResultQueue, type Item } from '../../client/result-events';

// docs/grpc-status.md: one table of typed error → gRPC status, in code and on that page alike.

const DOC = path.join(__dirname, '..', '..', '..', 'docs', 'grpc-status.md');

/** The page's table rows: first cell (`NAME` or `1094 …`) → the status's name. */
function docRows(): Map<string, string> {
  const rows = new Map<string, string>();
  for (const line of readFileSync(DOC, 'utf8').split('\n')) {
    const m = /^\| `?([A-Z_]+|\d+)[`\s][^|]*\|[^|]*\| `([A-Z_]+)` \((\d+)\) \|$/.exec(line);
    if (!m) continue;
    assert.equal(grpc.status[m[2] as keyof typeof grpc.status], Number(m[3]), line);
    rows.set(m[1] as string, m[2] as string);
  }
  return rows;
}

test('every error name has a status, and docs/grpc-status.md shows the same table', () => {
  const names = Object.keys(ErrorCode) as ErrorName[];
  assert.deepEqual(names.filter((n) => STATUS_OF_ERROR[n] === undefined), [], 'names without a status');
  const doc = docRows();
  const code: [string, string][] = [
    ...names.map((n): [string, string] => [n, grpc.status[STATUS_OF_ERROR[n] as grpc.status]]),
    ...Object.entries(STATUS_OF_MARIADB_ERROR).map(([n, s]): [string, string] => [n, grpc.status[s]]),
  ];
  assert.deepEqual([...doc.entries()].sort(), code.sort());
});

test('the statuses the issue names', () => {
  const expect: [QuellError, grpc.status][] = [
    [chError('SYNTAX_ERROR', 'x'), grpc.status.INVALID_ARGUMENT],
    [chError('UNKNOWN_TABLE', 'x'), grpc.status.INVALID_ARGUMENT],
    [chError('NOT_AN_AGGREGATE', 'x'), grpc.status.INVALID_ARGUMENT],
    [chError('AUTHENTICATION_FAILED', 'x'), grpc.status.UNAUTHENTICATED],
    [chError('ACCESS_DENIED', 'x'), grpc.status.PERMISSION_DENIED],
    [chError('READONLY', 'x'), grpc.status.PERMISSION_DENIED],
    [chError('TOO_MANY_ROWS_OR_BYTES', 'x'), grpc.status.RESOURCE_EXHAUSTED],
    [chError('TIMEOUT_EXCEEDED', 'x'), grpc.status.DEADLINE_EXCEEDED],
    [chError('QUERY_WAS_CANCELLED', 'x'), grpc.status.CANCELLED],
    [chError('ALL_CONNECTION_TRIES_FAILED', 'x'), grpc.status.UNAVAILABLE],
    [chError('LOGICAL_ERROR', 'x'), grpc.status.INTERNAL],
    [chError('NOT_IMPLEMENTED', 'x'), grpc.status.UNIMPLEMENTED],
    [QuellError.mariadb(1094, 'HY000', 'Unknown thread id: 9'), grpc.status.NOT_FOUND],
    [QuellError.mariadb(1957, 'HY000', 'Unknown query id: 9'), grpc.status.NOT_FOUND],
    [QuellError.mariadb(1105, 'HY000', 'n2 did not answer'), grpc.status.FAILED_PRECONDITION],
    // the same number in the other dialect, and a name nobody mapped, are not guessed at
    [new QuellError(1094, 'HY000', 'x', 'clickhouse'), grpc.status.INTERNAL],
    [new QuellError(9999, 'SOMETHING_NEW', 'x'), grpc.status.INTERNAL],
  ];
  for (const [err, status] of expect) assert.equal(grpc.status[statusCodeOf(err)], grpc.status[status], `${err.errorName} ${err.code}`);
});

test('a failed call carries the error in its trailers and as a google.rpc.Status with an ErrorInfo', () => {
  const s = toServiceError(QuellError.mariadb(1094, 'HY000', 'Unknown thread id: 9'));
  assert.equal(s.code, grpc.status.NOT_FOUND);
  assert.equal(s.details, 'Unknown thread id: 9');
  const [bytes] = s.metadata?.get(STATUS_DETAILS_TRAILER) ?? [];
  assert.ok(bytes instanceof Buffer);
  assert.deepEqual(decodeStatusDetails(bytes), {
    code: grpc.status.NOT_FOUND,
    message: 'Unknown thread id: 9',
    errorInfo: { reason: 'HY000', domain: 'quell', metadata: { code: '1094', dialect: 'mariadb' } },
    detailTypes: ['type.googleapis.com/google.rpc.ErrorInfo'],
  });
  const err = Object.assign(new Error(s.details), s) as grpc.ServiceError;
  const back = remoteQuellError(err);
  assert.deepEqual([back?.code, back?.errorName, back?.dialect, back?.message], [1094, 'HY000', 'mariadb', 'Unknown thread id: 9']);

  // anything else: INTERNAL, with a Status and no ErrorInfo
  const other = toServiceError(new Error('boom'));
  assert.equal(other.code, grpc.status.INTERNAL);
  const rich = decodeStatusDetails(other.metadata?.get(STATUS_DETAILS_TRAILER)[0] as Buffer);
  assert.deepEqual([rich.code, rich.message, rich.errorInfo], [grpc.status.INTERNAL, 'boom', undefined]);
});

test('a draining coordinator refuses UNAVAILABLE with its not-started marker, and the details say UNAVAILABLE too', () => {
  const s = notStartedStatus(chError('ABORTED', 'the coordinator is shutting down; the statement was not started'));
  assert.equal(s.code, grpc.status.UNAVAILABLE);
  const err = Object.assign(new Error(s.details), s) as grpc.ServiceError;
  assert.equal(err.metadata.get(NOT_STARTED_TRAILER)[0], '1');
  const rich = decodeStatusDetails(s.metadata?.get(STATUS_DETAILS_TRAILER)[0] as Buffer);
  assert.deepEqual([rich.code, rich.errorInfo?.reason], [grpc.status.UNAVAILABLE, 'ABORTED']);
  assert.equal(remoteQuellError(err)?.code, 236);
});

async function drain(q: ResultQueue): Promise<Item[]> {
  const items: Item[] = [];
  for await (const item of q.results) items.push(item);
  return items;
}

test("a client's result: the End's error, and the status after it adds nothing; a status without an End is the error", async () => {
  const call = { pause: () => undefined, resume: () => undefined };
  const fromEnd = chError('SYNTAX_ERROR', 'from the End');
  const q = new ResultQueue(call);
  q.push(fromEnd);
  q.fail(chError('SYNTAX_ERROR', 'from the status'));
  q.close();
  assert.deepEqual(await drain(q), [fromEnd]);

  const ok = new ResultQueue(call);
  const end: Item = { kind: 'end', rows: 0, elapsedSeconds: 0, affectedRows: 0, warnings: [] };
  ok.push(end);
  ok.fail(chError('NETWORK_ERROR', 'a status after a whole result'));
  ok.close();
  assert.deepEqual(await drain(ok), [end]);

  const broken = new ResultQueue(call);
  const lost = chError('NETWORK_ERROR', 'connection dropped');
  broken.fail(lost);
  broken.close();
  assert.deepEqual(await drain(broken), [lost]);
});
