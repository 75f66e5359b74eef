import { readFileSync } from 'node:fs';
// before etcd3: gives it generated services instead of its run-time .proto parse
import './etcd-proto';
import { Etcd3, EtcdAuthenticationFailedError, EtcdInvalidAuthTokenError, EtcdPermissionDeniedError, GRPCUnauthenticatedError, isRecoverableError, type IOptions } from 'etcd3';
import { circuitBreaker, ConsecutiveBreaker, handleWhen } from 'cockatiel';
import { chError, type QuellError } from '../errors/quell-error';
import { transportReason } from './rpc-status';
import { errorText } from '../errors/error-text';
import { BACKOFF_MAX_MS, streamBackoff } from './backoff';

export function parseEtcdUrls(urls: string): string[] {
  return urls
    .split(',')
    .map((u) => u.trim())
    .filter(Boolean);
}

/** How quell reaches etcd and proves who it is there (docs/security.md). */
export interface EtcdOptions {
  readonly endpoints: readonly string[];
  /** PEM file of the CA that signed etcd's server certificate (https:// endpoints) */
  readonly ca?: string;
  /** PEM files of this client's certificate and key, for etcd's --client-cert-auth */
  readonly cert?: string;
  readonly key?: string;
  /** etcd user for password authentication; the password comes with it, never from a flag */
  readonly user?: string;
  readonly password?: string;
  /** deadline of every unary call: calls give up instead of hanging when etcd is gone */
  readonly callTimeoutMs?: number;
}

/** Everything but the endpoints: what daemons carry beside their etcd URL list. */
export type EtcdSecurity = Omit<EtcdOptions, 'endpoints'>;

function readPem(flag: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw chError('BAD_ARGUMENTS', `etcd: cannot read ${flag} ${file}: ${errorText(err)}`);
  }
}

function credentials(o: EtcdOptions): IOptions['credentials'] {
  if (o.ca === undefined && o.cert === undefined && o.key === undefined) return undefined;
  if ((o.cert === undefined) !== (o.key === undefined)) throw chError('BAD_ARGUMENTS', 'etcd: --etcd-cert and --etcd-key go together');
  const plain = o.endpoints.filter((e) => !e.startsWith('https://'));
  // gRPC would speak TLS to them anyway; an http:// URL beside TLS files is a mistake to name
  if (plain.length > 0) throw chError('BAD_ARGUMENTS', `etcd: TLS files need https:// endpoints, got ${plain.join(',')}`);
  return {
    // without --etcd-ca the system's roots verify etcd's certificate
    rootCertificate: o.ca === undefined ? (undefined as unknown as Buffer) : readPem('--etcd-ca', o.ca),
    certChain: o.cert === undefined ? undefined : readPem('--etcd-cert', o.cert),
    privateKey: o.key === undefined ? undefined : readPem('--etcd-key', o.key),
  };
}

/** An etcd client over TLS and with etcd's authentication when the options say so; throws BAD_ARGUMENTS for unusable options. */
export function connectEtcd(o: EtcdOptions): Etcd3 {
  const callTimeoutMs = o.callTimeoutMs ?? 3_000;
  if (o.user !== undefined && o.password === undefined) {
    throw chError('BAD_ARGUMENTS', `etcd: user '${o.user}' needs its password in QUELL_ETCD_PASSWORD`);
  }
  return new Etcd3({
    hosts: [...o.endpoints],
    credentials: credentials(o),
    auth: o.user !== undefined && o.password !== undefined ? { username: o.user, password: o.password } : undefined,
    dialTimeout: callTimeoutMs,
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + callTimeoutMs }),
    faultHandling: {
      // etcd3's default breaker refuses every call for 5 s after three failures, which would
      // keep views stale that long after etcd returns: let a call through at the backoff cap
      host: () => circuitBreaker(handleWhen(isRecoverableError), { halfOpenAfter: BACKOFF_MAX_MS, breaker: new ConsecutiveBreaker(3) }),
      // the one backoff policy; etcd3's pending reconnect timer outlives close(), so it must be short
      watchBackoff: streamBackoff(),
    },
  });
}

/**
 * The one-line error for "etcd could not be used", naming the endpoints and the reason but
 * nothing secret: credentials etcd refused and permissions it denied are told apart from an
 * etcd that cannot be reached, since only the last is worth retrying unchanged.
 */
export function etcdUnavailable(hosts: readonly string[], err: unknown): QuellError {
  const where = `etcd at ${hosts.join(',')}`;
  // etcd's own words ("etcdserver: permission denied") without gRPC's "7 PERMISSION_DENIED: "
  const said = errorText(err).replace(/^\d+ [A-Z_]+: /, '');
  if (err instanceof EtcdAuthenticationFailedError || err instanceof EtcdInvalidAuthTokenError || err instanceof GRPCUnauthenticatedError) {
    return chError('AUTHENTICATION_FAILED', `${where} refused the credentials: ${said} (check --etcd-user, QUELL_ETCD_PASSWORD and --etcd-cert)`);
  }
  if (err instanceof EtcdPermissionDeniedError) {
    return chError('ACCESS_DENIED', `${where} denied the request: ${said} (the etcd user needs the role the README gives for this daemon on /quell/v1/)`);
  }
  // the client's breaker stops calling an etcd whose last calls failed; say so, not the breaker's words
  if ((err as { isBrokenCircuitError?: boolean } | null)?.isBrokenCircuitError === true) {
    return chError('ALL_CONNECTION_TRIES_FAILED', `${where} is unreachable: its last calls failed (down, partitioned or without quorum); calls are tried again within ${BACKOFF_MAX_MS / 1000} s`, true);
  }
  const why = transportReason(errorText(err));
  // a refused TLS handshake (no or untrusted client certificate, wrong CA) reaches gRPC without its reason
  const tls = hosts.some((h) => h.startsWith('https://')) && /No connection established/.test(why) ? '; the TLS handshake may have failed: check --etcd-ca, --etcd-cert and --etcd-key' : '';
  return chError('ALL_CONNECTION_TRIES_FAILED', `${where} is unreachable: ${why}${tls}`, true);
}
