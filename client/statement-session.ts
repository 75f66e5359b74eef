import type { ExecuteRequest } from '../proto/generated/quell/v1/ExecuteRequest';
import type { StatementCall } from '../proto/generated/quell/v1/StatementCall';
import type { CoordinatorServiceSessionRequest } from '../proto/generated/quell/v1/CoordinatorServiceSessionRequest';
import type { StatementReply__Output } from '../proto/generated/quell/v1/StatementReply';
import { AsyncQueue } from '../common/async-queue';
import { MuxCaller, type CallerHandler, type CallWire } from '../common/mux/caller';
import { STATUS } from '../common/grpc/call-status';
import type { TurnFlusher } from '../common/mux/turn-flusher';
import { chError, QuellError } from '../errors/quell-error';
import { coordinatorShuttingDown, notStartedAttempt, toEvent, transportError, type Attempt, type Item } from './result-events';
import type { CallError } from './transport/grpc-call';
import type { H2Connection } from './transport/h2-connection';
import { SESSION } from './transport/coordinator-methods';

/** An older coordinator without the Session RPC: the client uses Execute there. */
export const UNSUPPORTED = 'unsupported';

/** Statement calls on the wire: a statement takes its text and some, a cancel or credit a few bytes. */
const WIRE: CallWire<StatementCall, CoordinatorServiceSessionRequest> = {
  encode: (calls) => ({ calls }),
  size: (c: StatementCall) => (c.execute ? Buffer.byteLength(c.execute.sql ?? '') + 256 : 16),
};

/** One Session call and the statements in flight on it. */
type SessionStream = MuxCaller<StatementCall, Pending, StatementReply__Output, CoordinatorServiceSessionRequest>;

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
export class ClientSession implements CallerHandler<Pending, StatementReply__Output> {
  private stream: SessionStream | undefined;

  constructor(
    private readonly address: string,
    private readonly flusher: TurnFlusher,
  ) {}

  /** Sends the statement; resolves like an Execute attempt, or UNSUPPORTED (nothing was started). */
  start(connection: H2Connection, req: ExecuteRequest, signal: AbortSignal | undefined): Promise<Attempt | typeof UNSUPPORTED> {
    let stream: SessionStream;
    try {
      stream = this.open(connection);
    } catch {
      // the coordinator sent GOAWAY (it is draining): no new stream, and its answer is its refusal
      const refused = coordinatorShuttingDown(this.address);
      return Promise.resolve({ reason: refused.message, refused });
    }
    return new Promise((resolve) => {
      const tag = stream.freeTag();
      const queue = new AsyncQueue<Item>();
      const onAbort = (): void => this.cancel(stream, tag);
      const p: Pending = { queue, results: this.results(stream, tag, queue), received: false, settled: false, resolve, signal, onAbort };
      signal?.addEventListener('abort', onAbort, { once: true });
      stream.start(tag, p, { tag, execute: req });
    });
  }

  /** A statement's results: each row block is credited as the caller takes it; a caller that stops early cancels. */
  private async *results(stream: SessionStream, tag: number, queue: AsyncQueue<Item>): AsyncGenerator<Item> {
    let finished = false;
    try {
      for await (const item of queue) {
        if (item instanceof QuellError || item.kind === 'end') finished = true;
        yield item;
        if (!(item instanceof QuellError) && item.kind === 'rows') stream.credit(tag, 1);
      }
      finished = true;
    } finally {
      if (!finished) this.cancel(stream, tag);
    }
  }

  /** Ends the stream; statements in flight fail as cancelled. */
  close(): void {
    const stream = this.stream;
    this.stream = undefined;
    if (!stream) return;
    for (const p of stream.close().values()) this.fail(p, chError('QUERY_WAS_CANCELLED', 'the client was closed'));
  }

  private cancel(stream: SessionStream, tag: number): void {
    const p = stream.get(tag);
    if (!p) return;
    stream.cancel(tag);
    this.fail(p, chError('QUERY_WAS_CANCELLED', 'statement cancelled'));
  }

  /** The open Session call, opened on `connection` when there is none (the first statement, or after a break). */
  private open(connection: H2Connection): SessionStream {
    this.stream ??= new MuxCaller(connection.call(SESSION), WIRE, this, this.flusher);
    return this.stream;
  }

  reply(p: Pending, reply: StatementReply__Output): boolean {
    if (!reply.response) return false;
    if (reply.not_started && !p.received) {
      const refused = toEvent(reply.response);
      this.settle(p, { reason: refused instanceof QuellError ? refused.message : 'not started', refused: refused instanceof QuellError ? refused : undefined });
      return true;
    }
    p.received = true;
    const ev = toEvent(reply.response);
    if (ev) p.queue.push(ev);
    this.started(p);
    if (!reply.response.end) return false;
    this.finish(p);
    return true;
  }

  /** The stream broke (or the coordinator ended it): each statement in flight fails, or moves on if it never started. */
  lost(stream: object, calls: ReadonlyMap<number, Pending>, e: unknown): void {
    if (this.stream === stream) this.stream = undefined;
    const err = e as CallError | undefined;
    for (const p of calls.values()) {
      if (!p.received && err?.code === STATUS.UNIMPLEMENTED) this.settle(p, UNSUPPORTED);
      else if (!p.received && err === undefined) {
        // a coordinator that ended the stream took nothing after its last reply: it ends one
        // only when it is shutting down, which refuses the statement (236), as a refusal would
        const refused = coordinatorShuttingDown(this.address);
        this.settle(p, { reason: refused.message, refused });
      } else if (!p.received && err?.notStarted) this.settle(p, notStartedAttempt(err.status));
      else this.fail(p, err ? transportError(err.status, this.address) : chError('NETWORK_ERROR', `coordinator at ${this.address} ended the session`, true));
    }
  }

  /** The statement failed after it started (or here): its results end with `error`. */
  private fail(p: Pending, error: QuellError): void {
    p.queue.push(error);
    this.started(p);
    this.finish(p);
  }

  /** The statement's results are there to read: the attempt resolves with them. */
  private started(p: Pending): void {
    if (p.settled) return;
    p.settled = true;
    p.resolve({ results: p.results });
  }

  private finish(p: Pending): void {
    p.signal?.removeEventListener('abort', p.onAbort);
    p.queue.close();
  }

  /** Resolves a statement that did not start; it leaves this session. */
  private settle(p: Pending, attempt: Attempt | typeof UNSUPPORTED): void {
    p.signal?.removeEventListener('abort', p.onAbort);
    if (p.settled) return;
    p.settled = true;
    p.resolve(attempt);
  }
}
