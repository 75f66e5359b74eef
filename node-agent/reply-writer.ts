import type { SessionReply } from '../proto/generated/quell/v1/SessionReply';
import type { SessionResponse } from '../proto/generated/quell/v1/SessionResponse';
import type { Flushable, TurnFlusher } from '../common/turn-flusher';
import { MESSAGE_TARGET_BYTES } from '../proto/wire-size';

/** Replies a session may hold that the transport has not let out before its scans wait. */
export const STREAM_BUFFER_BYTES = 8 * 1024 * 1024;

/** The part of a gRPC server stream a session writes to. */
export interface ReplyStream {
  /** `done` runs once the transport has taken the message */
  write(message: SessionResponse, done: () => void): unknown;
}

/**
 * The agent's side of a session stream: replies that are ready in the same turn leave in one
 * message of about MESSAGE_TARGET_BYTES at most. It counts what the transport has not let out,
 * so that scans can wait for room (kills never wait: their rows are few and must not stall).
 */
export class ReplyWriter implements Flushable {
  private pending: { reply: SessionReply; bytes: number }[] = [];
  private pendingBytes = 0;
  /** bytes handed to the transport whose write has not completed */
  private unsent = 0;
  private readonly waiters = new Set<() => void>();
  private closed = false;

  constructor(
    private readonly stream: ReplyStream,
    private readonly flusher: TurnFlusher,
  ) {}

  add(reply: SessionReply, bytes: number): void {
    if (this.closed) return;
    this.pending.push({ reply, bytes });
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
    this.pending = [];
    this.pendingBytes = 0;
    let replies: SessionReply[] = [];
    let bytes = 0;
    for (const p of pending) {
      if (replies.length > 0 && bytes + p.bytes > MESSAGE_TARGET_BYTES) {
        this.send(replies, bytes);
        replies = [];
        bytes = 0;
      }
      replies.push(p.reply);
      bytes += p.bytes;
    }
    this.send(replies, bytes);
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
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const w of waiters) w();
  }

  private send(replies: SessionReply[], bytes: number): void {
    this.unsent += bytes;
    this.stream.write({ replies }, () => {
      this.unsent -= bytes;
      this.wake();
    });
  }
}
