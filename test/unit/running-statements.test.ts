import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KillSwitch, RunningStatements, queryWasCancelled, type RunningStatement, type StatementKillRequest } from '../../coordinator/statements/running-statements';
import { pinnedQueryIds } from '../../coordinator/statements/kill/pinned-query-ids';
import { parseStatement } from '../../sql/parser';
import type { KillStatement } from '../../sql/ast';
import { renderError, type QuellError } from '../../errors/quell-error';
import { doorSessions } from '../../coordinator/doors/door-sessions';
import type { SessionHandle, SessionRegistry } from '../../coordinator/doors/sessions';

/** A statement that records its kills and ends when told (or at once on a kill when `stopsOnKill`). */
function statement(queryId: string, user: string, stopsOnKill = true): RunningStatement & { kills: string[]; end: () => void } {
  let end = (): void => undefined;
  const ended = new Promise<void>((resolve) => (end = resolve));
  const kills: string[] = [];
  return {
    queryId, user, sql: `SELECT '${queryId}'`, door: 'http', sessionId: undefined, address: '127.0.0.1:1', startedAt: Date.now(), ended, kills, end,
    kill: (reason) => {
      kills.push(reason);
      if (stopsOnKill) end();
    },
  };
}

const request = (over: Partial<StatementKillRequest>): StatementKillRequest => ({ queryIds: [], user: 'alice', mayKillOthers: false, reason: '', test: false, waitMs: 0, killerQueryId: 'k', ...over });

test("a kill by query_id: own statements are killed with the reason, others' are denied without the grant, the killer never kills itself", async () => {
  const r = new RunningStatements();
  const mine = statement('q1', 'alice');
  const bobs = statement('q2', 'bob');
  const killer = statement('k', 'alice');
  for (const s of [mine, bobs, killer]) r.add(s);
  const rows = await r.kill(request({ queryIds: ['q1', 'q2', 'k', 'nope'], reason: 'runaway' }));
  assert.deepEqual(rows.map((x) => [x.queryId, x.user, x.status]), [['q1', 'alice', 'KILL_STATUS_WAITING'], ['q2', 'bob', 'denied']]);
  assert.deepEqual([mine.kills, bobs.kills, killer.kills], [['runaway'], [], []]);
  const granted = await r.kill(request({ queryIds: ['q2'], mayKillOthers: true }));
  assert.deepEqual(granted.map((x) => x.status), ['KILL_STATUS_WAITING']);
  assert.deepEqual(bobs.kills, ['']);
});

test('TEST kills nothing; SYNC says finished once the statement ended, waiting when it did not within the wait', async () => {
  const r = new RunningStatements();
  const quick = statement('q1', 'alice');
  const stubborn = statement('q2', 'alice', false);
  r.add(quick);
  r.add(stubborn);
  assert.deepEqual((await r.kill(request({ queryIds: ['q1', 'q2'], test: true }))).map((x) => x.status), ['KILL_STATUS_UNKNOWN_STATUS', 'KILL_STATUS_UNKNOWN_STATUS']);
  assert.deepEqual([quick.kills, stubborn.kills], [[], []]);
  const rows = await r.kill(request({ queryIds: ['q1', 'q2'], waitMs: 50 }));
  assert.deepEqual(rows.map((x) => [x.queryId, x.status]), [['q1', 'KILL_STATUS_FINISHED'], ['q2', 'KILL_STATUS_WAITING']]);
  r.remove(quick);
  assert.deepEqual(r.list().map((s) => s.queryId), ['q2']);
});

