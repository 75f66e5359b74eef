import * as grpc from '@grpc/grpc-js';
import type { CoordinatorClient } from '../proto/generated/quell/v1/Coordinator';
import type { ExecuteRequest } from '../proto/generated/quell/v1/ExecuteRequest';
import type { StatementCall } from '../proto/generated/quell/v1/StatementCall';
import type { StatementCalls } from '../proto/generated/quell/v1/StatementCalls';
import type { StatementReplies__Output } from '../proto/generated/quell/v1/StatementReplies';
import { AsyncQueue } from '../common/async-queue';
import { callStatus, remoteQuellError, statementNotStarted, transportReason } from '../common/rpc-status';
import type { Flushable, TurnFlusher } from '../common/mux/turn-flusher';
import { chError, QuellError } from '../errors/quell-error';
import { MESSAGE_TARGET_BYTES } from '../proto/wire-size';
import { coordinatorShuttingDown, toEvent, transportError, type Attempt, type Item } from './result-events';

type SessionCall = grpc.ClientDuplexStream<StatementCalls, StatementReplies__Output>;

/** An older coordinator without the Session RPC: the client uses Execute there. */
export const UNSUPPORTED = 'unsupported';

/** About what a call takes on the wire: a statement its text and some, a cancel or credit a few bytes. */
function callBytes(c: StatementCall): number {
  return c.execute ? Buffer.byteLength(c.execute.sql ?? '') + 256 : 16;
}

/** One statement in flight on the session. */
interface Pending {
  readonly queue: AsyncQueue<Item>;
  readonly results: AsyncIterable<Item>;
  /** something came back: the statement started, and its failure is its result */
  received: boolean;
  settled: boolean;
  readonly resolve: (attempt: Attempt | typeof UNSUPPORTED) => void;
  readonly signal: AbortSignal | undefined;
  readonly onAbort: () => void;
}

/**
 * A QuellClient's one Session stream to one coordinator: every statement is a tagged call on
 * it, so a client that runs many statements pays for one HTTP/2 stream instead of one per
 * statement. Statements, cancels and credits ready in the same turn leave in one message. The
 * semantics are Execute's: a statement moves on to another coordinator only when it certainly
 * did not start (no connection, a refused stream, or a coordinator that marked it not started);
 * a broken stream fails the statements in flight on it; a cancel stops one statement; and each
 * row block is credited as the caller takes it, so the coordinator holds at most 4 MiB of a
 * statement its caller has not read.
 */
export class ClientSession implements Flushable {
  private call: SessionCall | undefined;
  private readonly pending = new Map<number, Pending>();
  private outbox: StatementCall[] = [];
  private outboxBytes = 0;
  private readonly credits = new Map<number, number>();
  private nextTag = 0;

  constructor(
    private readonly stub: CoordinatorClient,
    private readonly address: string,
    private readonly flusher: TurnFlusher,
  ) {}

  /** Sends the statement; resolves like an Execute attempt, or UNSUPPORTED (nothing was started). */
  start(req: ExecuteRequest, signal: AbortSignal | undefined): Promise<Attempt | typeof UNSUPPORTED> {
    return new Promise((resolve) => {
      const tag = this.freeTag();
      const queue = new AsyncQueue<Item>();
      const onAbort = (): void => this.cancel(tag);
      this.pending.set(tag, { queue, results: this.results(tag, queue), received: false, settled: false, resolve, signal, onAbort });
      signal?.addEventListener('abort', onAbort, { once: true });
      this.send({ tag, execute: req });
    });
  }

  /** A statement's results: each row block is credited as the caller takes it; a caller that stops early cancels. */
  private async *results(tag: number, queue: AsyncQueue<Item>): AsyncGenerator<Item> {
    let finished = false;
    try {
      for await (const item of queue) {
        if (item instanceof QuellError || item.kind === 'end') finished = true;
        yield item;
        if (!(item instanceof QuellError) && item.kind === 'rows') this.credit(tag);
      }
      finished = true;
    } finally {
      if (!finished) this.cancel(tag);
    }
  }

  /** Ends the stream; statements in flight fail as cancelled. */
  close(): void {
    const call = this.call;
    this.call = undefined;
    for (const tag of [...this.pending.keys()]) this.fail(tag, chError('QUERY_WAS_CANCELLED', 'the client was closed'));
    call?.cancel();
  }

