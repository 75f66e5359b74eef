import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BatchWriter } from '../../common/mux/batch-writer';
import { MuxServer, type ServedCall } from '../../common/mux/server';
import { TurnFlusher } from '../../common/mux/turn-flusher';

// The serving side of the one multiplexer (common/mux/server.ts) over a fake stream: requests
// start calls, cancels and credits reach them, draining ends the stream when it is idle, and
// closing stops everything.

interface Call {
  readonly tag: number;
  readonly kind?: 'run' | 'cancel' | 'credit';
  readonly credit?: number;
  readonly name?: string;
}
interface Reply {
  readonly tag: number;
  readonly text: string;
}

class Running implements ServedCall {
  credited = 0;
  stopped = false;
  constructor(readonly name: string) {}
  credit(blocks: number): void {
    this.credited += blocks;
  }
  stop(): void {
    this.stopped = true;
  }
}

/** A protocol whose cancel stops a call at once (as the agent's) or lets it leave when it ends (as the coordinator's). */
class Served extends MuxServer<Call, Running, Reply, Reply[]> {
  readonly started: Running[] = [];
  refused: string[] = [];
  constructor(
    out: BatchWriter<Reply, Reply[]>,
    end: () => void,
    private readonly cancelStops: boolean,
  ) {
    super(out, end);
  }
  protected start(call: Call): void {
    if (this.draining) {
      this.refused.push(call.name ?? '');
      this.out.add({ tag: call.tag, text: 'refused' }, 64);
      return;
    }
    const r = new Running(call.name ?? '');
    this.calls.set(call.tag, r);
    this.started.push(r);
  }
  protected cancel(tag: number): void {
    if (this.cancelStops) this.stop(tag);
    else this.calls.get(tag)?.stop();
  }
  /** the call `tag` ends with a last reply (nothing for a call that left) */
  finish(tag: number, r: Running): void {
    if (!this.leave(tag, r)) return;
    this.out.add({ tag, text: `end ${r.name}` }, 64);
    this.endIfIdle();
  }
}

function harness(cancelStops = true) {
  const messages: Reply[][] = [];
  const events: string[] = [];
  const out = new BatchWriter<Reply, Reply[]>(
    {
      write: (message, done) => {
        messages.push(message);
        events.push(`write ${message.map((r) => r.text).join(', ')}`);
        done();
      },
    },
    new TurnFlusher(),
    (replies) => replies,
  );
  const s = new Served(out, () => events.push('end'), cancelStops);
  const send = (...calls: Call[]): void => s.receive({ calls });
  return { s, out, messages, events, send };
}

/** A stream with the calls `a` (tag 1) and `b` (tag 2) in flight. */
function withTwo() {
  const h = harness();
  h.send({ tag: 1, kind: 'run', name: 'a' }, { tag: 2, kind: 'run', name: 'b' });
  const [a, b] = h.s.started as [Running, Running];
  return { ...h, a, b };
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test('requests start calls; cancels and credits reach the call of their tag only', async () => {
  const { s, out, send, a, b } = withTwo();
  assert.equal(s.inFlight, 2);
  let woken = false;
  void out.nextChange().then(() => (woken = true));
  send({ tag: 2, kind: 'credit', credit: 3 }, { tag: 9, kind: 'credit', credit: 1 }, { tag: 1, kind: 'cancel' }, { tag: 9, kind: 'cancel' });
  assert.equal(b.credited, 3);
  assert.equal(a.credited, 0);
  assert.equal(a.stopped, true);
  assert.equal(b.stopped, false);
  assert.equal(s.inFlight, 1, 'a stopped call leaves at once');
  await nextTurn();
  assert.ok(woken, 'a credit wakes producers waiting for room');
});

test('a stopped call sends nothing more; a call the protocol only aborts leaves when it ends', async () => {
  const stops = harness(true);
  stops.send({ tag: 1, name: 'a' });
  const a = stops.s.started[0]!;
  stops.send({ tag: 1, kind: 'cancel' });
  stops.s.finish(1, a);
  await nextTurn();
  assert.deepEqual(stops.events, []);
  const aborts = harness(false);
  aborts.send({ tag: 1, name: 'a' });
  const b = aborts.s.started[0]!;
  aborts.send({ tag: 1, kind: 'cancel' });
  assert.equal(b.stopped, true);
  assert.equal(aborts.s.inFlight, 1);
  aborts.s.finish(1, b);
  assert.equal(aborts.s.inFlight, 0);
  await nextTurn();
  assert.deepEqual(aborts.events, ['write end a']);
});

test('drain: new calls are refused, and the stream ends once the last call in flight is done, its replies sent first', async () => {
  const { s, send, events, a, b } = withTwo();
  s.drain();
  send({ tag: 3, name: 'late' });
  assert.deepEqual(s.refused, ['late']);
  s.finish(1, a);
  assert.deepEqual(events, [], 'one call is still in flight');
  s.finish(2, b);
  assert.deepEqual(events, ['write refused, end a, end b', 'end']);
});

test('drain with nothing in flight ends at once; a cancel of the last call ends a draining stream', () => {
  const idle = harness();
  idle.s.drain();
  assert.deepEqual(idle.events, ['end']);
  const busy = harness();
  busy.send({ tag: 1, name: 'a' });
  busy.s.drain();
  assert.deepEqual(busy.events, []);
  busy.send({ tag: 1, kind: 'cancel' });
  assert.deepEqual(busy.events, ['end']);
});

test('close: every call stops, nothing more is written, and later calls, ends and drains do nothing', async () => {
  const { s, send, events, a, b } = withTwo();
  s.close();
  s.close();
  assert.ok(a.stopped && b.stopped);
  assert.equal(s.inFlight, 0);
  send({ tag: 3, name: 'c' });
  assert.equal(s.started.length, 2, 'no call starts on a closed stream');
  s.finish(1, a);
  s.drain();
  await nextTurn();
  assert.deepEqual(events, []);
});
