import { CHANNEL_OPTIONS, quellProto } from '../proto/load';
import type { NodeAgentClient } from '../proto/generated/quell/v1/NodeAgent';
import type { MemberNode } from './membership';
import { identities } from '../common/identity';
import type { TransportSecurity } from '../common/tls/transport-security';

/**
 * One long-lived gRPC channel per agent, keyed by node id and replaced only when the node's
 * address changes. Channels are opened when a node appears, so the first statement that
 * reaches it does not pay for the connect. Each channel requires its peer to be the agent the
 * alive record names (`agent/<node_id>`): whoever else answers at that address, an impostor or
 * another node, fails the handshake and becomes that node's node_error row, never a kill row.
 */
export class AgentPool {
  private readonly clients = new Map<string, { address: string; client: NodeAgentClient }>();

  constructor(private readonly security: TransportSecurity) {}

  client(node: MemberNode): NodeAgentClient {
    const held = this.clients.get(node.nodeId);
    if (held && held.address === node.address) return held.client;
    held?.client.close();
    const Ctor = quellProto().agent.quell.v1.NodeAgent;
    const credentials = this.security.channelCredentials(node.address, identities.agent(node.nodeId, this.security.trustDomain));
    const client = new Ctor(node.address, credentials, { ...CHANNEL_OPTIONS });
    this.clients.set(node.nodeId, { address: node.address, client });
    return client;
  }

  /** Opens channels for live nodes and closes those of nodes that are gone; `live` lists every cluster's members. */
  sync(live: readonly MemberNode[]): void {
    const keep = new Set<string>();
    for (const node of live) {
      if (!node.active) continue;
      keep.add(node.nodeId);
      try {
        this.client(node).getChannel().getConnectivityState(true);
      } catch {
        // a target grpc-js cannot parse: the node's calls fail as node_unreachable instead
      }
    }
    for (const [nodeId, held] of this.clients) {
      if (!keep.has(nodeId)) {
        held.client.close();
        this.clients.delete(nodeId);
      }
    }
  }

  close(): void {
    for (const held of this.clients.values()) held.client.close();
    this.clients.clear();
  }
}
