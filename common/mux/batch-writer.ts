import type { Flushable, TurnFlusher } from './turn-flusher';
import { MESSAGE_TARGET_BYTES } from '../../proto/wire-size';
import { inMessages } from './messages';

/** Replies a session may hold that the transport has not let out before its producers wait. */
export const STREAM_BUFFER_BYTES = 8 * 1024 * 1024;

/** The part of a gRPC stream a session writes to. */
export interface BatchStream<M> {
  /** `done` runs once the transport has taken the message */
  write(message: M, done: () => void): unknown;
}

/**
 * The writing side of a multiplexed session stream (the agent's replies to the coordinator, the
 * coordinator's results to a client): tagged replies that are ready in the same turn leave in
 * one message of about MESSAGE_TARGET_BYTES at most. It counts what the transport has not let
 * out, so that producers that can wait (scans, result rows) wait for room; kill rows never wait.
 */
export class BatchWriter<R, M> implements Flushable {
  private pending: Pending<R>[] = [];
  private pendingBytes = 0;
  /** bytes handed to the transport whose write has not completed */
  private unsent = 0;
  private readonly waiters = new Set<() => void>();
  private closed = false;

  constructor(
    private readonly stream: BatchStream<M>,
    private readonly flusher: TurnFlusher,
    /** the message that carries a batch of replies */
    private readonly wrap: (replies: R[]) => M,
  ) {}

  /** `done` runs once the transport has taken the message that carries the reply. */
  add(reply: R, bytes: number, done?: () => void): void {
    if (this.closed) return;
    this.pending.push({ reply, bytes, done });
    this.pendingBytes += bytes;
    if (this.pendingBytes >= MESSAGE_TARGET_BYTES) this.flush();
    else this.flusher.schedule(this);
  }

  /** Whether scans may write more now. */
  get hasRoom(): boolean {
    return this.closed || this.unsent + this.pendingBytes < STREAM_BUFFER_BYTES;
  }

  /** Resolves the next time room may have come (a write completed, or the stream closed). */
  nextChange(): Promise<void> {
    return new Promise((resolve) => this.waiters.add(resolve));
  }

  flush(): void {
    if (this.closed || this.pending.length === 0) return;
    const pending = this.pending;
    const bytes = this.pendingBytes;
    this.pending = [];
    this.pendingBytes = 0;
    inMessages(pending, bytes, sizeOf, this.send);
  }

  /** Nothing more is written; every waiter wakes. */
  close(): void {
    this.closed = true;
    this.pending = [];
    this.pendingBytes = 0;
    this.wake();
  }

  /** Wakes waiters: their call ended, or their credit changed. */
  wake(): void {
    if (this.waiters.size === 0) return;
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const w of waiters) w();
  }

  /** One message of replies to the transport (made once: flush passes it on). */
  private readonly send = (batch: Pending<R>[], bytes: number): void => {
    this.unsent += bytes;
    this.stream.write(
      this.wrap(batch.map(replyOf)),
      () => {
        this.unsent -= bytes;
        for (const p of batch) p.done?.();
        this.wake();
      },
    );
  };
}

/** One reply waiting for the turn's end. */
interface Pending<R> {
  readonly reply: R;
  readonly bytes: number;
  readonly done: (() => void) | undefined;
}

const sizeOf = (p: Pending<unknown>): number => p.bytes;
const replyOf = <R>(p: Pending<R>): R => p.reply;
