import { test } from 'node:test';
import assert from 'node:assert/strict';
import { QuellError } from '../../errors/quell-error';
import { NodeFailure, type NodeFailureKind } from '../../common/grpc/rpc-status';
import { INACTIVE_MESSAGE, KillMerge, type KillMergeOptions, type OutsideOutcome } from '../../coordinator/statements/kill/kill-merge';
import { KILL_MUTATION, KILL_QUERY } from '../../coordinator/statements/kill/kill-targets';
import type { FanoutEvent } from '../../coordinator/cluster/fanout';
import type { MemberNode } from '../../coordinator/cluster/membership';
import type { KillResponse__Output } from '../../proto/generated/quell/v1/KillResponse';
import type { KilledProcess__Output } from '../../proto/generated/quell/v1/KilledProcess';
import type { SqlValue } from '../../sql/types';
import type { ClockOffset } from '../../coordinator/cluster/clock-offsets';

type Event = FanoutEvent<KillResponse__Output>;

const node = (nodeId: string, port: number, active = true): MemberNode => ({ cluster: 'c3', nodeId, address: `127.0.0.1:${port}`, host: '127.0.0.1', port, active });
const N1 = node('n1', 9701);
const N2 = node('n2', 9702);
const N3 = node('n3', 9703);
const DOWN = node('n4', 9704, false);

const plan = (n: MemberNode, eligible: number, skipped = 0, owner = ''): Event => ({
  kind: 'message',
  node: n,
  message: { plan: { eligible, skipped, skipped_owner: owner, skipped_id: '', planned: [] } },
});

function proc(n: MemberNode, fields: Partial<KilledProcess__Output>): Event {
  const process: KilledProcess__Output = {
    status: 'KILL_STATUS_WAITING', query_id: '', user: '', query: '', database: '', table: '', mutation_id: '', command: '', thread_id: '', error: '', past_deadline_ms: '0', escalated: false, ...fields,
  };
  return { kind: 'message', node: n, message: { process } };
}
const query = (n: MemberNode, queryId: string, status: KilledProcess__Output['status'] = 'KILL_STATUS_WAITING'): Event =>
  proc(n, { status, query_id: queryId, user: 'alice', query: `SELECT '${queryId}'` });
const done = (n: MemberNode): Event => ({ kind: 'done', node: n });
const inactive = (n: MemberNode): Event => ({ kind: 'inactive', node: n });
const failed = (n: MemberNode, kind: NodeFailureKind, message: string): Event => ({ kind: 'failed', node: n, failure: new NodeFailure(kind, message) });

function merge(nodes: readonly MemberNode[], extra: Partial<KillMergeOptions> = {}): KillMerge {
  return new KillMerge({ target: KILL_QUERY, nodes, user: 'bob', queueMissed: false, throwOnNodeFailure: false, ...extra });
}

/** Feeds events in order; returns what was released after each one, then at the end. */
function feed(m: KillMerge, events: readonly Event[]): SqlValue[][][] {
  return [...events.map((ev) => m.push(ev)), m.end()];
}

const denied = (message: string) => (err: unknown) => err instanceof QuellError && err.errorName === 'ACCESS_DENIED' && err.message === message;

const queryRow = (n: MemberNode, queryId: string, status = 'waiting'): SqlValue[] => [status, queryId, 'alice', `SELECT '${queryId}'`, '127.0.0.1', n.port, n.nodeId, ''];
const nodeRow = (n: MemberNode, status: string, error: string): SqlValue[] => [status, '', '', '', '127.0.0.1', n.port, n.nodeId, error];

test('rows: held until every active node sent its plan, then passed straight through', () => {
  const m = merge([N1, N2]);
  const out = feed(m, [plan(N1, 2), query(N1, 'q1'), plan(N2, 1), query(N1, 'q2', 'KILL_STATUS_FINISHED'), query(N2, 'q3'), done(N1), done(N2)]);
  assert.deepEqual(out, [
    [],
    [],
    [queryRow(N1, 'q1')],
    [queryRow(N1, 'q2', 'finished')],
    [queryRow(N2, 'q3')],
    [],
    [],
    [],
  ]);
  assert.equal(m.rows, 3);
  assert.equal(m.failureError(), undefined);
});

