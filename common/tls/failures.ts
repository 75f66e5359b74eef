import { IDENTITY_MISMATCH } from './peer';

/**
 * A failed TLS connection as one line: grpc-js reports it as "No connection established. Last
 * error: Error: 80BC…:error:0A00010B:SSL routines:ssl3_get_record:wrong version number:… .
 * Resolution note: ". The operator needs "the peer does not speak TLS".
 */

/** The last error inside grpc-js's connect-failure text, without prefixes and timestamps. */
export function lastConnectError(details: string): string {
  return details
    .replace(/^No connection established\. Last error: /, '')
    .split('Resolution note:')[0]!
    .trimEnd()
    .replace(/\.$/, '')
    .trimEnd()
    .replace(/\(\d{4}-\d\d-\d\dT[\d:.]+Z\)$/, '')
    .replace(/^(Error: )+/, '')
    .trim();
}

/** Said for a connection that closed before HTTP/2 started and gave no reason (client/transport/h2-connection.ts). */
export const CLOSED_DURING_SETUP = 'Connection closed during setup';

/** `text` matched literally in a RegExp. */
function literal(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

const REASONS: readonly [RegExp, string, boolean][] = [
  [/self[- ]signed certificate|unable to verify the first certificate|unable to get (local )?issuer certificate|certificate signature failure/i, "the peer's certificate is not signed by our CA", true],
  [/certificate has expired|CERT_HAS_EXPIRED/i, "the peer's certificate has expired", true],
  [/certificate is not yet valid|CERT_NOT_YET_VALID/i, "the peer's certificate is not valid yet", true],
  [/wrong version number|packet length too long|http request|unknown protocol/i, 'the peer does not speak TLS (a plaintext endpoint; is it running with --insecure?)', true],
  [/alert certificate required/i, 'the peer requires a client certificate and we sent none', true],
  [/alert unknown ca|alert bad certificate|alert certificate expired|alert certificate unknown|alert certificate revoked|alert access denied/i, 'the peer refused our certificate', true],
  // grpc-js's text when the connection closes before HTTP/2 starts: a TLS server dropping a
  // client whose certificate it refused (TLS 1.3 sends no alert for that), or a plaintext
  // client talking to a TLS port
  // (Node's words for the same: a TLS socket closed in the handshake, an HTTP/2 connection
  // closed before its settings came)
  [new RegExp(`^Failed to connect$|socket disconnected before secure TLS connection|^${literal(CLOSED_DURING_SETUP)}$`), 'the peer closed the connection during setup: it refused our certificate, or only one side uses TLS', false],
];

export interface TlsFailure {
  /** one line, e.g. "identity mismatch: expected spiffe://quell/agent/n1, peer presented spiffe://quell/agent/n2" */
  readonly reason: string;
  /** certainly a TLS problem (false: a bare close that a crashing peer can cause too) */
  readonly definite: boolean;
}

/** The TLS failure in grpc-js's details, or undefined when they show none. */
export function tlsFailure(details: string): TlsFailure | undefined {
  const last = lastConnectError(details);
  const mismatch = last.indexOf(IDENTITY_MISMATCH);
  if (mismatch >= 0) return { reason: last.slice(mismatch), definite: true };
  for (const [pattern, reason, definite] of REASONS) if (pattern.test(last)) return { reason, definite };
  return undefined;
}
