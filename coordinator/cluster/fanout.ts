import { AsyncQueue } from '../../common/async-queue';
import { NodeFailure, toNodeFailure } from '../../common/grpc/rpc-status';
import type { MemberNode } from './membership';

export type FanoutEvent<T> =
  | { readonly kind: 'message'; readonly node: MemberNode; readonly message: T }
  | { readonly kind: 'done'; readonly node: MemberNode }
  | { readonly kind: 'failed'; readonly node: MemberNode; readonly failure: NodeFailure }
  | { readonly kind: 'inactive'; readonly node: MemberNode };

export interface FanoutOptions {
  /** a node that sends nothing within this time is a node_timeout */
  readonly firstAnswerMs: number;
  /** the whole call's deadline (longer for SYNC kills) */
  readonly callDeadlineMs: number;
  /** statement cancelled by its client: cancel every node call */
  readonly signal?: AbortSignal;
  /**
   * Reads: while the consumer is behind, stop reading the nodes that have answered, so their
   * rows wait in the agents and the network instead of the coordinator. Never for kills: a
   * node's stream must not stall into its deadline after it acted.
   */
  readonly pauseWhenBehind?: boolean;
  /** a node this returns a reason for gets nothing: it fails at once as node_error (an incompatible agent) */
  readonly refuse?: (node: MemberNode) => string | undefined;
  /** told of every node that did not take the statement (metrics) */
  readonly metrics?: { nodeMissed(nodeId: string, status: string): void };
}

/** Messages waiting for the consumer at which answered streams are paused, and at which they resume. */
const PAUSE_AT = 64;
const RESUME_AT = 16;

/**
 * One node's answer as fan-out reads it: messages, then `end` or `error`. A gRPC
 * server-streaming call is one; so is anything else that carries a statement to a node.
 */
export interface NodeStream<T> {
  on(event: 'data', listener: (message: T) => void): unknown;
  on(event: 'end', listener: () => void): unknown;
  on(event: 'error', listener: (err: unknown) => void): unknown;
  /** stop the call: the stream then ends with an error (or not at all, once it has ended) */
  cancel(): void;
  /** stop and restart reading (flow control); a stream without them is never paused */
  pause?(): unknown;
  resume?(): unknown;
}

/** Pauses the streams that have answered while the consumer is behind, and resumes them when it catches up. */
class FlowControl {
  private paused = false;
  private readonly streams = new Set<NodeStream<unknown>>();

  constructor(
    private readonly queue: AsyncQueue<unknown>,
    private readonly enabled: boolean,
  ) {}

  /** A stream delivered a message (so it has answered, and pausing it cannot make it time out). */
  received(stream: NodeStream<unknown>): void {
    if (!this.enabled) return;
    this.streams.add(stream);
    if (this.paused) stream.pause?.();
    else if (this.queue.length >= PAUSE_AT) {
      this.paused = true;
      for (const s of this.streams) s.pause?.();
    }
  }

  /** The consumer took a message. */
  taken(): void {
    if (!this.paused || this.queue.length > RESUME_AT) return;
    this.paused = false;
    for (const s of this.streams) s.resume?.();
  }

  ended(stream: NodeStream<unknown>): void {
    this.streams.delete(stream);
  }
}

/**
 * Opens one node's stream for a statement; a throw is that node's failure. The call's deadlines
 * are fan-out's own timer (a kill's act_by_unix_ms is in its request).
 */
export type OpenNodeStream<T> = (node: MemberNode) => NodeStream<T>;

/** One node's call while it is open, as the statement's timer sees it. */
interface OpenCall {
  answered: boolean;
  /** ends the call as `failure` (and cancels it) */
  expire(failure: NodeFailure): void;
}

/**
 * Calls every member node in parallel and yields their messages merged in arrival order, in
 * batches: whatever arrived since the consumer last took (one agent's reply carries its plan,
 * rows and end; a turn may read several agents'), so a statement to 100 agents wakes its
 * consumer per batch, not per message. Every node ends in exactly one terminal event (done,
 * failed or inactive), so a caller that renders terminal events can never drop a node. A
 * consumer that stops iterating early cancels the calls still open.
 *
 * The deadlines run on one timer per statement, not one per node: at `firstAnswerMs` every
 * node that has sent nothing is node_timeout, and at `callDeadlineMs` every call still open is.
 */
