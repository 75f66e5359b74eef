import type { KillResponse__Output } from '../../proto/generated/quell/v1/KillResponse';
import type { ScanResponse__Output } from '../../proto/generated/quell/v1/ScanResponse';
import type { SessionResponse__Output } from '../../proto/generated/quell/v1/SessionResponse';
import { Backoff } from '../../common/etcd/backoff';
import { inBandFailure, NodeFailure, sessionFailure } from '../../common/grpc/rpc-status';
import { MuxCaller, type CallerHandler, type CallerTransport, type CallWire } from '../../common/mux/caller';
import type { TurnFlusher } from '../../common/mux/turn-flusher';
import type { SessionReply__Output } from '../../proto/generated/quell/v1/SessionReply';
import { encodeSessionRequest, type EncodedCall } from '../../proto/session-request-codec';
import { SessionCallStream } from './session-call';

/** The bidirectional Session call as a session uses it (it writes encoded SessionRequests); grpc-js's ClientDuplexStream is one. */
export interface SessionTransport extends CallerTransport<Buffer, SessionReply__Output> {
  /** the agent's response headers: it took the stream */
  on(event: 'metadata', listener: () => void): unknown;
  on(event: 'data', listener: (message: SessionResponse__Output) => void): unknown;
  on(event: 'error', listener: (err: unknown) => void): unknown;
  on(event: 'status', listener: (status: { code: number }) => void): unknown;
}

/** Agent calls on the wire: a kill or scan takes its encoded request and a few bytes, a cancel or credit a few bytes. */
const WIRE: CallWire<EncodedCall, Buffer> = {
  encode: encodeSessionRequest,
  size: (call: EncodedCall) => ((call.kill ?? call.scan)?.length ?? 0) + 16,
};

type Call = SessionCallStream<unknown>;

/** One open Session call and the statement calls in flight on it. */
type OpenStream = MuxCaller<EncodedCall, Call, SessionReply__Output, Buffer>;

/**
 * The coordinator's one long-lived Session stream to one agent, which carries every statement's
 * Kill and Scan as tagged calls (TiKV's BatchCommands is the model: one HTTP/2 stream per agent
 * costs a write per statement, not a call). It is opened when the node appears, and again at
 * once for a statement that finds it down; after a break it is reopened in the background with
 * the one backoff policy. A broken stream fails exactly the calls in flight on it.
 */
export class AgentSession implements CallerHandler<Call, SessionReply__Output> {
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
    return this.start(false, encoded);
  }

  /** A scan call; `encoded` is the statement's ScanRequest, encoded once for all its nodes. */
  scan(encoded: Buffer): SessionCallStream<ScanResponse__Output> {
    return this.start(true, encoded);
  }

  /** Calls in flight (for tests and metrics). */
  get inFlight(): number {
    return this.stream?.inFlight ?? 0;
  }

  /** Ends the stream for good; its calls fail with `reason` as node_unreachable. */
  close(reason: string): void {
    this.closed = true;
    if (this.reopenTimer) clearTimeout(this.reopenTimer);
    this.reopenTimer = undefined;
    const stream = this.stream;
    this.stream = undefined;
    if (!stream) return;
    const failure = new NodeFailure('node_unreachable', reason);
    for (const call of stream.close().values()) call.fail(failure);
  }

  reply(call: Call, reply: SessionReply__Output): boolean {
    if (reply.kind === 'kill' || reply.kind === 'scan') {
      call.deliver(reply.kind === 'kill' ? reply.kill : reply.scan);
      return false;
    }
    if (reply.kind === 'end') call.finish();
    else call.fail(inBandFailure(reply.error));
    return true;
  }

  /** The stream broke, or the agent ended it: exactly the calls in flight on it fail. */
  lost(stream: object, calls: ReadonlyMap<number, Call>, err: unknown): void {
    // a clean end: the agent is shutting down (it finished what it had)
    const failure = err === undefined ? new NodeFailure('node_unreachable', 'the agent ended the session (it is shutting down)') : sessionFailure(err);
    for (const call of calls.values()) call.fail(failure);
    this.broke(stream);
  }

  private start<T>(scan: boolean, encoded: Buffer): SessionCallStream<T> {
    const stream = this.current();
    const tag = stream.freeTag();
    const call = new SessionCallStream<T>(stream, tag, scan);
    stream.start(tag, call as Call, scan ? { tag, scan: encoded } : { tag, kill: encoded });
    return call;
  }

  private current(): OpenStream {
    if (this.closed) throw new NodeFailure('node_unreachable', 'the coordinator closed its stream to the agent');
    if (this.stream) return this.stream;
    if (this.reopenTimer) clearTimeout(this.reopenTimer);
    this.reopenTimer = undefined;
    const transport = this.connect();
    // the agent's response headers: it took the stream
    transport.on('metadata', () => this.backoff.reset());
    const stream: OpenStream = new MuxCaller(transport, WIRE, this, this.flusher);
    this.stream = stream;
    return stream;
  }

  private broke(stream: object): void {
    if (this.stream !== stream) return;
    this.stream = undefined;
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
