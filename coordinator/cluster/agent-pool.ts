import { CHANNEL_OPTIONS } from '../../common/grpc/channel-options';
import { nodeAgentClient } from '../../proto/session-request-codec';
import type { NodeAgentServiceClient } from '../../proto/generated/quell/v1/NodeAgentService';
import type { MemberNode } from './membership';
import { identities } from '../../common/tls/identity';
import type { TransportSecurity } from '../../common/tls/transport-security';
import { TurnFlusher } from '../../common/mux/turn-flusher';
import { AgentSession, type SessionTransport } from './agent-session';
import { CoordinatorPeers } from './coordinator-peers';

interface Held {
  readonly address: string;
  readonly client: NodeAgentServiceClient;
  readonly session: AgentSession;
}

/**
 * One long-lived gRPC channel per agent, and on it one Session stream that carries every
 * statement (coordinator/cluster/agent-session.ts). Keyed by node id and replaced only when the node's
 * address changes. Both are opened when a node appears, so the first statement that reaches it
 * does not pay for the connect. Each channel requires its peer to be the agent the alive record
 * names (`agent/<node_id>`): whoever else answers at that address, an impostor or another node,
 * fails the handshake and becomes that node's node_error row, never a kill row.
 */
export class AgentPool {
  private readonly held = new Map<string, Held>();
  /** one immediate per turn sends what every session gathered */
  private readonly flusher = new TurnFlusher();

  /** channels to the other coordinators (KILL of their sessions), closed with the pool */
  readonly coordinators: CoordinatorPeers;

  constructor(private readonly security: TransportSecurity) {
    this.coordinators = new CoordinatorPeers(security);
  }

  /** The node's channel, for unary calls (Info). */
  client(node: MemberNode): NodeAgentServiceClient {
    return this.get(node).client;
  }

  /** The node's session stream: every statement's calls to it travel there. */
  session(node: MemberNode): AgentSession {
    return this.get(node).session;
  }

  /** Opens sessions to live nodes and closes those of nodes that are gone; `live` lists every cluster's members. */
  sync(live: readonly MemberNode[]): void {
    const keep = new Set<string>();
    for (const node of live) {
      if (!node.active) continue;
      keep.add(node.nodeId);
      try {
        this.get(node).session.open();
      } catch {
        // a target grpc-js cannot parse: the node's calls fail when a statement reaches it
      }
    }
    for (const [nodeId, held] of this.held) {
      if (!keep.has(nodeId)) this.drop(nodeId, held, 'the node left the cluster or lost its lease');
    }
  }

  close(): void {
    for (const [nodeId, held] of this.held) this.drop(nodeId, held, 'the coordinator is shutting down');
    this.coordinators.close();
  }

  private get(node: MemberNode): Held {
    const held = this.held.get(node.nodeId);
    if (held && held.address === node.address) return held;
    if (held) this.drop(node.nodeId, held, `the agent moved to ${node.address}`);
    const credentials = this.security.channelCredentials(node.address, identities.agent(node.nodeId, this.security.trustDomain));
    const client = nodeAgentClient(node.address, credentials, { ...CHANNEL_OPTIONS });
    // the requests are encoded by proto/session-request-codec.ts
    const session = new AgentSession(() => client.Session() as unknown as SessionTransport, this.flusher);
    const fresh = { address: node.address, client, session };
    this.held.set(node.nodeId, fresh);
    return fresh;
  }

  private drop(nodeId: string, held: Held, reason: string): void {
    held.session.close(reason);
    held.client.close();
    this.held.delete(nodeId);
  }
}
