import * as grpc from '@grpc/grpc-js';
import { AsyncQueue } from '../common/async-queue';
import { NodeFailure, toNodeFailure } from '../common/rpc-status';
import type { NodeAgentClient } from '../proto/generated/quell/v1/NodeAgent';
import type { AgentPool } from './agent-pool';
import type { MemberNode } from './membership';

export type FanoutEvent<T> =
  | { readonly kind: 'message'; readonly node: MemberNode; readonly message: T }
  | { readonly kind: 'done'; readonly node: MemberNode }
  | { readonly kind: 'failed'; readonly node: MemberNode; readonly failure: NodeFailure }
  | { readonly kind: 'inactive'; readonly node: MemberNode };

export interface FanoutOptions {
  /** a node that sends nothing within this time is a node_timeout */
  readonly firstAnswerMs: number;
  /** the whole call's gRPC deadline (longer for SYNC kills) */
  readonly callDeadlineMs: number;
  /** statement cancelled by its client: cancel every node call */
  readonly signal?: AbortSignal;
}

type OpenStream<T> = (client: NodeAgentClient, options: grpc.CallOptions) => grpc.ClientReadableStream<T>;

/**
 * Calls every member node in parallel and yields their messages merged in arrival order.
 * Every node ends in exactly one terminal event (done, failed or inactive), so a caller that
 * renders terminal events can never drop a node.
 */
export function fanOut<T>(nodes: readonly MemberNode[], pool: AgentPool, open: OpenStream<T>, opts: FanoutOptions): AsyncIterable<FanoutEvent<T>> {
  const queue = new AsyncQueue<FanoutEvent<T>>();
  let remaining = nodes.length;
  const finish = (): void => {
    if (--remaining === 0) queue.close();
  };
  if (remaining === 0) queue.close();
  const calls: grpc.ClientReadableStream<T>[] = [];
  const onAbort = (): void => {
    for (const c of calls) c.cancel();
  };
  opts.signal?.addEventListener('abort', onAbort, { once: true });

  for (const node of nodes) {
    if (!node.active) {
      queue.push({ kind: 'inactive', node });
      finish();
      continue;
    }
    let settled = false;
    let answered = false;
    const settle = (ev: FanoutEvent<T>): void => {
      if (settled) return;
      settled = true;
      clearTimeout(firstAnswer);
      queue.push(ev);
      finish();
    };
    let call: grpc.ClientReadableStream<T>;
    try {
      call = open(pool.client(node), { deadline: Date.now() + opts.callDeadlineMs });
    } catch (err) {
      queue.push({ kind: 'failed', node, failure: toNodeFailure(err) });
      finish();
      continue;
    }
    calls.push(call);
    const firstAnswer = setTimeout(() => {
      if (answered) return;
      settle({ kind: 'failed', node, failure: new NodeFailure('node_timeout', `no answer within ${opts.firstAnswerMs / 1000} s`) });
      call.cancel();
    }, opts.firstAnswerMs);
    call.on('data', (message: T) => {
      if (settled) return;
      answered = true;
      queue.push({ kind: 'message', node, message });
    });
    call.on('end', () => settle({ kind: 'done', node }));
    call.on('error', (err: unknown) => settle({ kind: 'failed', node, failure: toNodeFailure(err) }));
  }
  return queue;
}
