import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import { AgentSession, type SessionTransport } from '../../coordinator/cluster/agent-session';
import { TurnFlusher } from '../../common/mux/turn-flusher';
import { NodeFailure } from '../../common/grpc/rpc-status';
import { chError, QuellError } from '../../errors/quell-error';
import { toInBandError } from '../../common/grpc/rpc-status';
import type { KillRequest } from '../../proto/generated/quell/v1/KillRequest';
import type { ScanRequest } from '../../proto/generated/quell/v1/ScanRequest';
import type { SessionCall__Output } from '../../proto/generated/quell/v1/SessionCall';
import type { SessionRequest__Output } from '../../proto/generated/quell/v1/SessionRequest';
import { encodeKillRequest, encodeScanRequest, encodeSessionRequest } from '../../proto/session-request-codec';
import { quellProto } from '../../proto/load';
import type { SessionReply__Output } from '../../proto/generated/quell/v1/SessionReply';
import type { NodeStream } from '../../coordinator/cluster/fanout';

/** The Session call as the test drives it: what the coordinator wrote, and the agent's side by hand. */
class FakeTransport extends EventEmitter implements SessionTransport {
  /** what the coordinator wrote, decoded as the agent decodes it */
  readonly written: SessionRequest__Output[] = [];
  cancelled = false;
  write(message: Buffer): boolean {
    this.written.push(quellProto().agent.quell.v1.NodeAgentService.service.Session.requestDeserialize(message));
    return true;
  }
  cancel(): void {
    this.cancelled = true;
  }
  /** every call the coordinator sent, across messages */
  get calls(): SessionCall__Output[] {
    return this.written.flatMap((m) => m.calls ?? []);
  }
  reply(...replies: Partial<SessionReply__Output>[]): void {
    this.emit('data', { replies: replies.map((r) => ({ tag: 0, ...r })) });
  }
  breakWith(code: grpc.status, details: string): void {
    this.emit('error', Object.assign(new Error(details), { code, details, metadata: new grpc.Metadata() }));
    this.emit('status', { code, details });
  }
}

function session(): { s: AgentSession; transports: FakeTransport[]; flusher: TurnFlusher } {
  const transports: FakeTransport[] = [];
  const flusher = new TurnFlusher();
  const s = new AgentSession(() => {
    const t = new FakeTransport();
    transports.push(t);
    return t;
  }, flusher);
  return { s, transports, flusher };
}

const killReq = (statement_id: string): KillRequest => ({ target: 'KILL_TARGET_QUERY', where: "equals(user, 'etl')", mode: 'KILL_MODE_ASYNC', statement_id, user: 'default', may_kill_others: true });
const scanReq = (statement_id: string): ScanRequest => ({ table: 'TABLE_PROCESSES', where: '', expressions: ['query_id'], statement_id, user: 'default', see_all_users: true });
const kill = (statement_id: string): Buffer => encodeKillRequest(killReq(statement_id));
const scan = (statement_id: string): Buffer => encodeScanRequest(scanReq(statement_id));
/** a call as the agent reads it: its tag and what it is */
const brief = (c: SessionCall__Output | undefined) => c && { tag: c.tag, kind: c.kind, cancel: c.cancel, credit: c.credit };

