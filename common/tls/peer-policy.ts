import type { QuellError } from '../../errors/quell-error';
import type { Identity, Role } from './identity';
import { peerIdentity, peerRefusal, type PeerCall } from './peer';
import type { TransportSecurity } from './transport-security';

/**
 * Which peers a server lets call an RPC. With TLS the peer's certificate role decides; a
 * plaintext server (loopback only, `--insecure`) and an agent's workload socket (a file whose
 * mode decides who connects) have no certificates to ask, so they let every caller through.
 */
export class PeerPolicy {
  private constructor(private readonly trustDomain: string | undefined) {}

  /** Role checks by certificate when `security` is TLS; none when it is plaintext. */
  static of(security: TransportSecurity): PeerPolicy {
    return new PeerPolicy(security.secure ? security.trustDomain : undefined);
  }

  /** No checks: for servers whose transport already decides who may connect. */
  static open(): PeerPolicy {
    return new PeerPolicy(undefined);
  }

  get checks(): boolean {
    return this.trustDomain !== undefined;
  }

  /** Why this caller may not call `rpc`, or undefined when it may. */
  refusal(call: PeerCall, roles: readonly Role[], rpc: string): QuellError | undefined {
    return this.trustDomain === undefined ? undefined : peerRefusal(call, roles, rpc, this.trustDomain);
  }

  /** The caller's verified identity, when it presented one. */
  identity(call: PeerCall): Identity | undefined {
    return this.trustDomain === undefined ? undefined : peerIdentity(call, this.trustDomain);
  }
}
