import * as grpc from '@grpc/grpc-js';
import { CHANNEL_OPTIONS } from '../../common/grpc/channel-options';
import { serviceError } from '../../common/grpc/rpc-status';
import { quellProto } from '../../proto/load';
import type { TransportSecurity } from '../../common/tls/transport-security';
import type { CoordinatorServiceClient } from '../../proto/generated/quell/v1/CoordinatorService';
import type { KillSessionRequest } from '../../proto/generated/quell/v1/KillSessionRequest';
import type { KillSessionResponse__Output } from '../../proto/generated/quell/v1/KillSessionResponse';
import type { ListSessionsRequest } from '../../proto/generated/quell/v1/ListSessionsRequest';
import type { ListSessionsResponse__Output } from '../../proto/generated/quell/v1/ListSessionsResponse';
import type { KillStatementRequest } from '../../proto/generated/quell/v1/KillStatementRequest';
import type { KillStatementResponse__Output } from '../../proto/generated/quell/v1/KillStatementResponse';

/** How long a forwarded KILL may take: an owner that does not answer by then fails the KILL. */
export const PEER_KILL_DEADLINE_MS = 5_000;
/** How long SHOW PROCESSLIST and system.sessions wait for another coordinator's sessions: one that has not answered by then is named in a warning. */
export const PEER_LIST_DEADLINE_MS = 2_000;

type Unary<Req, Res> = (req: Req, options: grpc.CallOptions, done: (err: grpc.ServiceError | null, res?: Res) => void) => { cancel(): void };

/**
 * Channels to the other coordinators, keyed by the address their registry records name. Each
 * requires its peer to present the `coordinator` certificate, as the agent pool requires
 * `agent/<node_id>` of the agents.
 */
export class CoordinatorPeers {
  private readonly clients = new Map<string, CoordinatorServiceClient>();

  constructor(private readonly security: TransportSecurity) {}

  /** Forwards a MariaDB KILL of one of that coordinator's sessions; rejects with the gRPC error when it cannot be asked; `signal` (the KILL's) cancels the call. */
  killSession(address: string, req: KillSessionRequest, deadlineMs = PEER_KILL_DEADLINE_MS, signal?: AbortSignal): Promise<KillSessionResponse__Output> {
    const client = this.client(address);
    // the owner refuses it past the call's own deadline: a KILL reported failed never happens later
    return call<KillSessionRequest, KillSessionResponse__Output>(client.KillSession.bind(client), { ...req, act_by_unix_ms: String(Date.now() + deadlineMs) }, deadlineMs, signal);
  }

  /** That coordinator's door sessions and running door statements, as the user may see them; `signal` (the asking statement's) cancels the call. */
  listSessions(address: string, req: ListSessionsRequest, deadlineMs = PEER_LIST_DEADLINE_MS, signal?: AbortSignal): Promise<ListSessionsResponse__Output> {
    const client = this.client(address);
    return call<ListSessionsRequest, ListSessionsResponse__Output>(client.ListSessions.bind(client), req, deadlineMs, signal);
  }

  /** Forwards a KILL QUERY by query_id to that coordinator's running statements; `signal` (the KILL's) cancels the call. */
  killStatement(address: string, req: KillStatementRequest, deadlineMs = PEER_KILL_DEADLINE_MS, signal?: AbortSignal): Promise<KillStatementResponse__Output> {
    const client = this.client(address);
    return call<KillStatementRequest, KillStatementResponse__Output>(client.KillStatement.bind(client), { ...req, act_by_unix_ms: String(Date.now() + deadlineMs) }, deadlineMs, signal);
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }

  private client(address: string): CoordinatorServiceClient {
    let client = this.clients.get(address);
    if (!client) {
      const Ctor = quellProto().coordinator.quell.v1.CoordinatorService;
      client = new Ctor(address, this.security.channelCredentials(address, 'coordinator'), { ...CHANNEL_OPTIONS });
      this.clients.set(address, client);
    }
    return client;
  }
}

/**
 * One unary call with a deadline; rejects with the gRPC error. An abort of `signal` cancels it
 * (CANCELLED, as grpc-js words it), and an aborted one sends nothing: a statement its client gave
 * up on does not wait out a slow peer.
 */
function call<Req, Res>(method: Unary<Req, Res>, req: Req, deadlineMs: number, signal?: AbortSignal): Promise<Res> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(serviceError(grpc.status.CANCELLED, 'Cancelled on client'));
      return;
    }
    const cancel = (): void => pending.cancel();
    const pending = method(req, { deadline: Date.now() + deadlineMs }, (err, res) => {
      signal?.removeEventListener('abort', cancel);
      if (err || !res) reject(err ?? new Error('no response'));
      else resolve(res);
    });
    signal?.addEventListener('abort', cancel, { once: true });
  });
}
