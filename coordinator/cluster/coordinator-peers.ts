import * as grpc from '@grpc/grpc-js';
import { CHANNEL_OPTIONS } from '../../common/grpc/channel-options';
import { quellProto } from '../../proto/load';
import type { TransportSecurity } from '../../common/tls/transport-security';
import type { CoordinatorServiceClient } from '../../proto/generated/quell/v1/CoordinatorService';
import type { KillSessionRequest } from '../../proto/generated/quell/v1/KillSessionRequest';
import type { KillSessionResponse__Output } from '../../proto/generated/quell/v1/KillSessionResponse';

/** How long a forwarded KILL may take: an owner that does not answer by then fails the KILL. */
export const PEER_KILL_DEADLINE_MS = 5_000;

/**
 * Channels to the other coordinators, keyed by the address their registry records name. Each
 * requires its peer to present the `coordinator` certificate, as the agent pool requires
 * `agent/<node_id>` of the agents.
 */
export class CoordinatorPeers {
  private readonly clients = new Map<string, CoordinatorServiceClient>();

  constructor(private readonly security: TransportSecurity) {}

  /** Forwards a MariaDB KILL of one of that coordinator's sessions; rejects with the gRPC error when it cannot be asked. */
  killSession(address: string, req: KillSessionRequest, deadlineMs = PEER_KILL_DEADLINE_MS): Promise<KillSessionResponse__Output> {
    const client = this.client(address);
    return new Promise((resolve, reject) => {
      client.KillSession(req, { deadline: Date.now() + deadlineMs }, (err: grpc.ServiceError | null, res?: KillSessionResponse__Output) => (err || !res ? reject(err ?? new Error('no response')) : resolve(res)));
    });
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