test('none: a node that answers with its plan and no rows adds no row', () => {
  const m = merge([N1, N2], { throwOnNodeFailure: true });
  const out = feed(m, [plan(N2, 0), done(N2), plan(N1, 1), query(N1, 'q1'), done(N1)]);
  assert.deepEqual(out.flat(), [queryRow(N1, 'q1')]);
  assert.equal(m.failureError(), undefined, 'a node with nothing to kill did not fail');

  const empty = merge([N1, N2]);
  assert.deepEqual(feed(empty, [plan(N1, 0), plan(N2, 0), done(N1), done(N2)]).flat(), []);
  assert.equal(empty.rows, 0);
});

test('inactive: a node_inactive row, held back with the rest until the active nodes planned', () => {
  const m = merge([N1, DOWN]);
  const out = feed(m, [inactive(DOWN), plan(N1, 1), query(N1, 'q1'), done(N1)]);
  assert.deepEqual(out, [[], [nodeRow(DOWN, 'node_inactive', INACTIVE_MESSAGE)], [queryRow(N1, 'q1')], [], []]);

  // a cluster with no live member has no plan to wait for: its rows go out at the end
  const dead = merge([DOWN]);
  assert.deepEqual(feed(dead, [inactive(DOWN)]), [[], [nodeRow(DOWN, 'node_inactive', INACTIVE_MESSAGE)]]);
});

test('unreachable, timeout, error: one node row each, with the reason; each settles that node', () => {
  const cases: [NodeFailureKind, string][] = [
    ['node_unreachable', 'connect ECONNREFUSED 127.0.0.1:9702'],
    ['node_timeout', 'no answer within 10 s'],
    ['node_error', 'Code: 62. SYNTAX_ERROR: bad filter'],
  ];
  for (const [kind, message] of cases) {
    const m = merge([N1, N2]);
    const out = feed(m, [plan(N1, 1), query(N1, 'q1'), failed(N2, kind, message), done(N1)]);
    assert.deepEqual(out, [[], [], [queryRow(N1, 'q1'), nodeRow(N2, kind, message)], [], []], kind);
    assert.equal(m.failureError(), undefined, `${kind}: never_throw keeps node problems as rows`);
  }
});

test('a node that fails after its plan keeps the rows it sent and gets its node row', () => {
  const m = merge([N1]);
  const out = feed(m, [plan(N1, 2), query(N1, 'q1', 'KILL_STATUS_FINISHED'), failed(N1, 'node_unreachable', 'stream broken')]);
  assert.deepEqual(out.flat(), [queryRow(N1, 'q1', 'finished'), nodeRow(N1, 'node_unreachable', 'stream broken')]);
});

test('ACCESS_DENIED: decided on the last plan, before any row is released', () => {
  const m = merge([N1, N2, DOWN]);
  const released: SqlValue[][] = [];
  for (const ev of [inactive(DOWN), plan(N1, 0, 2, 'alice')]) released.push(...m.push(ev));
  assert.throws(() => m.push(plan(N2, 0)), denied('User bob attempts to kill query created by alice'));
  assert.deepEqual(released, [], 'nothing, not even the inactive node row, went out before the denial');
});

test('ACCESS_DENIED: a failed last node settles the plan phase too', () => {
  const m = merge([N1, N2]);
  assert.deepEqual(m.push(plan(N1, 0, 1, 'alice')), []);
  assert.throws(() => m.push(failed(N2, 'node_timeout', 'no answer within 10 s')), denied('User bob attempts to kill query created by alice'));
});

test('no denial when something is eligible somewhere: skipped processes are just left out', () => {
  const m = merge([N1, N2]);
  const out = feed(m, [plan(N1, 0, 3, 'alice'), plan(N2, 1), query(N2, 'q2'), done(N1), done(N2)]);
  assert.deepEqual(out.flat(), [queryRow(N2, 'q2')]);
});

