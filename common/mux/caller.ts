import { MESSAGE_TARGET_BYTES } from '../../proto/wire-size';
import { inMessages } from './messages';
import type { Flushable, TurnFlusher } from './turn-flusher';

/** A call that steers another: a cancel, or a credit of replies taken. Every protocol's call message carries these as they are. */
export interface ControlCall {
  readonly tag: number;
  readonly cancel?: true;
  readonly credit?: number;
}

/** How one protocol's calls travel (made once per protocol: plain functions, no `this`). */
export interface CallWire<C, W> {
  /** the message that carries a batch of calls */
  readonly encode: (calls: (C | ControlCall)[]) => W;
  /** about what a call takes on the wire */
  readonly size: (call: C | ControlCall) => number;
}

/** The calling end of one stream as the mux uses it; grpc-js's ClientDuplexStream is one. */
export interface CallerTransport<W, R> {
  write(message: W): unknown;
  on(event: 'data', listener: (message: { readonly replies: readonly R[] }) => void): unknown;
  on(event: 'error', listener: (err: unknown) => void): unknown;
  on(event: 'status', listener: (status: { code: number }) => void): unknown;
  cancel(): void;
}

/** What a protocol makes of its calls' replies and of the stream's loss. */
export interface CallerHandler<P, R> {
  /** One reply for the call `call`; true when it was the call's last (the call leaves the stream). */
  reply(call: P, reply: R): boolean;
  /**
   * The peer ended `stream`, or it broke: `calls` were in flight on it, and each is the
   * handler's to fail or to mark not started. `err` is the transport's error; undefined when the
   * peer ended the stream cleanly.
   */
  lost(stream: object, calls: ReadonlyMap<number, P>, err: unknown): void;
}

/**
 * The tag after `last` that no call in `inUse` holds: a 32-bit counter that wraps around, skips
 * 0 and the tags in use, so a tag is reused only after 2^32 calls (or as soon as its call left).
 */
export function nextFreeTag(last: number, inUse: { has(tag: number): boolean }): number {
  let tag = last;
  do tag = (tag + 1) >>> 0;
  while (tag === 0 || inUse.has(tag));
  return tag;
}

const NO_CALLS: ReadonlyMap<number, never> = new Map<number, never>();

/**
 * The calling side of one open multiplexed stream (the client's to a coordinator, the
 * coordinator's to an agent; TiKV's BatchCommands is the model): each call gets a free tag, the
 * calls, cancels and credits ready in one turn leave together in messages of about
 * MESSAGE_TARGET_BYTES, replies are routed to their call by tag, and when the stream is lost
 * every call in flight on it goes back to the protocol at once. A protocol keeps only its
 * message shapes (CallWire) and what a reply or the loss means to a call (CallerHandler).
 */
export class MuxCaller<C, P, R extends { readonly tag: number }, W> implements Flushable {
  private calls = new Map<number, P>();
  private outbox: (C | ControlCall)[] = [];
  private outboxBytes = 0;
  /** blocks taken per call this turn: one credit per call and turn */
  private readonly credits = new Map<number, number>();
  private lastTag = 0;
  private ended = false;

  constructor(
    readonly transport: CallerTransport<W, R>,
    private readonly wire: CallWire<C, W>,
    private readonly handler: CallerHandler<P, R>,
    private readonly flusher: TurnFlusher,
  ) {
    transport.on('data', (message) => this.receive(message));
    transport.on('error', (err) => this.lose(err));
    // a non-OK status follows an error, which already ended the stream
    transport.on('status', (status) => {
      if (status.code === 0) this.lose(undefined);
    });
  }

  /** Calls in flight. */
  get inFlight(): number {
    return this.calls.size;
  }

  /** The call in flight with this tag. */
  get(tag: number): P | undefined {
    return this.calls.get(tag);
  }

  /** A tag for a new call (see nextFreeTag). */
  freeTag(): number {
    this.lastTag = nextFreeTag(this.lastTag, this.calls);
    return this.lastTag;
  }

  /** Sends a call: `tag` is from freeTag(), and `request` carries it. (A session opens a new stream once one ended; nothing starts on an ended one.) */
  start(tag: number, call: P, request: C): void {
    if (this.ended) return;
    this.calls.set(tag, call);
    this.send(request);
  }

  /** The call left on this side (it failed here): nothing more is routed to it or sent for it. */
  finish(tag: number): void {
    this.calls.delete(tag);
    this.credits.delete(tag);
  }

  /** Cancels a call in flight: it leaves, and the peer is told to stop it. */
  cancel(tag: number): void {
    if (!this.calls.delete(tag)) return;
    this.credits.delete(tag);
    this.send({ tag, cancel: true });
  }

  /** The caller took `blocks` more of a call's replies; the peer hears it with this turn's calls. */
  credit(tag: number, blocks: number): void {
    if (!this.calls.has(tag)) return;
    this.credits.set(tag, (this.credits.get(tag) ?? 0) + blocks);
    this.flusher.schedule(this);
  }

  /** Everything gathered this turn, in messages of about MESSAGE_TARGET_BYTES. */
  flush(): void {
    if (this.credits.size > 0) {
      for (const [tag, credit] of this.credits) if (this.calls.has(tag)) this.queue({ tag, credit });
      this.credits.clear();
    }
    if (this.outbox.length === 0 || this.ended) return;
    const calls = this.outbox;
    const bytes = this.outboxBytes;
    this.outbox = [];
    this.outboxBytes = 0;
    inMessages(calls, bytes, this.wire.size, this.write);
  }

  /**
   * Ends the stream from this side: nothing more is sent or routed, the transport is cancelled,
   * and the calls that were in flight are returned for the caller to fail (the handler is not
   * told). Empty when the stream had already ended.
   */
  close(): ReadonlyMap<number, P> {
    if (this.ended) return NO_CALLS;
    this.ended = true;
    this.outbox = [];
    this.outboxBytes = 0;
    this.credits.clear();
    const calls = this.calls;
    this.calls = new Map();
    this.transport.cancel();
    return calls;
  }

  private readonly write = (calls: (C | ControlCall)[]): void => {
    this.transport.write(this.wire.encode(calls));
  };

  private send(call: C | ControlCall): void {
    if (this.ended) return;
    this.queue(call);
    if (this.outboxBytes >= MESSAGE_TARGET_BYTES) this.flush();
    else this.flusher.schedule(this);
  }

  private queue(call: C | ControlCall): void {
    this.outbox.push(call);
    this.outboxBytes += this.wire.size(call);
  }

  private receive(message: { readonly replies: readonly R[] }): void {
    for (const reply of message.replies) {
      const call = this.calls.get(reply.tag);
      // no call: cancelled here, and the peer had not seen the cancel yet
      if (call !== undefined && this.handler.reply(call, reply) && this.calls.get(reply.tag) === call) this.finish(reply.tag);
    }
  }

  /** The peer ended the stream or it broke: the handler gets every call in flight. */
  private lose(err: unknown): void {
    if (this.ended) return;
    this.handler.lost(this, this.close(), err);
  }
}
