import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseStatement } from '../../sql/parser';
import type { SelectStatement, ShowProcesslistStatement } from '../../sql/ast';
import { select, showProcesslist } from '../../coordinator/statements/select/select';
import type { ResultSink, StatementContext } from '../../coordinator/context';
import type { ListSessionsRequest } from '../../proto/generated/quell/v1/ListSessionsRequest';
import type { ListSessionsResponse__Output } from '../../proto/generated/quell/v1/ListSessionsResponse';
import { QuellError } from '../../errors/quell-error';
import type { SqlValue } from '../../sql/types';
import { coordinatorRecord } from './coordinator-record';

const coordinator = coordinatorRecord;

/** Coordinator A, whose peer B lists one statement; `asked` counts ListSessions calls. */
function harness() {
  const asked: ListSessionsRequest[] = [];
  const session = { id: 0, door: 'http', user: 'admin', host: '10.0.0.9', db: '', command: 'Query', time_ms: '1500', query_id: 'q-on-b', info: 'SELECT sleep(3)' };
  const ctx = {
    user: { name: 'admin', readonly: false, grants: new Set(['ALL']) },
    self: { id: 'A', address: '127.0.0.1:9701', live: true, statementsRunning: 1 },
    membership: { coordinators: () => [coordinator('A', 1), coordinator('B', 2)], hasCluster: (c: string) => c === 'c1' },
    defaultCluster: 'c1',
    maxResultRows: 0,
    signal: new AbortController().signal,
    pool: {
      coordinators: {
        listSessions: (_address: string, req: ListSessionsRequest): Promise<ListSessionsResponse__Output> => {
          asked.push(req);
          return Promise.resolve({ sessions: [session] } as unknown as ListSessionsResponse__Output);
        },
      },
    },
  } as unknown as StatementContext;
  const rows: (readonly SqlValue[])[] = [];
  const sink: ResultSink = { header: () => undefined, rows: (r) => Promise.resolve(void rows.push(...r)), warn: () => undefined };
  return { ctx, sink, asked, rows };
}

const fails = (name: string) => (e: unknown) => e instanceof QuellError && e.errorName === name;

test('system.sessions and SHOW FULL PROCESSLIST check the statement before they ask the other coordinators', async () => {
  const cases: [string, string][] = [
    ['SELECT nosuch FROM system.sessions', 'UNKNOWN_IDENTIFIER'],
    ['SELECT * FROM system.sessions FORMAT Nope', 'UNKNOWN_FORMAT'],
    ['SHOW FULL PROCESSLIST FORMAT Nope', 'UNKNOWN_FORMAT'],
    ['SHOW FULL PROCESSLIST ON CLUSTER nope', 'CLUSTER_DOESNT_EXIST'],
  ];
  for (const [sql, error] of cases) {
    const h = harness();
    const run = async (): Promise<unknown> => {
      const stmt = parseStatement(sql);
      return stmt.kind === 'select' ? select(stmt as SelectStatement, h.ctx, h.sink) : showProcesslist(stmt as ShowProcesslistStatement, h.ctx, h.sink);
    };
    await assert.rejects(run(), fails(error), sql);
    assert.equal(h.asked.length, 0, `${sql}: no coordinator was asked`);
  }
  // a statement that checks out asks B once, and lists what B runs
  const h = harness();
  await select(parseStatement("SELECT coordinator_id, query_id FROM system.sessions WHERE door = 'http'") as SelectStatement, h.ctx, h.sink);
  assert.equal(h.asked.length, 1);
  assert.deepEqual(h.rows, [['B', 'q-on-b']]);
});