test('mixed nodes: every member appears, by its rows or its node row', () => {
  const m = merge([N1, N2, N3, DOWN]);
  const out = feed(m, [
    plan(N1, 2),
    inactive(DOWN),
    query(N1, 'q1'),
    failed(N3, 'node_error', 'agent is draining'),
    query(N1, 'q2'),
    plan(N2, 0),
    done(N2),
    done(N1),
  ]);
  assert.deepEqual(out, [
    [],
    [],
    [],
    [],
    [],
    [nodeRow(DOWN, 'node_inactive', INACTIVE_MESSAGE), queryRow(N1, 'q1'), nodeRow(N3, 'node_error', 'agent is draining'), queryRow(N1, 'q2')],
    [],
    [],
    [],
  ]);
  assert.equal(m.rows, 4);
});

test('throw mode: after the rows, NETWORK_ERROR naming the nodes, or TIMEOUT_EXCEEDED once any node timed out', () => {
  const network = merge([N1, N2, DOWN], { throwOnNodeFailure: true });
  const rows = feed(network, [plan(N1, 1), query(N1, 'q1'), failed(N2, 'node_unreachable', 'connect ECONNREFUSED'), inactive(DOWN), done(N1)]).flat();
  assert.equal(rows.length, 3, 'the rows still stream before the error');
  const err = network.failureError();
  assert.ok(err instanceof QuellError);
  assert.equal(err.errorName, 'NETWORK_ERROR');
  assert.equal(err.message, 'KILL QUERY is not finished on 2 of 3 hosts: n2 (node_unreachable), n4 (node_inactive)');

  const slow = merge([N1, N2], { throwOnNodeFailure: true });
  feed(slow, [failed(N1, 'node_timeout', 'no answer within 1 s'), failed(N2, 'node_error', 'refused')]);
  assert.equal(slow.failureError()?.errorName, 'TIMEOUT_EXCEEDED');
  assert.match(slow.failureError()?.message ?? '', /on 2 of 2 hosts: n1 \(node_timeout\), n2 \(node_error\)/);
});

test('durable kills: missed nodes are kept for the queue, then rendered queued (or why not)', () => {
  const opts: Partial<KillMergeOptions> = { target: KILL_MUTATION, queueMissed: true, throwOnNodeFailure: true };
  const m = merge([N1, N2, DOWN], opts);
  const mutation = proc(N1, { status: 'KILL_STATUS_WAITING', database: 'default', table: 'events', mutation_id: 'm1', command: 'DELETE WHERE 1' });
  const out = feed(m, [inactive(DOWN), plan(N1, 1), mutation, failed(N2, 'node_timeout', 'no answer within 10 s'), done(N1)]).flat();
  assert.deepEqual(out, [['waiting', 'default', 'events', 'm1', 'DELETE WHERE 1', '127.0.0.1', 9701, 'n1', '']]);
  assert.deepEqual(
    m.missed.map((x) => [x.node.nodeId, x.status]),
    [['n4', 'node_inactive'], ['n2', 'node_timeout']],
  );
  const until = new Date(Date.UTC(2030, 0, 1));
  assert.deepEqual(m.queued('k1', until), [
    ['queued', '', '', '', '', '127.0.0.1', 9704, 'n4', 'node_inactive: queued as kill k1, applied when the node returns (until 2030-01-01T00:00:00.000Z)'],
    ['queued', '', '', '', '', '127.0.0.1', 9702, 'n2', 'node_timeout: queued as kill k1, applied when the node returns (until 2030-01-01T00:00:00.000Z)'],
  ]);
  assert.equal(m.rows, 3);
  assert.equal(m.failureError()?.errorName, 'TIMEOUT_EXCEEDED', 'a queued kill still missed its node now');

  const unqueued = merge([DOWN], opts);
  feed(unqueued, [inactive(DOWN)]);
  assert.deepEqual(unqueued.notQueued('etcd unreachable'), [
    ['node_inactive', '', '', '', '', '127.0.0.1', 9704, 'n4', `${INACTIVE_MESSAGE}; the kill could not be queued: etcd unreachable`],
  ]);
});

