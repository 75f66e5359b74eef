import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { MuxCaller, nextFreeTag, type CallerHandler, type CallerTransport, type CallWire, type ControlCall } from '../../common/mux/caller';
import { inMessages } from '../../common/mux/messages';
import { TurnFlusher } from '../../common/mux/turn-flusher';
import { MESSAGE_TARGET_BYTES } from '../../proto/wire-size';

// The calling side of the one multiplexer (common/mux/caller.ts) over a fake stream: tags,
// credits, a turn's calls in messages, cancel, routing by tag, and the stream's loss.

/** A call of the test protocol: a request with a name and a size, or a control call. */
interface Req {
  readonly tag: number;
  readonly name?: string;
  readonly bytes?: number;
  readonly cancel?: true;
  readonly credit?: number;
}
interface Reply {
  readonly tag: number;
  readonly last?: boolean;
  readonly text?: string;
}
interface Message {
  readonly calls: (Req | ControlCall)[];
}

const WIRE: CallWire<Req, Message> = {
  encode: (calls) => ({ calls: [...calls] }),
  size: (c: Req) => c.bytes ?? 16,
};

class FakeTransport extends EventEmitter implements CallerTransport<Message, Reply> {
  readonly written: Message[] = [];
  cancelled = 0;
  write(message: Message): boolean {
    this.written.push(message);
    return true;
  }
  cancel(): void {
    this.cancelled++;
  }
  reply(...replies: Reply[]): void {
    this.emit('data', { replies });
  }
  /** what was sent, as `tag:what` */
  get sent(): string[] {
    return this.written.flatMap((m) => m.calls.map((c) => `${c.tag}:${c.cancel ? 'cancel' : c.credit !== undefined ? `credit ${c.credit}` : (c as Req).name}`));
  }
}

/** A call as the test protocol keeps it: the replies it got, and how it ended. */
interface Call {
  readonly name: string;
  readonly got: string[];
}

class Handler implements CallerHandler<Call, Reply> {
  readonly losses: { calls: string[]; err: unknown }[] = [];
  reply(call: Call, reply: Reply): boolean {
    call.got.push(reply.text ?? '');
    return reply.last === true;
  }
  lost(_stream: object, calls: ReadonlyMap<number, Call>, err: unknown): void {
    this.losses.push({ calls: [...calls.values()].map((c) => c.name), err });
  }
}

