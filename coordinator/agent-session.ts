import type { KillResponse__Output } from '../proto/generated/quell/v1/KillResponse';
import type { ScanResponse__Output } from '../proto/generated/quell/v1/ScanResponse';
import type { SessionResponse__Output } from '../proto/generated/quell/v1/SessionResponse';
import { Backoff } from '../common/backoff';
import { inBandFailure, NodeFailure, sessionFailure } from '../common/rpc-status';
import type { Flushable, TurnFlusher } from '../common/mux/turn-flusher';
import { MESSAGE_TARGET_BYTES } from '../proto/wire-size';
import { encodeSessionRequest, type EncodedCall } from '../proto/session-request-codec';
import { SessionCallStream, type CallCarrier } from './session-call';

/** The bidirectional Session call as a session uses it; grpc-js's ClientDuplexStream is one. */
export interface SessionTransport {
  /** an encoded SessionRequest (proto/session-request-codec.ts) */
  write(message: Buffer): unknown;
  on(event: 'data', listener: (message: SessionResponse__Output) => void): unknown;
  /** the agent's response headers: it took the stream */
  on(event: 'metadata', listener: () => void): unknown;
  on(event: 'error', listener: (err: unknown) => void): unknown;
  on(event: 'status', listener: (status: { code: number }) => void): unknown;
  cancel(): void;
}

/** One open Session call and the statement calls in flight on it. */
class OpenStream implements CallCarrier, Flushable {
  readonly calls = new Map<number, SessionCallStream<unknown>>();
  private outbox: EncodedCall[] = [];
  private outboxBytes = 0;
  private readonly credits = new Map<number, number>();
  private nextTag = 0;
  broken = false;

  constructor(
    readonly transport: SessionTransport,
    private readonly flusher: TurnFlusher,
    private readonly onBreak: (stream: OpenStream) => void,
    onAnswer: () => void,
  ) {
    transport.on('data', (message) => this.receive(message));
    transport.on('metadata', onAnswer);
    transport.on('error', (err) => this.break(sessionFailure(err)));
    // a clean end: the agent is shutting down (it finished what it had)
    transport.on('status', () => this.break(new NodeFailure('node_unreachable', 'the agent ended the session (it is shutting down)')));
  }

  start<T>(request: { kill: Buffer } | { scan: Buffer }): SessionCallStream<T> {
    const tag = this.freeTag();
    const stream = new SessionCallStream<T>(this, tag, 'scan' in request);
    this.calls.set(tag, stream as SessionCallStream<unknown>);
    this.send({ ...request, tag });
    return stream;
  }

  cancel(tag: number): void {
    this.calls.delete(tag);
    this.credits.delete(tag);
    this.send({ tag, cancel: true });
  }

  credit(tag: number, blocks: number): void {
    this.credits.set(tag, (this.credits.get(tag) ?? 0) + blocks);
    this.flusher.schedule(this);
  }

  /** Everything gathered this turn, in messages of about MESSAGE_TARGET_BYTES. */
  flush(): void {
    for (const [tag, credit] of this.credits) if (this.calls.has(tag)) this.outbox.push({ tag, credit });
    this.credits.clear();
    if (this.outbox.length === 0 || this.broken) return;
    const calls = this.outbox;
    this.outbox = [];
    this.outboxBytes = 0;
    let message: EncodedCall[] = [];
    let bytes = 0;
    for (const call of calls) {
      const size = callBytes(call);
      if (message.length > 0 && bytes + size > MESSAGE_TARGET_BYTES) {
        this.transport.write(encodeSessionRequest(message));
        message = [];
        bytes = 0;
      }
      message.push(call);
      bytes += size;
    }
    this.transport.write(encodeSessionRequest(message));
  }

  /** Fails exactly the calls in flight on this stream. */
  break(failure: NodeFailure): void {
    if (this.broken) return;
    this.broken = true;
    this.outbox = [];
    this.credits.clear();
    const calls = [...this.calls.values()];
    this.calls.clear();
    for (const call of calls) call.fail(failure);
    this.onBreak(this);
  }