test('without queueing, mutation kills render missed nodes as rows at once', () => {
  const m = merge([DOWN], { target: KILL_MUTATION });
  assert.deepEqual(feed(m, [inactive(DOWN)]).flat(), [['node_inactive', '', '', '', '', '127.0.0.1', 9704, 'n4', INACTIVE_MESSAGE]]);
  assert.deepEqual(m.missed, []);
});

test("clock skew: a row refused past its deadline by a clock measured ahead names the skew; other rows and nodes are untouched", () => {
  const late = "not killed: the request reached this agent 50012 ms past its deadline by this agent's clock";
  const offsets: Record<string, ClockOffset> = { n1: { offsetMs: 60_004.4, rttMs: 1, atMs: 0 }, n2: { offsetMs: 3, rttMs: 1, atMs: 0 } };
  const m = merge([N1, N2, N3], { clocks: { offset: (id) => offsets[id] } });
  const refused = (n: MemberNode, pastMs: number): Event => proc(n, { status: 'KILL_STATUS_CANT_CANCEL', query_id: 'q', user: 'alice', query: "SELECT 'q'", error: late, past_deadline_ms: String(pastMs) });
  const out = feed(m, [plan(N1, 1), plan(N2, 1), plan(N3, 1), refused(N1, 50_012), refused(N2, 4_000), refused(N3, 50)]).flat();
  const errors = out.map((r) => [r[6], r[0], r[7]]);
  assert.deepEqual(errors, [
    ['n1', 'cant_cancel', `${late}; clock skew of 60004 ms: this agent's clock is 60004 ms ahead of the coordinator's; fix the clock (NTP)`],
    // 3 ms ahead does not explain 4 s late (a stalled agent), and n3's offset is not measured
    ['n2', 'cant_cancel', late],
    ['n3', 'cant_cancel', late],
  ]);
});

test('a row without a kill status (KILL_STATUS_UNSPECIFIED), or with one this coordinator does not know, is its node_error, never finished', () => {
  const m = merge([N1, N2], { throwOnNodeFailure: true });
  const unknown = proc(N2, { status: 7 as unknown as KilledProcess__Output['status'], query_id: 'q3', user: 'alice', query: "SELECT 'q3'" });
  const out = feed(m, [plan(N1, 2), plan(N2, 1), query(N1, 'q1', 'KILL_STATUS_UNSPECIFIED'), query(N1, 'q2', 'KILL_STATUS_FINISHED'), unknown, done(N1), done(N2)]);
  const rows = out.flat();
  assert.equal(rows.length, 3);
  const [q1, q2, q3] = rows as SqlValue[][];
  assert.deepEqual(q1?.slice(0, 7), ['node_error', 'q1', 'alice', "SELECT 'q1'", '127.0.0.1', 9701, 'n1']);
  assert.match(String(q1?.[7]), /no kill status \(KILL_STATUS_UNSPECIFIED\).*outcome is unknown/);
  assert.deepEqual(q2, queryRow(N1, 'q2', 'finished'));
  assert.equal(q3?.[0], 'node_error');
  assert.match(String(q3?.[7]), /kill status 7, which this coordinator does not know/);
  // throw mode: the nodes whose rows were unknown fail the statement, each named once
  const err = m.failureError();
  assert.ok(err instanceof QuellError);
  assert.match(err.message, /n1 \(node_error\)/);
  assert.match(err.message, /n2 \(node_error\)/);
});

test('a batch of events gives the rows its events give one by one, in order', () => {
  const events = [plan(N1, 2), query(N1, 'q1'), failed(N3, 'node_timeout', 'no answer within 1 s'), plan(N2, 1), query(N1, 'q2', 'KILL_STATUS_FINISHED'), query(N2, 'q3'), done(N1), done(N2)];
  const oneByOne = feed(merge([N1, N2, N3]), events).flat();
  const batched = merge([N1, N2, N3]);
  const rows = [...batched.pushAll(events.slice(0, 3)), ...batched.pushAll(events.slice(3)), ...batched.end()];
  assert.deepEqual(rows, oneByOne);
  assert.equal(rows.length, 4);
  assert.throws(() => merge([N1, N2]).pushAll([plan(N1, 0, 1, 'carol'), plan(N2, 0)]), denied('User bob attempts to kill query created by carol'));
});

