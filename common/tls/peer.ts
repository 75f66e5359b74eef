import type { PeerCertificate, TLSSocket } from 'node:tls';
import { chError, type QuellError } from '../../errors/quell-error';
import { DEFAULT_TRUST_DOMAIN, describeExpectation, formatIdentity, identityOfCertificate, meetsExpectation, type Identity, type PeerExpectation, type Role } from './identity';

/** The words every identity-mismatch reason starts with (rpc-status and tests look for them). */
export const IDENTITY_MISMATCH = 'identity mismatch';

/**
 * A `checkServerIdentity` for a client that requires the server to be `expect`. Identity is the
 * URI SAN, so the host name is not checked: the coordinator dials whatever address an alive
 * record names, and only the certificate says whether that is the node it wanted.
 */
export function serverIdentityCheck(expect: PeerExpectation, trustDomain = DEFAULT_TRUST_DOMAIN): (host: string, cert: PeerCertificate) => Error | undefined {
  return (_host, cert) => {
    const found = identityOfCertificate(cert, trustDomain);
    if (found.ok && meetsExpectation(found.identity, expect, trustDomain)) return undefined;
    const presented = found.ok ? formatIdentity(found.identity) : found.reason;
    return new Error(`${IDENTITY_MISMATCH}: expected ${describeExpectation(expect, trustDomain)}, peer presented ${presented}`);
  };
}

/** What a server handler needs of a call (every grpc-js server call has it). */
export interface PeerCall {
  getAuthContext(): { readonly sslPeerCertificate?: PeerCertificate | undefined } | null;
  getPeer(): string;
}

/**
 * The identity of the peer of a server call, or undefined when it presented no certificate or
 * one that did not verify against our CA (grpc-js exposes only verified certificates).
 */
export function peerIdentity(call: PeerCall, trustDomain = DEFAULT_TRUST_DOMAIN): Identity | undefined {
  const cert = call.getAuthContext()?.sslPeerCertificate;
  if (!cert) return undefined;
  const found = identityOfCertificate(cert, trustDomain);
  return found.ok ? found.identity : undefined;
}

/**
 * The identity of a Node TLS socket's peer (node:https, node:tls servers), or undefined when it
 * presented no certificate or one that did not verify against our CA: a server that only asks
 * for certificates accepts unverified ones too, so `authorized` decides.
 */
export function socketPeerIdentity(socket: TLSSocket, trustDomain = DEFAULT_TRUST_DOMAIN): Identity | undefined {
  if (!socket.authorized) return undefined;
  const found = identityOfCertificate(socket.getPeerCertificate(), trustDomain);
  return found.ok ? found.identity : undefined;
}

/** Why the peer of a call may not call `rpc`, or undefined when its role is one of `roles`. */
export function peerRefusal(call: PeerCall, roles: readonly Role[], rpc: string, trustDomain = DEFAULT_TRUST_DOMAIN): QuellError | undefined {
  const cert = call.getAuthContext()?.sslPeerCertificate;
  const wanted = roles.map((r) => describeExpectation(r, trustDomain)).join(' or ');
  if (!cert) {
    return chError('AUTHENTICATION_FAILED', `${rpc} refused for ${call.getPeer()}: needs a ${wanted} certificate; the peer presented none that our CA signed (no certificate, another CA, or expired)`);
  }
  const found = identityOfCertificate(cert, trustDomain);
  if (!found.ok) return chError('AUTHENTICATION_FAILED', `${rpc} refused for ${call.getPeer()}: needs a ${wanted} certificate; the peer's certificate has ${found.reason}`);
  if (roles.includes(found.identity.role)) return undefined;
  return chError('ACCESS_DENIED', `${rpc} refused for ${call.getPeer()}: needs a ${wanted} certificate; the peer is ${formatIdentity(found.identity)}`);
}
