import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RunningConnection, type ConnectionKill, type WorkloadSession } from '../../client/workload-client';
import type { AttachRequest } from '../../proto/generated/quell/v1/AttachRequest';

/** A RunningConnection over a fake session that records what it sends. */
function connection(): { conn: RunningConnection; sent: AttachRequest[] } {
  const sent: AttachRequest[] = [];
  const session = { send: (m: AttachRequest) => sent.push(m), forgetConnection: () => undefined } as unknown as WorkloadSession;
  return { conn: new RunningConnection(42, session), sent };
}

const queryKill = (queryId: number, soft = false): ConnectionKill => ({ kind: 'cancel', soft, queryOnly: true, queryId });
const connectionKill = (soft = false): ConnectionKill => ({ kind: 'cancel', soft, queryOnly: false, queryId: 0 });

test('state() sends the merged snapshot; a new text starts a statement with its own signal', () => {
  const { conn, sent } = connection();
  conn.state({ info: 'BEGIN' });
  conn.state({ info: '', in_transaction: true });
  conn.state({ info: 'SELECT SLEEP(100)', examined_rows: 5 });
  assert.deepEqual(sent.at(-1), {
    connection_state: { thread_id: '42', info: 'SELECT SLEEP(100)', state: '', in_transaction: true, critical: false, examined_rows: '5', memory_used: '0' },
  });
  assert.ok(conn.statementSignal);
  conn.state({ info: '' });
  assert.equal(conn.statementSignal, undefined);
});

test('KILL QUERY hits only the statement the agent named; a kill for an ended statement is dropped', () => {
  const { conn } = connection();
  const heard: ConnectionKill[] = [];
  conn.onKill((k) => heard.push(k));
  conn.state({ info: 'BEGIN' });
  conn.state({ info: '' });
  conn.state({ info: 'SELECT SLEEP(100)' });
  // QueryStarted for BEGIN arrives after the long statement started: it names BEGIN, not it
  conn.statementStarted(101);
  assert.equal(conn.queryId, undefined);
  conn.kill(queryKill(101));
  assert.equal(conn.statementSignal?.aborted, false, 'the kill of BEGIN does not hit the next statement');
  conn.statementStarted(102);
  assert.equal(conn.queryId, 102);
  const signal = conn.statementSignal;
  conn.kill(queryKill(102));
  assert.equal(signal?.aborted, true);
  assert.equal((signal?.reason as ConnectionKill).queryOnly, true);
  assert.equal(conn.signal.aborted, false, 'the connection stays');
  assert.deepEqual(heard.map((k) => k.queryId), [102]);
});

test('a SOFT kill waits for the critical section to end; a HARD kill does not', () => {
  const soft = connection().conn;
  soft.state({ critical: true, info: 'SELECT SLEEP(100)' });
  soft.statementStarted(7);
  soft.kill(connectionKill(true));
  assert.equal(soft.signal.aborted, false);
  soft.state({ critical: false });
  assert.equal(soft.signal.aborted, true);
  assert.equal(soft.statementSignal?.aborted, true, 'a connection kill stops the statement too');

  const hard = connection().conn;
  hard.state({ critical: true });
  hard.kill(connectionKill(false));
  assert.equal(hard.signal.aborted, true);
});

test('a deferred SOFT KILL QUERY is dropped if its statement ended inside the critical section', () => {
  const { conn } = connection();
  conn.state({ critical: true, info: 'UPDATE t SET x = 1' });
  conn.statementStarted(9);
  conn.kill(queryKill(9, true));
  conn.state({ info: '' });
  conn.state({ info: 'SELECT 2' });
  conn.statementStarted(10);
  const next = conn.statementSignal;
  conn.state({ critical: false });
  assert.equal(next?.aborted, false);
});
