import type { BatchWriter } from './batch-writer';

/** A call the serving side runs, as the mux steers it. */
export interface ServedCall {
  /** the peer took `blocks` more of the call's replies */
  credit(blocks: number): void;
  /** the peer cancelled the call, or the stream is gone: whatever it does stops */
  stop(): void;
}

/** A call as it arrives: its tag and kind; a `credit` carries its count. */
export interface IncomingCall {
  readonly tag: number;
  readonly kind?: string;
  readonly credit?: number;
}

/**
 * The serving side of one multiplexed stream (the coordinator's for a client's statements, the
 * agent's for a coordinator's kills and scans): the calls in flight by tag, credits and cancels
 * routed to them, replies batched per turn by the BatchWriter, and the stream's end: draining
 * refuses new calls and ends the stream once none is in flight; closing stops them all. A
 * protocol keeps what a request starts (`start`) and what a cancel means to it (`cancel`).
 */
export abstract class MuxServer<C extends IncomingCall, S extends ServedCall, R, M> {
  /** the calls in flight, by tag; a protocol adds each call it starts */
  protected readonly calls = new Map<number, S>();
  /** new calls are refused; the stream ends once none is in flight */
  protected draining = false;
  private closed = false;

  constructor(
    protected readonly out: BatchWriter<R, M>,
    /** ends the transport (draining, and nothing is in flight) */
    private readonly end: () => void,
  ) {}

  get inFlight(): number {
    return this.calls.size;
  }

  receive(message: { readonly calls: readonly C[] }): void {
    for (const call of message.calls) {
      if (call.kind === 'cancel') this.cancel(call.tag);
      else if (call.kind === 'credit') {
        this.calls.get(call.tag)?.credit(call.credit ?? 0);
        this.out.wake();
      } else if (!this.closed) this.start(call);
    }
  }

  /** Refuses new calls, and ends the stream once the calls in flight are done. */
  drain(): void {
    this.draining = true;
    this.endIfIdle();
  }

  /** The stream is gone: every call stops. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const call of this.calls.values()) call.stop();
    this.calls.clear();
    this.out.close();
  }

  /** A request of the protocol's (neither a cancel nor a credit) on an open stream. */
  protected abstract start(call: C): void;

  /** The peer cancelled the call `tag` (it may have ended already). */
  protected abstract cancel(tag: number): void;

  /** Stops the call `tag` at once: it leaves, and nothing more is sent for it. */
  protected stop(tag: number): void {
    const call = this.calls.get(tag);
    if (!call) return;
    this.calls.delete(tag);
    call.stop();
    this.out.wake();
    this.endIfIdle();
  }

  /** The call ended; false when it had left already (stopped, or the stream closed). The caller then calls endIfIdle. */
  protected leave(tag: number, call: S): boolean {
    if (this.calls.get(tag) !== call) return false;
    this.calls.delete(tag);
    return true;
  }

  /** A draining stream with nothing in flight ends, its last replies sent. */
  protected endIfIdle(): void {
    if (!this.draining || this.closed || this.calls.size > 0) return;
    this.out.flush();
    this.end();
  }
}