test("door sessions: a busy MySQL session shows its statement's query_id, an idle one none; HTTP/gRPC statements are rows of their own; a viewer without PROCESS sees only its own", () => {
  const r = new RunningStatements();
  const onSession = (queryId: string, sessionId: number, user: string, startedAt: number): RunningStatement => ({ ...statement(queryId, user), door: 'mysql', sessionId, startedAt });
  r.add(onSession('m7-new', 7, 'alice', 2000));
  r.add(onSession('m7', 7, 'alice', 1000));
  r.add(onSession('m8', 8, 'bob', 1500));
  r.add({ ...statement('h1', 'alice'), startedAt: 3000 });
  const session = (id: number, user: string, command: 'Query' | 'Sleep'): SessionHandle => ({
    id, user, kill: () => undefined,
    process: () => ({ id, user, host: 'h:1', db: undefined, command, timeMs: 5, info: command === 'Query' ? 'SELECT 1' : undefined }),
  });
  const registry = { list: () => [session(7, 'alice', 'Query'), session(8, 'bob', 'Query'), session(9, 'alice', 'Sleep')] } as unknown as SessionRegistry;
  const rows = (seeAll: boolean) => doorSessions(registry, r, { user: 'alice', seeAll }).map((s) => [s.id, s.door, s.user, s.query_id]);
  assert.deepEqual(rows(true), [[7, 'mysql', 'alice', 'm7'], [8, 'mysql', 'bob', 'm8'], [9, 'mysql', 'alice', ''], [0, 'http', 'alice', 'h1']]);
  assert.deepEqual(rows(false), [[7, 'mysql', 'alice', 'm7'], [9, 'mysql', 'alice', ''], [0, 'http', 'alice', 'h1']]);
});

test("the killed statement's error: ClickHouse's 394 with the killer's reason when one was given", () => {
  assert.equal(renderError(queryWasCancelled('')), 'Code: 394. QUERY_WAS_CANCELLED: Query was cancelled');
  assert.equal(renderError(queryWasCancelled('nightly cleanup')), 'Code: 394. QUERY_WAS_CANCELLED: Query was cancelled: nightly cleanup');
});

test('only a WHERE that names query ids and nothing else reaches door statements', () => {
  const where = (sql: string) => (parseStatement(`KILL QUERY WHERE ${sql}`) as KillStatement).where;
  assert.deepEqual(pinnedQueryIds(where("query_id = 'a'")), ['a']);
  assert.deepEqual(pinnedQueryIds(where("'a' == query_id")), ['a']);
  assert.deepEqual(pinnedQueryIds(where("query_id IN ('a', 'b')")), ['a', 'b']);
  assert.deepEqual(pinnedQueryIds(where("query_id = 'a' OR query_id IN ('b') OR 'c' = query_id")), ['a', 'b', 'c']);
  for (const other of ["query_id LIKE 'a%'", "user = 'a'", "query_id = 'a' AND user = 'b'", 'query_id = 5', "query_id = 'a' OR user = 'b'", "query_id != 'a'", "query_id IN ('a', 1)", "lower(query_id) = 'a'"]) {
    assert.equal(pinnedQueryIds(where(other)), undefined, other);
  }
});

test("a kill switch: the client's going away or a kill aborts the statement; a kill's reason becomes 394, or goes to the door that answers itself", () => {
  const client = new AbortController();
  const plain = new KillSwitch(client.signal);
  assert.equal(plain.error(), undefined);
  plain.kill('too slow');
  plain.kill('again');
  assert.ok(plain.signal.aborted);
  assert.equal(renderError(plain.error() as QuellError), 'Code: 394. QUERY_WAS_CANCELLED: Query was cancelled: too slow');
  const gone = new KillSwitch(client.signal);
  client.abort();
  assert.ok(gone.signal.aborted);
  assert.equal(gone.error(), undefined, 'a client that went away was not killed');
  const told: string[] = [];
  const session = new KillSwitch(new AbortController().signal, (reason) => told.push(reason));
  session.kill('from B');
  assert.deepEqual(told, ['from B']);
  assert.equal(session.error(), undefined, 'the MySQL session answers 1317 itself');
  assert.ok(!session.signal.aborted, 'the session aborts its own statement');
  const late = new AbortController();
  late.abort();
  assert.ok(new KillSwitch(late.signal).signal.aborted, 'a client gone before the statement started');
  const lasting = new AbortController();
  const ended = new KillSwitch(lasting.signal);
  ended.dispose();
  lasting.abort();
  assert.ok(!ended.signal.aborted, 'an ended statement is unhooked from a signal that outlives it');
});