  private send(call: EncodedCall): void {
    if (this.broken) return;
    this.outbox.push(call);
    this.outboxBytes += callBytes(call);
    if (this.outboxBytes >= MESSAGE_TARGET_BYTES) this.flush();
    else this.flusher.schedule(this);
  }

  private receive(message: SessionResponse__Output): void {
    for (const reply of message.replies) {
      const call = this.calls.get(reply.tag);
      if (!call) continue; // cancelled here: the agent had not seen the cancel yet
      if (reply.kind === 'kill' || reply.kind === 'scan') call.deliver(reply.kind === 'kill' ? reply.kill : reply.scan);
      else if (reply.kind === 'end') {
        this.calls.delete(reply.tag);
        call.finish();
      } else {
        this.calls.delete(reply.tag);
        call.fail(inBandFailure(reply.error));
      }
    }
  }

  /** A tag no open call holds (a 32-bit counter: reuse is far off, and skipped while in use). */
  private freeTag(): number {
    do this.nextTag = (this.nextTag + 1) >>> 0;
    while (this.nextTag === 0 || this.calls.has(this.nextTag));
    return this.nextTag;
  }
}

function callBytes(call: EncodedCall): number {
  return ((call.kill ?? call.scan)?.length ?? 0) + 16;
}

/**
 * The coordinator's one long-lived Session stream to one agent, which carries every statement's
 * Kill and Scan as tagged calls (TiKV's BatchCommands is the model: one HTTP/2 stream per agent
 * costs a write per statement, not a call). It is opened when the node appears, and again at
 * once for a statement that finds it down; after a break it is reopened in the background with
 * the one backoff policy. A broken stream fails exactly the calls in flight on it.
 */
export class AgentSession {
  private stream: OpenStream | undefined;
  private reopenTimer: NodeJS.Timeout | undefined;
  private readonly backoff = new Backoff();
  private closed = false;

  constructor(
    private readonly connect: () => SessionTransport,
    private readonly flusher: TurnFlusher,
  ) {}

  /** Opens the stream unless one is open. */
  open(): void {
    this.current();
  }

  /** A kill call; `encoded` is the statement's KillRequest, encoded once for all its nodes. */
  kill(encoded: Buffer): SessionCallStream<KillResponse__Output> {
    return this.current().start({ kill: encoded });
  }

  /** A scan call; `encoded` is the statement's ScanRequest, encoded once for all its nodes. */
  scan(encoded: Buffer): SessionCallStream<ScanResponse__Output> {
    return this.current().start({ scan: encoded });
  }

  /** Calls in flight (for tests and metrics). */
  get inFlight(): number {
    return this.stream?.calls.size ?? 0;
  }

  /** Ends the stream for good; its calls fail with `reason` as node_unreachable. */
  close(reason: string): void {
    this.closed = true;
    if (this.reopenTimer) clearTimeout(this.reopenTimer);
    this.reopenTimer = undefined;
    const stream = this.stream;
    this.stream = undefined;
    if (!stream) return;
    stream.break(new NodeFailure('node_unreachable', reason));
    stream.transport.cancel();
  }

  private current(): OpenStream {
    if (this.closed) throw new NodeFailure('node_unreachable', 'the coordinator closed its stream to the agent');
    if (this.stream) return this.stream;
    if (this.reopenTimer) clearTimeout(this.reopenTimer);
    this.reopenTimer = undefined;
    const stream = new OpenStream(this.connect(), this.flusher, (s) => this.broke(s), () => this.backoff.reset());
    this.stream = stream;
    return stream;
  }

  private broke(stream: OpenStream): void {
    if (this.stream !== stream) return;
    this.stream = undefined;
    stream.transport.cancel();
    if (this.closed) return;
    this.reopenTimer = setTimeout(() => {
      this.reopenTimer = undefined;
      try {
        if (!this.closed && !this.stream) this.current();
      } catch {
        // a target that cannot be dialled: the next statement reports it
      }
    }, this.backoff.next());
    this.reopenTimer.unref();
  }
}
