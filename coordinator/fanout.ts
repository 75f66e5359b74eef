import { AsyncQueue } from '../common/async-queue';
import { NodeFailure, toNodeFailure } from '../common/rpc-status';
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
}

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
}

export interface OpenOptions {
  /** epoch milliseconds after which the node must not act on the statement */
  readonly deadline: number;
}

/** Opens one node's stream for a statement; a throw is that node's failure. */
export type OpenNodeStream<T> = (node: MemberNode, options: OpenOptions) => NodeStream<T>;

/**
 * Calls every member node in parallel and yields their messages merged in arrival order.
 * Every node ends in exactly one terminal event (done, failed or inactive), so a caller that
 * renders terminal events can never drop a node. A consumer that stops iterating early
 * cancels the calls still open.
 */
export function fanOut<T>(nodes: readonly MemberNode[], open: OpenNodeStream<T>, opts: FanoutOptions): AsyncIterable<FanoutEvent<T>> {
  const queue = new AsyncQueue<FanoutEvent<T>>();
  let remaining = nodes.length;
  const terminal = (ev: FanoutEvent<T>): void => {
    queue.push(ev);
    if (--remaining === 0) queue.close();
  };
  if (remaining === 0) queue.close();
  const calls: (() => void)[] = [];
  for (const node of nodes) {
    const cancel = callNode(node, open, opts, queue, terminal);
    if (cancel) calls.push(cancel);
  }
  const cancelAll = (): void => {
    for (const cancel of calls) cancel();
  };
  const signal = opts.signal;
  if (signal?.aborted) cancelAll();
  else signal?.addEventListener('abort', cancelAll, { once: true });
  return drain(queue, () => {
    signal?.removeEventListener('abort', cancelAll);
    cancelAll();
  });
}

async function* drain<T>(queue: AsyncQueue<T>, cleanup: () => void): AsyncGenerator<T> {
  try {
    yield* queue;
  } finally {
    cleanup();
  }
}

/** Starts one node's call; returns how to cancel it while it is unsettled, or nothing when it already ended. */
function callNode<T>(
  node: MemberNode,
  open: OpenNodeStream<T>,
  opts: FanoutOptions,
  queue: AsyncQueue<FanoutEvent<T>>,
  terminal: (ev: FanoutEvent<T>) => void,
): (() => void) | undefined {
  if (!node.active) {
    terminal({ kind: 'inactive', node });
    return undefined;
  }
  let stream: NodeStream<T>;
  try {
    stream = open(node, { deadline: Date.now() + opts.callDeadlineMs });
  } catch (err) {
    terminal({ kind: 'failed', node, failure: toNodeFailure(err) });
    return undefined;
  }
  let settled = false;
  let answered = false;
  const settle = (ev: FanoutEvent<T>): void => {
    if (settled) return;
    settled = true;
    clearTimeout(firstAnswer);
    terminal(ev);
  };
  const firstAnswer = setTimeout(() => {
    settle({ kind: 'failed', node, failure: new NodeFailure('node_timeout', `no answer within ${opts.firstAnswerMs / 1000} s`) });
    stream.cancel();
  }, opts.firstAnswerMs);
  stream.on('data', (message: T) => {
    if (settled) return;
    if (!answered) {
      answered = true;
      clearTimeout(firstAnswer);
    }
    queue.push({ kind: 'message', node, message });
  });
  stream.on('end', () => settle({ kind: 'done', node }));
  stream.on('error', (err: unknown) => settle({ kind: 'failed', node, failure: toNodeFailure(err) }));
  return () => {
    if (!settled) stream.cancel();
  };
}