  flush(): void {
    for (const [tag, credit] of this.credits) if (this.pending.has(tag)) this.outbox.push({ tag, credit });
    this.credits.clear();
    if (this.outbox.length === 0) return;
    const calls = this.outbox;
    this.outbox = [];
    this.outboxBytes = 0;
    const call = this.open();
    let batch: StatementCall[] = [];
    let bytes = 0;
    for (const c of calls) {
      const size = callBytes(c);
      if (batch.length > 0 && bytes + size > MESSAGE_TARGET_BYTES) {
        call.write({ calls: batch });
        batch = [];
        bytes = 0;
      }
      batch.push(c);
      bytes += size;
    }
    call.write({ calls: batch });
  }

  private send(c: StatementCall): void {
    this.open();
    this.outbox.push(c);
    this.outboxBytes += callBytes(c);
    if (this.outboxBytes >= MESSAGE_TARGET_BYTES) this.flush();
    else this.flusher.schedule(this);
  }

  private credit(tag: number): void {
    if (!this.pending.has(tag)) return;
    this.credits.set(tag, (this.credits.get(tag) ?? 0) + 1);
    this.flusher.schedule(this);
  }

  private cancel(tag: number): void {
    if (!this.pending.has(tag)) return;
    this.fail(tag, chError('QUERY_WAS_CANCELLED', 'statement cancelled'));
    this.send({ tag, cancel: true });
  }

  /** The open Session call, opened now when there is none (the first statement, or after a break). */
  private open(): SessionCall {
    if (this.call) return this.call;
    const call = this.stub.Session();
    this.call = call;
    call.on('data', (message: StatementReplies__Output) => this.receive(message));
    call.on('error', (err: grpc.ServiceError) => this.broke(call, err));
    call.on('status', (status: grpc.StatusObject) => {
      if (status.code === grpc.status.OK) this.broke(call, undefined);
    });
    return call;
  }

  private receive(message: StatementReplies__Output): void {
    for (const reply of message.replies) {
      const p = this.pending.get(reply.tag);
      if (!p || !reply.response) continue;
      if (reply.not_started && !p.received) {
        const refused = toEvent(reply.response);
        this.settle(reply.tag, p, { reason: refused instanceof QuellError ? refused.message : 'not started', refused: refused instanceof QuellError ? refused : undefined });
        continue;
      }
      p.received = true;
      const ev = toEvent(reply.response);
      if (ev) p.queue.push(ev);
      this.started(p);
      if (reply.response.end) this.finish(reply.tag, p);
    }
  }

  /** The stream broke (or the coordinator ended it): each statement in flight fails, or moves on if it never started. */
  private broke(call: SessionCall, err: grpc.ServiceError | undefined): void {
    if (this.call !== call) return;
    this.call = undefined;
    this.outbox = [];
    this.outboxBytes = 0;
    this.credits.clear();
    for (const [tag, p] of [...this.pending]) {
      if (!p.received && err?.code === grpc.status.UNIMPLEMENTED) this.settle(tag, p, UNSUPPORTED);
      else if (!p.received && (err === undefined || statementNotStarted(err))) {
        // a coordinator that ended the stream took nothing after its last reply: it ends one
        // only when it is shutting down, which refuses the statement (236), as a refusal would
        const refused = err ? remoteQuellError(err) : coordinatorShuttingDown(this.address);
        this.settle(tag, p, { reason: refused?.message ?? (err ? transportReason(err.details) : 'the coordinator ended the session'), refused });
      } else this.fail(tag, err ? transportError(callStatus(err), this.address) : chError('NETWORK_ERROR', `coordinator at ${this.address} ended the session`, true));
    }
  }

  private fail(tag: number, error: QuellError): void {
    const p = this.pending.get(tag);
    if (!p) return;
    p.queue.push(error);
    this.started(p);
    this.finish(tag, p);
  }

  /** The statement's results are there to read: the attempt resolves with them. */
  private started(p: Pending): void {
    if (p.settled) return;
    p.settled = true;
    p.resolve({ results: p.results });
  }

  private finish(tag: number, p: Pending): void {
    this.pending.delete(tag);
    this.credits.delete(tag);
    p.signal?.removeEventListener('abort', p.onAbort);
    p.queue.close();
  }

  /** Resolves a statement that did not start; it leaves this session. */
  private settle(tag: number, p: Pending, attempt: Attempt | typeof UNSUPPORTED): void {
    this.pending.delete(tag);
    p.signal?.removeEventListener('abort', p.onAbort);
    if (p.settled) return;
    p.settled = true;
    p.resolve(attempt);
  }

  private freeTag(): number {
    do this.nextTag = (this.nextTag + 1) >>> 0;
    while (this.nextTag === 0 || this.pending.has(this.nextTag));
    return this.nextTag;
  }
}