export function fanOut<T>(nodes: readonly MemberNode[], open: OpenNodeStream<T>, opts: FanoutOptions): AsyncIterable<readonly FanoutEvent<T>[]> {
  const queue = new AsyncQueue<FanoutEvent<T>>();
  const openCalls = new Set<OpenCall>();
  let timer: NodeJS.Timeout | undefined;
  let remaining = nodes.length;
  const terminal = (ev: FanoutEvent<T>): void => {
    if (ev.kind === 'failed') opts.metrics?.nodeMissed(ev.node.nodeId, ev.failure.kind);
    else if (ev.kind === 'inactive') opts.metrics?.nodeMissed(ev.node.nodeId, 'node_inactive');
    queue.push(ev);
    if (--remaining === 0) {
      queue.close();
      if (timer) clearTimeout(timer);
    }
  };
  if (remaining === 0) queue.close();
  const cancels: (() => void)[] = [];
  const flow = new FlowControl(queue, opts.pauseWhenBehind === true);
  for (const node of nodes) {
    const refused = node.active ? opts.refuse?.(node) : undefined;
    if (refused !== undefined) {
      terminal({ kind: 'failed', node, failure: new NodeFailure('node_error', refused) });
      continue;
    }
    const call = callNode(node, open, queue, terminal, flow, openCalls);
    if (call) cancels.push(call);
  }
  if (openCalls.size > 0) {
    timer = setTimeout(() => {
      const silent = new NodeFailure('node_timeout', `no answer within ${opts.firstAnswerMs / 1000} s`);
      for (const c of [...openCalls]) if (!c.answered) c.expire(silent);
      if (openCalls.size === 0) return;
      timer = setTimeout(() => {
        const late = new NodeFailure('node_timeout', 'no answer before the deadline');
        for (const c of [...openCalls]) c.expire(late);
      }, Math.max(0, opts.callDeadlineMs - opts.firstAnswerMs));
    }, opts.firstAnswerMs);
  }
  const cancelAll = (): void => {
    for (const cancel of cancels) cancel();
  };
  const signal = opts.signal;
  if (signal?.aborted) cancelAll();
  else signal?.addEventListener('abort', cancelAll, { once: true });
  return drain(queue, flow, () => {
    signal?.removeEventListener('abort', cancelAll);
    if (timer) clearTimeout(timer);
    cancelAll();
  });
}

async function* drain<T>(queue: AsyncQueue<T>, flow: FlowControl, cleanup: () => void): AsyncGenerator<readonly T[]> {
  try {
    for await (const batch of queue.batches()) {
      yield batch;
      flow.taken();
    }
  } finally {
    cleanup();
  }
}

/** Starts one node's call; returns how to cancel it while it is unsettled, or nothing when it already ended. */
function callNode<T>(
  node: MemberNode,
  open: OpenNodeStream<T>,
  queue: AsyncQueue<FanoutEvent<T>>,
  terminal: (ev: FanoutEvent<T>) => void,
  flow: FlowControl,
  openCalls: Set<OpenCall>,
): (() => void) | undefined {
  if (!node.active) {
    terminal({ kind: 'inactive', node });
    return undefined;
  }
  let stream: NodeStream<T>;
  try {
    stream = open(node);
  } catch (err) {
    terminal({ kind: 'failed', node, failure: toNodeFailure(err) });
    return undefined;
  }
  let settled = false;
  const settle = (ev: FanoutEvent<T>): void => {
    if (settled) return;
    settled = true;
    openCalls.delete(call);
    flow.ended(stream);
    terminal(ev);
  };
  const call: OpenCall = {
    answered: false,
    expire(failure) {
      settle({ kind: 'failed', node, failure });
      stream.cancel();
    },
  };
  openCalls.add(call);
  stream.on('data', (message: T) => {
    if (settled) return;
    call.answered = true;
    queue.push({ kind: 'message', node, message });
    flow.received(stream);
  });
  stream.on('end', () => settle({ kind: 'done', node }));
  stream.on('error', (err: unknown) => settle({ kind: 'failed', node, failure: toNodeFailure(err) }));
  return () => {
    if (!settled) stream.cancel();
  };
}
