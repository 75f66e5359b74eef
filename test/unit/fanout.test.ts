import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import { chError } from '../../errors/quell-error';
import { serviceError, toServiceError } from '../../common/grpc/rpc-status';
import { fanOut, type FanoutEvent, type FanoutOptions, type NodeStream } from '../../coordinator/cluster/fanout';
import type { MemberNode } from '../../coordinator/cluster/membership';

const node = (nodeId: string, active = true): MemberNode => ({ cluster: 'c3', nodeId, address: `127.0.0.1:1${nodeId.slice(1)}`, host: '127.0.0.1', port: 1, active });

/** A node's stream the test drives by hand; cancelling it fails it as grpc-js does. */
class FakeStream extends EventEmitter implements NodeStream<string> {
  cancels = 0;
  cancel(): void {
    this.cancels++;
    this.emit('error', serviceError(grpc.status.CANCELLED, 'Cancelled on client'));
  }
}

/** fanOut over fake streams, one per node opened; `open` may be replaced per node. */
function start(nodes: readonly MemberNode[], opts: Partial<FanoutOptions> = {}, open?: (n: MemberNode) => FakeStream) {
  const streams = new Map<string, FakeStream>();
  const events = fanOut(
    nodes,
    (n) => {
      const s = open ? open(n) : new FakeStream();
      streams.set(n.nodeId, s);
      return s;
    },
    { firstAnswerMs: 1000, callDeadlineMs: 5000, ...opts },
  );
  const stream = (id: string): FakeStream => {
    const s = streams.get(id);
    assert.ok(s, `a stream was opened for ${id}`);
    return s;
  };
  return { events, stream, streams };
}

async function collect<T>(events: AsyncIterable<readonly FanoutEvent<T>[]>): Promise<string[]> {
  const out: string[] = [];
  for await (const batch of events) {
    for (const ev of batch) {
      const what = ev.kind === 'message' ? String(ev.message) : ev.kind === 'failed' ? `${ev.failure.kind}: ${ev.failure.message}` : ev.kind;
      out.push(`${ev.node.nodeId} ${what}`);
    }
  }
  return out;
}

function useFakeTimers(t: TestContext): void {
  t.mock.timers.enable({ apis: ['setTimeout'] });
}

test('messages come merged in arrival order; each node ends done, and inactive members are not called', async () => {
  const { events, stream, streams } = start([node('n1'), node('n2'), node('n3', false)]);
  assert.equal(streams.has('n3'), false);
  stream('n1').emit('data', 'a');
  stream('n2').emit('data', 'b');
  stream('n1').emit('data', 'c');
  stream('n2').emit('end');
  stream('n1').emit('end');
  assert.deepEqual(await collect(events), ['n3 inactive', 'n1 a', 'n2 b', 'n1 c', 'n2 done', 'n1 done']);
});

test('what arrived since the consumer last took comes as one batch, in arrival order', async () => {
  const { events, stream } = start([node('n1'), node('n2')]);
  const batches = events[Symbol.asyncIterator]();
  stream('n1').emit('data', 'plan');
  stream('n1').emit('data', 'row');
  stream('n1').emit('end');
  const first = await batches.next();
  assert.deepEqual(first.done ? [] : first.value.map((ev) => `${ev.node.nodeId} ${ev.kind}`), ['n1 message', 'n1 message', 'n1 done']);
  stream('n2').emit('data', 'plan');
  stream('n2').emit('end');
  const second = await batches.next();
  assert.deepEqual(second.done ? [] : second.value.map((ev) => `${ev.node.nodeId} ${ev.kind}`), ['n2 message', 'n2 done']);
  assert.equal((await batches.next()).done, true);
});

test('no nodes: the stream of events is empty', async () => {
  assert.deepEqual(await collect(start([]).events), []);
});

test('first-answer timeout: a silent node is node_timeout and its call is cancelled; an answering node is not', async (t) => {
  useFakeTimers(t);
  const { events, stream } = start([node('n1'), node('n2')], { firstAnswerMs: 2000, callDeadlineMs: 60_000 });
  stream('n1').emit('data', 'plan');
  t.mock.timers.tick(2000);
  assert.equal(stream('n2').cancels, 1);
  assert.equal(stream('n1').cancels, 0);
  t.mock.timers.tick(50_000);
  stream('n1').emit('data', 'late row');
  stream('n1').emit('end');
  assert.deepEqual(await collect(events), ['n1 plan', 'n2 node_timeout: no answer within 2 s', 'n1 late row', 'n1 done']);
});

test('errors are classified by toNodeFailure: unreachable, timeout, the agent refusing, a failure to open', async () => {
  const refused = toServiceError(chError('SYNTAX_ERROR', 'Syntax error: bad filter'));
  const { events, stream } = start([node('n1'), node('n2'), node('n3'), node('n4')], {}, (n) => {
    if (n.nodeId === 'n4') throw new Error('Invalid target address');
    return new FakeStream();
  });
  stream('n1').emit('error', serviceError(grpc.status.UNAVAILABLE, 'No connection established. Last error: connect ECONNREFUSED 127.0.0.1:19701.'));
  stream('n2').emit('error', serviceError(grpc.status.DEADLINE_EXCEEDED, 'Deadline exceeded'));
  stream('n3').emit('error', serviceError(grpc.status.FAILED_PRECONDITION, refused.details ?? '', refused.metadata));
  assert.deepEqual(await collect(events), [
    'n4 node_error: Invalid target address',
    'n1 node_unreachable: connect ECONNREFUSED 127.0.0.1:19701',
    'n2 node_timeout: no answer before the deadline',
    'n3 node_error: Syntax error: bad filter',
  ]);
});

