/**
 * How quell's gRPC connections find a peer that is gone without a word (its host died, a
 * partition): a ping every KEEPALIVE_TIME_MS, and one unanswered for KEEPALIVE_TIMEOUT_MS ends
 * the connection. Without it a call waiting for an answer waits forever: the kernel has nothing
 * to retransmit, so it never notices. common/grpc/channel-options.ts gives grpc-js these; the client's own
 * transport (client/transport/h2-connection.ts, no grpc-js) pings by itself.
 */
export const KEEPALIVE_TIME_MS = 10_000;
export const KEEPALIVE_TIMEOUT_MS = 5_000;

export interface Keepalive {
  readonly timeMs: number;
  readonly timeoutMs: number;
}

export const KEEPALIVE: Keepalive = { timeMs: KEEPALIVE_TIME_MS, timeoutMs: KEEPALIVE_TIMEOUT_MS };