const doorRow: SqlValue[] = ['waiting', 'http-1', 'alice', 'SELECT 1', '127.0.0.1', 9700, 'B', ''];
const outsidePlan = (eligible: number, skipped = 0) => ({ eligible, skipped, skipped_owner: skipped ? 'admin' : '', skipped_id: '', planned: [] });
const outside = (plan: ReturnType<typeof outsidePlan>, rows: SqlValue[][], failures: OutsideOutcome['failures'] = []): OutsideOutcome => ({ plan, rows, failures, hosts: 2 });

test('the door statements plan from outside the nodes: rows wait for it while ACCESS_DENIED is possible, it counts toward ACCESS_DENIED, and it may come before or after the nodes', () => {
  // after the nodes, whose plans allow nothing: the node's rows are held until it comes
  const late = merge([N1], { outside: true });
  assert.deepEqual(late.push(plan(N1, 0, 1, 'carol')), []);
  assert.deepEqual(late.push(failed(N1, 'node_error', 'stream broke')), []);
  assert.deepEqual(late.settleOutside(outside(outsidePlan(1), [doorRow])), [nodeRow(N1, 'node_error', 'stream broke'), doorRow]);
  assert.equal(late.rows, 2);
  // before the nodes: its rows are held until their plans are in
  const early = merge([N1], { outside: true });
  assert.deepEqual(early.settleOutside(outside(outsidePlan(1), [doorRow])), []);
  assert.deepEqual(early.push(plan(N1, 0)), [doorRow]);
  // nothing may be killed anywhere, and a door statement was skipped: ACCESS_DENIED names its owner
  const none = merge([N1], { outside: true });
  assert.deepEqual(none.push(plan(N1, 0)), []);
  assert.throws(() => none.settleOutside(outside(outsidePlan(0, 1), [])), denied('User bob attempts to kill query created by admin'));
});

test('the door statements plan: once every node planned and something is eligible, the node rows go out without waiting for the other coordinators', () => {
  const m = merge([N1, N2], { outside: true });
  assert.deepEqual(m.push(plan(N1, 1)), []);
  // n2's plan is still outstanding: held
  assert.deepEqual(m.push(query(N1, 'q1')), []);
  // every node's plan is in, eligible > 0: ACCESS_DENIED is impossible whatever the doors add
  assert.deepEqual(m.push(plan(N2, 0, 1, 'carol')), [queryRow(N1, 'q1')]);
  assert.deepEqual(m.push(query(N1, 'q2', 'KILL_STATUS_FINISHED')), [queryRow(N1, 'q2', 'finished')]);
  // the doors' answer comes later: its rows pass straight through, and a skip there denies nothing
  assert.deepEqual(m.settleOutside(outside(outsidePlan(0, 1), [doorRow])), [doorRow]);
  assert.deepEqual(m.end(), []);
  assert.equal(m.rows, 3);
});

test('throw mode counts the other coordinators a kill by query_id concerned: one that failed fails the statement, after the rows', () => {
  const failedPeer: SqlValue[] = ['node_timeout', '', '', '', '127.0.0.3', 9700, 'C', 'no answer within 1 s'];
  const m = merge([N1], { outside: true, throwOnNodeFailure: true });
  assert.deepEqual(m.push(plan(N1, 0)), []);
  assert.deepEqual(m.settleOutside(outside(outsidePlan(1), [doorRow, failedPeer], [{ id: 'C', status: 'node_timeout' }])), [doorRow, failedPeer]);
  assert.deepEqual(m.push(done(N1)), []);
  const err = m.failureError();
  assert.equal(err?.errorName, 'TIMEOUT_EXCEEDED');
  assert.equal(err?.message, 'KILL QUERY is not finished on 1 of 3 hosts: C (node_timeout)');
  // every coordinator answered: nothing to throw
  const fine = merge([N1], { outside: true, throwOnNodeFailure: true });
  fine.push(plan(N1, 0));
  fine.settleOutside(outside(outsidePlan(1), [doorRow]));
  assert.equal(fine.failureError(), undefined);
});