function harness() {
  const t = new FakeTransport();
  const h = new Handler();
  const mux = new MuxCaller(t, WIRE, h, new TurnFlusher());
  const start = (name: string, bytes?: number): { tag: number; call: Call } => {
    const tag = mux.freeTag();
    const call = { name, got: [] };
    mux.start(tag, call, { tag, name, bytes });
    return { tag, call };
  };
  return { t, h, mux, start };
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test('tags: a 32-bit counter that skips 0 and the tags in use, and wraps around', () => {
  assert.equal(nextFreeTag(0, new Set()), 1);
  assert.equal(nextFreeTag(0, new Set([1, 2])), 3);
  assert.equal(nextFreeTag(2 ** 32 - 2, new Set()), 2 ** 32 - 1);
  assert.equal(nextFreeTag(2 ** 32 - 1, new Set()), 1, 'wraps past 0');
  assert.equal(nextFreeTag(2 ** 32 - 2, new Set([2 ** 32 - 1, 1, 2])), 3);
  const { mux, start } = harness();
  const a = start('a');
  const b = start('b');
  assert.deepEqual([a.tag, b.tag], [1, 2]);
  mux.cancel(a.tag);
  assert.equal(start('c').tag, 3, 'a freed tag is not taken again at once');
});

test('the calls of one turn leave in one message after the turn; a later turn is a later message', async () => {
  const { t, start } = harness();
  start('a');
  start('b');
  assert.equal(t.written.length, 0, 'nothing before the turn ends');
  await nextTurn();
  assert.deepEqual(t.sent, ['1:a', '2:b']);
  assert.equal(t.written.length, 1);
  start('c');
  await nextTurn();
  assert.equal(t.written.length, 2);
  await nextTurn();
  assert.equal(t.written.length, 2, 'an empty turn writes nothing');
});

test('a turn larger than the message target is split in order; a call that reaches it leaves at once', async () => {
  const { t, start } = harness();
  const big = Math.floor(MESSAGE_TARGET_BYTES * 0.4);
  start('a', big);
  start('b', big);
  assert.equal(t.written.length, 0);
  start('c', big);
  assert.equal(t.written.length, 2, 'the outbox passed the target: it is written without waiting for the turn');
  assert.deepEqual(t.written.map((m) => m.calls.map((c) => (c as Req).name)), [['a', 'b'], ['c']]);
  start('d');
  await nextTurn();
  assert.deepEqual(t.written.map((m) => m.calls.length), [2, 1, 1]);
});

test('inMessages: items in order, no message past the target unless one item is larger by itself', () => {
  const sizes = [600, 300, 200, 1500, 100];
  const out: [number[], number][] = [];
  const target = MESSAGE_TARGET_BYTES / 1024; // 1024 units make the target
  inMessages(
    sizes.map((s) => s * target),
    sizes.reduce((a, b) => a + b) * target,
    (n) => n,
    (batch, bytes) => out.push([batch.map((n) => n / target), Math.round(bytes / target)]),
  );
  assert.deepEqual(out, [
    [[600, 300], 900],
    [[200], 200],
    [[1500], 1500],
    [[100], 100],
  ]);
  const items = [1, 2, 3];
  let sent: number[] | undefined;
  inMessages(items, 6, (n) => n, (batch) => (sent = batch));
  assert.equal(sent, items, 'what fits one message goes without a copy');
});

test('replies are routed by tag; a last reply ends its call, and later ones for its tag are dropped', async () => {
  const { t, mux, start } = harness();
  const a = start('a');
  const b = start('b');
  await nextTurn();
  t.reply({ tag: b.tag, text: 'b1' }, { tag: a.tag, text: 'a1' }, { tag: a.tag, text: 'a2', last: true });
  assert.equal(mux.inFlight, 1);
  t.reply({ tag: a.tag, text: 'late' }, { tag: 99, text: 'unknown' }, { tag: b.tag, text: 'b2', last: true });
  assert.deepEqual(a.call.got, ['a1', 'a2']);
  assert.deepEqual(b.call.got, ['b1', 'b2']);
  assert.equal(mux.inFlight, 0);
  assert.equal(mux.get(a.tag), undefined);
});

test('credits: one credit a call and turn with what it took, after the calls; none for a call that left', async () => {
  const { t, mux, start } = harness();
  const a = start('a');
  const b = start('b');
  const c = start('c');
  await nextTurn();
  mux.credit(a.tag, 1);
  mux.credit(a.tag, 2);
  mux.credit(b.tag, 1);
  mux.credit(c.tag, 5);
  mux.credit(42, 1);
  t.reply({ tag: b.tag, last: true });
  mux.cancel(c.tag);
  const d = start('d');
  await nextTurn();
  assert.deepEqual(t.written[1]?.calls.map((x) => `${x.tag}:${x.cancel ? 'cancel' : x.credit ?? (x as Req).name}`), [`${c.tag}:cancel`, `${d.tag}:d`, `${a.tag}:3`]);
  mux.credit(b.tag, 1);
  await nextTurn();
  assert.equal(t.written.length, 2, 'a call that ended takes no credit');
});

test('cancel: the call leaves and the peer is told once; its late replies are dropped', async () => {
  const { t, mux, start } = harness();
  const a = start('a');
  await nextTurn();
  mux.cancel(a.tag);
  mux.cancel(a.tag);
  assert.equal(mux.inFlight, 0);
  t.reply({ tag: a.tag, text: 'late', last: true });
  assert.deepEqual(a.call.got, []);
  await nextTurn();
  assert.deepEqual(t.sent, ['1:a', '1:cancel']);
  mux.finish(5);
  const b = start('b');
  mux.finish(b.tag);
  assert.equal(mux.inFlight, 0, 'finish: the call left on this side');
});

test('stream loss: the handler gets every call in flight with the error, once; nothing more is sent or routed', async () => {
  const { t, h, mux, start } = harness();
  const done = start('done');
  start('open-1');
  start('open-2');
  await nextTurn();
  t.reply({ tag: done.tag, last: true });
  start('unsent');
  mux.credit(2, 1);
  const err = Object.assign(new Error('Connection dropped'), { code: 14 });
  t.emit('error', err);
  t.emit('status', { code: 14 });
  assert.deepEqual(h.losses, [{ calls: ['open-1', 'open-2', 'unsent'], err }]);
  assert.equal(mux.inFlight, 0);
  assert.equal(t.cancelled, 1);
  start('after');
  t.reply({ tag: 2, text: 'late', last: true });
  await nextTurn();
  assert.equal(t.written.length, 1, 'the unsent call, the credit and later calls are dropped');
  assert.equal(mux.inFlight, 0);
});

test('a clean end by the peer is a loss without an error', () => {
  const { t, h, start } = harness();
  start('a');
  t.emit('status', { code: 0 });
  t.emit('status', { code: 0 });
  assert.deepEqual(h.losses, [{ calls: ['a'], err: undefined }]);
});

test('close: the calls in flight come back to the caller, the handler is not told, the transport is cancelled', async () => {
  const { t, h, mux, start } = harness();
  start('a');
  start('b');
  const calls = mux.close();
  assert.deepEqual([...calls.values()].map((c) => c.name), ['a', 'b']);
  assert.equal(mux.close().size, 0, 'a second close finds nothing');
  t.emit('error', new Error('cancelled'));
  assert.deepEqual(h.losses, []);
  assert.equal(t.cancelled, 1);
  await nextTurn();
  assert.equal(t.written.length, 0, 'what was gathered this turn is not sent');
});