/** What a call reported, in order: messages, then its end or failure. */
function record<T>(stream: NodeStream<T>): string[] {
  const out: string[] = [];
  stream.on('data', (m) => out.push(`data ${JSON.stringify(m)}`));
  stream.on('end', () => out.push('end'));
  stream.on('error', (err) => out.push(err instanceof NodeFailure ? `${err.kind}: ${err.message}` : `error ${String(err)}`));
  return out;
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test('statements started in one turn reach the agent in one message, each with its own tag and statement id', async () => {
  const { s, transports } = session();
  s.kill(kill('st-1'));
  s.kill(kill('st-2'));
  s.scan(scan('st-3'));
  assert.equal(transports.length, 1);
  const t = transports[0]!;
  assert.equal(t.written.length, 0, 'nothing is written before the turn ends');
  await nextTurn();
  assert.equal(t.written.length, 1);
  const calls = t.calls;
  assert.deepEqual(calls.map((c) => c.kill?.statement_id ?? c.scan?.statement_id), ['st-1', 'st-2', 'st-3']);
  assert.equal(new Set(calls.map((c) => c.tag)).size, 3);
  s.kill(kill('st-4'));
  await nextTurn();
  assert.equal(t.written.length, 2, 'a later turn is a later message on the same stream');
  assert.equal(transports.length, 1);
});

test('replies are routed by tag: plans, rows and ends reach only their own statement', async () => {
  const { s, transports } = session();
  const a = record(s.kill(kill('a')));
  const b = record(s.kill(kill('b')));
  await nextTurn();
  const t = transports[0]!;
  const [ta, tb] = t.calls.map((c) => c.tag);
  t.reply({ tag: tb, kind: 'kill', kill: { plan: { eligible: 1, skipped: 0, skipped_owner: '', skipped_id: '', planned: [] } } }, { tag: ta, kind: 'kill', kill: { plan: { eligible: 0, skipped: 0, skipped_owner: '', skipped_id: '', planned: [] } } });
  t.reply({ tag: ta, kind: 'end', end: true }, { tag: tb, kind: 'kill', kill: { process: { query_id: 'q1' } } as never });
  t.reply({ tag: tb, kind: 'end', end: true });
  assert.deepEqual(a, ['data {"plan":{"eligible":0,"skipped":0,"skipped_owner":"","skipped_id":"","planned":[]}}', 'end']);
  assert.deepEqual(b, ['data {"plan":{"eligible":1,"skipped":0,"skipped_owner":"","skipped_id":"","planned":[]}}', 'data {"process":{"query_id":"q1"}}', 'end']);
  assert.equal(s.inFlight, 0);
});

test('a broken stream fails exactly the statements in flight on it, as node_unreachable; the next statement opens a new stream', async () => {
  const { s, transports } = session();
  const done = record(s.kill(kill('done')));
  const open1 = record(s.kill(kill('open-1')));
  const open2 = record(s.scan(scan('open-2')));
  await nextTurn();
  const t = transports[0]!;
  t.reply({ tag: t.calls[0]!.tag, kind: 'end', end: true });
  t.breakWith(grpc.status.UNAVAILABLE, 'Connection dropped');
  assert.deepEqual(done, ['end']);
  assert.deepEqual(open1, ['node_unreachable: Connection dropped']);
  assert.deepEqual(open2, ['node_unreachable: Connection dropped']);
  assert.equal(s.inFlight, 0);
  const later = record(s.kill(kill('later')));
  assert.equal(transports.length, 2, 'a statement after the break opens a stream at once');
  await nextTurn();
  const t2 = transports[1]!;
  assert.deepEqual(t2.calls.map((c) => c.kill?.statement_id), ['later']);
  t2.reply({ tag: t2.calls[0]!.tag, kind: 'end', end: true });
  assert.deepEqual(later, ['end']);
});

test('a stream that the agent ends cleanly fails its calls as unreachable; a refused session is node_error', async () => {
  const { s, transports } = session();
  const a = record(s.kill(kill('a')));
  transports[0]!.emit('status', { code: grpc.status.OK });
  assert.deepEqual(a, ['node_unreachable: the agent ended the session (it is shutting down)']);
  const b = record(s.kill(kill('b')));
  const refused = chError('AUTHENTICATION_FAILED', 'Session refused: needs a coordinator certificate');
  const status = { code: grpc.status.FAILED_PRECONDITION, details: refused.message, metadata: new grpc.Metadata() };
  status.metadata.set('quell-error-code', String(refused.code));
  status.metadata.set('quell-error-name', refused.errorName);
  transports[1]!.emit('error', Object.assign(new Error(refused.message), status));
  assert.deepEqual(b, ['node_error: Session refused: needs a coordinator certificate']);
});

test('cancel reaches the agent as a cancel message for that tag; its late replies are dropped', async () => {
  const { s, transports } = session();
  const a = s.kill(kill('a'));
  const seen = record(a);
  const b = record(s.kill(kill('b')));
  await nextTurn();
  const t = transports[0]!;
  const [ta, tb] = t.calls.map((c) => c.tag);
  a.cancel();
  assert.deepEqual(seen, ['node_unreachable: cancelled by the coordinator']);
  await nextTurn();
  const cancels = t.written[1]?.calls ?? [];
  assert.deepEqual(cancels.map(brief), [{ tag: ta, kind: 'cancel', cancel: true, credit: undefined }]);
  t.reply({ tag: ta, kind: 'kill', kill: { plan: { eligible: 1, skipped: 0, skipped_owner: '', skipped_id: '', planned: [] } } }, { tag: tb, kind: 'end', end: true });
  assert.deepEqual(seen, ['node_unreachable: cancelled by the coordinator'], 'nothing after the cancel');
  assert.deepEqual(b, ['end']);
  a.cancel();
  await nextTurn();
  assert.equal(t.written.length, 2, 'a second cancel sends nothing');
});

test('the agent failing a call in band: a QuellError is node_error with its code; a draining agent is node_unreachable', async () => {
  const { s, transports } = session();
  const a = s.kill(kill('a'));
  let failure: NodeFailure | undefined;
  a.on('error', (err) => {
    failure = err as NodeFailure;
  });
  const b = record(s.scan(scan('b')));
  await nextTurn();
  const t = transports[0]!;
  const [ta, tb] = t.calls.map((c) => c.tag);
  t.reply({ tag: ta, kind: 'error', error: toInBandError(chError('UNKNOWN_TABLE', 'Table x is not served by this agent')) });
  t.reply({ tag: tb, kind: 'error', error: toInBandError(chError('ABORTED', 'the agent is shutting down'), true) });
  assert.equal(failure?.kind, 'node_error');
  assert.ok(failure?.cause instanceof QuellError && failure.cause.errorName === 'UNKNOWN_TABLE');
  assert.deepEqual(b, ['node_unreachable: the agent is shutting down']);
});

test('scans acknowledge each block; a paused scan holds its acknowledgements until it resumes', async () => {
  const { s, transports } = session();
  const call = s.scan(scan('r'));
  record(call);
  await nextTurn();
  const t = transports[0]!;
  const tag = t.calls[0]!.tag;
  t.reply({ tag, kind: 'scan', scan: { rows: [] } }, { tag, kind: 'scan', scan: { rows: [] } });
  await nextTurn();
  assert.deepEqual(t.written[1]?.calls.map(brief), [{ tag, kind: 'credit', cancel: undefined, credit: 2 }], 'two blocks, one credit message');
  call.pause();
  t.reply({ tag, kind: 'scan', scan: { rows: [] } }, { tag, kind: 'scan', scan: { rows: [] } }, { tag, kind: 'scan', scan: { rows: [] } });
  await nextTurn();
  assert.equal(t.written.length, 2, 'no credit while paused');
  call.resume();
  await nextTurn();
  assert.deepEqual(t.written[2]?.calls.map(brief), [{ tag, kind: 'credit', cancel: undefined, credit: 3 }]);
});

function fakeTimers(t: TestContext): void {
  t.mock.timers.enable({ apis: ['setTimeout'] });
}

test('a broken stream is reopened in the background with backoff, which the agent answering resets', (t) => {
  fakeTimers(t);
  const { s, transports } = session();
  s.open();
  assert.equal(transports.length, 1);
  transports[0]!.breakWith(grpc.status.UNAVAILABLE, 'connect ECONNREFUSED');
  assert.equal(transports.length, 1, 'not at once');
  t.mock.timers.tick(100);
  assert.equal(transports.length, 2, 'within the first backoff step');
  transports[1]!.breakWith(grpc.status.UNAVAILABLE, 'connect ECONNREFUSED');
  t.mock.timers.tick(100);
  t.mock.timers.tick(100);
  assert.equal(transports.length, 3, 'within the second step (100 to 200 ms)');
  transports[2]!.emit('metadata');
  transports[2]!.breakWith(grpc.status.UNAVAILABLE, 'Connection dropped');
  t.mock.timers.tick(100);
  assert.equal(transports.length, 4, 'an answered stream resets the backoff');
  s.close('the node left the cluster');
  assert.ok(transports[3]!.cancelled);
  t.mock.timers.tick(10_000);
  assert.equal(transports.length, 4, 'a closed session is not reopened');
  assert.throws(() => s.kill(kill('x')), NodeFailure);
});

test('closing a session fails its calls with the reason', () => {
  const { s } = session();
  const a = record(s.kill(kill('a')));
  s.close('the agent moved to 127.0.0.1:9999');
  assert.deepEqual(a, ['node_unreachable: the agent moved to 127.0.0.1:9999']);
});

test('the hand-written SessionRequest encoding decodes as the agent reads it (multi-byte tags, lengths and credits)', () => {
  const where = `equals(query_id, '${'q'.repeat(1000)}')`;
  const encoded = encodeSessionRequest([
    { tag: 300, kill: encodeKillRequest({ ...killReq('st-big'), where }) },
    { tag: 2 ** 32 - 1, scan: encodeScanRequest(scanReq('st-scan')) },
    { tag: 5, cancel: true },
    { tag: 6, credit: 100_000 },
  ]);
  const decoded = quellProto().agent.quell.v1.NodeAgentService.service.Session.requestDeserialize(encoded);
  assert.deepEqual(decoded.calls.map(brief), [
    { tag: 300, kind: 'kill', cancel: undefined, credit: undefined },
    { tag: 2 ** 32 - 1, kind: 'scan', cancel: undefined, credit: undefined },
    { tag: 5, kind: 'cancel', cancel: true, credit: undefined },
    { tag: 6, kind: 'credit', cancel: undefined, credit: 100_000 },
  ]);
  assert.equal(decoded.calls[0]?.kill?.where, where);
  assert.equal(decoded.calls[0]?.kill?.statement_id, 'st-big');
  assert.equal(decoded.calls[1]?.scan?.statement_id, 'st-scan');
});