test('abort cancels every open call; a call that already ended is left alone', async () => {
  const abort = new AbortController();
  const { events, stream } = start([node('n1'), node('n2'), node('n3')], { signal: abort.signal });
  stream('n3').emit('end');
  stream('n1').emit('data', 'plan');
  abort.abort();
  assert.deepEqual([stream('n1').cancels, stream('n2').cancels, stream('n3').cancels], [1, 1, 0]);
  assert.deepEqual(await collect(events), [
    'n3 done',
    'n1 plan',
    'n1 node_unreachable: Cancelled on client',
    'n2 node_unreachable: Cancelled on client',
  ]);
});

test('a statement already cancelled when it fans out cancels its calls at once', async () => {
  const abort = new AbortController();
  abort.abort();
  const { events, stream } = start([node('n1')], { signal: abort.signal });
  assert.equal(stream('n1').cancels, 1);
  assert.deepEqual(await collect(events), ['n1 node_unreachable: Cancelled on client']);
});

test('a consumer that stops early cancels the calls still open', async () => {
  const { events, stream } = start([node('n1'), node('n2')]);
  stream('n1').emit('data', 'first');
  stream('n2').emit('end');
  for await (const batch of events) {
    assert.deepEqual(batch.map((ev) => ev.kind), ['message', 'done']);
    break;
  }
  assert.equal(stream('n1').cancels, 1);
  assert.equal(stream('n2').cancels, 0);
});

test('every node ends in exactly one terminal event, and nothing of it follows that event', async (t) => {
  useFakeTimers(t);
  const { events, stream } = start([node('n1'), node('n2'), node('n3'), node('n4')], { firstAnswerMs: 1000 });
  stream('n1').emit('end');
  stream('n1').emit('error', serviceError(grpc.status.INTERNAL, 'after the end'));
  stream('n2').emit('error', serviceError(grpc.status.UNAVAILABLE, 'stream reset'));
  stream('n2').emit('data', 'after the error');
  stream('n2').emit('end');
  stream('n3').emit('data', 'x');
  t.mock.timers.tick(1000); // n4 times out; its cancel then fails it once more, unheard
  assert.equal(stream('n4').cancels, 1);
  stream('n4').emit('data', 'too late');
  stream('n4').emit('end');
  stream('n3').emit('end');
  assert.deepEqual(await collect(events), ['n1 done', 'n2 node_unreachable: stream reset', 'n3 x', 'n4 node_timeout: no answer within 1 s', 'n3 done']);
});

test('call deadline: a node that answered but is still open at callDeadlineMs is node_timeout and its call is cancelled', async (t) => {
  useFakeTimers(t);
  const { events, stream } = start([node('n1'), node('n2'), node('n3')], { firstAnswerMs: 1000, callDeadlineMs: 3000 });
  stream('n1').emit('data', 'plan');
  stream('n2').emit('data', 'plan');
  stream('n2').emit('end');
  t.mock.timers.tick(1000);
  assert.deepEqual([stream('n1').cancels, stream('n2').cancels, stream('n3').cancels], [0, 0, 1]);
  t.mock.timers.tick(2000);
  assert.deepEqual([stream('n1').cancels, stream('n2').cancels, stream('n3').cancels], [1, 0, 1]);
  assert.deepEqual(await collect(events), ['n1 plan', 'n2 plan', 'n2 done', 'n3 node_timeout: no answer within 1 s', 'n1 node_timeout: no answer before the deadline']);
});

test('one timer per statement, whatever the number of nodes', (t) => {
  const timers: unknown[] = [];
  const real = globalThis.setTimeout;
  t.mock.method(globalThis, 'setTimeout', (fn: () => void, ms: number) => {
    const h = real(fn, ms);
    timers.push(h);
    return h;
  });
  const nodes = Array.from({ length: 50 }, (_, i) => node(`n${i + 1}`));
  const { stream } = start(nodes, { firstAnswerMs: 60_000, callDeadlineMs: 120_000 });
  assert.equal(timers.length, 1);
  for (const n of nodes) stream(n.nodeId).emit('end');
});

test('a node the caller refuses (an agent of another protocol) is not called: it fails at once as node_error with the reason', async () => {
  const { events, stream, streams } = start([node('n1'), node('n2')], { refuse: (n) => (n.nodeId === 'n2' ? 'incompatible agent: it speaks protocol quell.v2, this coordinator speaks quell.v1' : undefined) });
  assert.equal(streams.has('n2'), false, 'nothing was sent to n2');
  stream('n1').emit('data', 'a');
  stream('n1').emit('end');
  assert.deepEqual(await collect(events), ['n2 node_error: incompatible agent: it speaks protocol quell.v2, this coordinator speaks quell.v1', 'n1 a', 'n1 done']);
});
