import { NodeFailure } from '../../common/grpc/rpc-status';
import type { NodeStream } from './fanout';

/** What a call needs of the stream it travels on (common/mux/caller.ts's MuxCaller is one). */
export interface CallCarrier {
  /** tell the agent to stop the call */
  cancel(tag: number): void;
  /** the coordinator took `blocks` more of a scan's row blocks */
  credit(tag: number, blocks: number): void;
}

/**
 * One statement's call to one agent on that agent's session stream, as fan-out reads it:
 * messages, then exactly one end or error. The session routes the agent's tagged replies here.
 * A scan acknowledges each block it receives (the agent keeps a window of unacknowledged blocks
 * per scan); pause() holds the acknowledgements back, so a read whose client is behind stops
 * its agents without stopping the stream other statements share.
 */
export class SessionCallStream<T> implements NodeStream<T> {
  private onData: ((message: T) => void) | undefined;
  private onEnd: (() => void) | undefined;
  private onError: ((err: unknown) => void) | undefined;
  private settled = false;
  private paused = false;
  /** blocks received while paused, acknowledged on resume */
  private owed = 0;

  constructor(
    private readonly carrier: CallCarrier,
    readonly tag: number,
    /** a scan: its blocks are acknowledged */
    private readonly credited: boolean,
  ) {}

  on(event: 'data', listener: (message: T) => void): this;
  on(event: 'end', listener: () => void): this;
  on(event: 'error', listener: (err: unknown) => void): this;
  on(event: 'data' | 'end' | 'error', listener: ((message: T) => void) | (() => void) | ((err: unknown) => void)): this {
    if (event === 'data') this.onData = listener as (message: T) => void;
    else if (event === 'end') this.onEnd = listener as () => void;
    else this.onError = listener as (err: unknown) => void;
    return this;
  }

  deliver(message: T): void {
    if (this.settled) return;
    this.onData?.(message);
    if (!this.credited || this.settled) return;
    if (this.paused) this.owed++;
    else this.carrier.credit(this.tag, 1);
  }

  finish(): void {
    if (this.settled) return;
    this.settled = true;
    this.onEnd?.();
  }

  fail(failure: NodeFailure): void {
    if (this.settled) return;
    this.settled = true;
    this.onError?.(failure);
  }

  cancel(): void {
    if (this.settled) return;
    this.carrier.cancel(this.tag);
    this.fail(new NodeFailure('node_unreachable', 'cancelled by the coordinator'));
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    if (this.owed === 0 || this.settled) return;
    this.carrier.credit(this.tag, this.owed);
    this.owed = 0;
  }
}
