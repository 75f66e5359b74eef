import { readFileSync } from 'node:fs';
// before etcd3: gives it generated services instead of its run-time .proto parse
import './etcd-proto';
import { Etcd3, EtcdAuthenticationFailedError, EtcdInvalidAuthTokenError, EtcdPermissionDeniedError, GRPCUnauthenticatedError, isRecoverableError, type IOptions } from 'etcd3';
import { handleWhen, noop, retry, timeout, TimeoutStrategy, wrap } from 'cockatiel';
import { chError, QuellError } from '../../errors/quell-error';
import { transportReason } from '../grpc/rpc-status';
import { errorText, redactUrlCredentials } from '../../errors/error-text';
import { Backoff, BACKOFF_INITIAL_MS, BACKOFF_MAX_MS, Sleeper, streamBackoff } from './backoff';
import { ROOT } from './etcd-layout';
import { StartStopped } from '../daemon/lifecycle';
import type { Logger } from '../daemon/logger';

export function parseEtcdUrls(urls: string): string[] {
  return urls
    .split(',')
    .map((u) => u.trim())
    .filter(Boolean);
}

/** How long one etcd call may take, retries and a new login included, unless the caller says otherwise. */
export const ETCD_CALL_TIMEOUT_MS = 3_000;

/** An etcd call (or a statement's etcd work) that had no answer within its deadline. */
export class EtcdTimeoutError extends Error {
  constructor(readonly timeoutMs: number) {
    super(`no answer within ${timeoutMs / 1000} s (down, partitioned or without quorum)`);
  }
}

/**
 * Settles as `work` does, or rejects with EtcdTimeoutError after `timeoutMs`: what a statement
 * waits for etcd is bounded by its own timeout, whatever the client's call deadlines are.
 */
export async function withinDeadline<T>(timeoutMs: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new EtcdTimeoutError(timeoutMs)), timeoutMs);
  });
  try {
    return await Promise.race([work, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The work's result, or the one-line error (etcdUnavailable) when it fails or has no answer
 * within `timeoutMs`: where a statement's etcd writes meet etcd.
 */
export async function etcdCall<T>(hosts: readonly string[], timeoutMs: number, work: () => Promise<T>): Promise<T> {
  try {
    return await withinDeadline(timeoutMs, work());
  } catch (err) {
    throw etcdUnavailable(hosts, err);
  }
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
  /** deadline of every unary call, its retries and a new login included: calls give up instead of hanging when etcd is gone */
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
  const callTimeoutMs = o.callTimeoutMs ?? ETCD_CALL_TIMEOUT_MS;
  if (o.user !== undefined && o.password === undefined) {
    throw chError('BAD_ARGUMENTS', `etcd: user '${o.user}' needs its password in QUELL_ETCD_PASSWORD`);
  }
  const withCredentials = o.endpoints.filter((e) => redactUrlCredentials(e) !== e);
  if (withCredentials.length > 0) {
    // gRPC would take them for part of the host name, and they would show in every message naming etcd
    throw chError('BAD_ARGUMENTS', `etcd: ${withCredentials.map(redactUrlCredentials).join(',')} carries credentials in the URL, which quell does not send: give the user with --etcd-user and the password in QUELL_ETCD_PASSWORD`);
  }
  return new Etcd3({
    hosts: [...o.endpoints],
    credentials: credentials(o),
    auth: o.user !== undefined && o.password !== undefined ? { username: o.user, password: o.password } : undefined,
    dialTimeout: callTimeoutMs,
    // gRPC's own reconnect backoff grows to 2 minutes: an etcd back after a long outage would
    // get no connection attempt for that long; the one backoff policy is capped at 1 s
    grpcOptions: { 'grpc.initial_reconnect_backoff_ms': BACKOFF_INITIAL_MS, 'grpc.max_reconnect_backoff_ms': BACKOFF_MAX_MS },
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + callTimeoutMs }),
    faultHandling: {
      // No per-endpoint circuit breaker. etcd forgets its auth tokens when it restarts, and
      // etcd3 retries a call refused for its token by calling again from inside the endpoint's
      // policy: a cockatiel breaker that is half-open after an outage makes that inner call
      // wait for the breaker's test call, which is the outer call itself, so every call after
      // it waited forever (agents never re-registered; CREATE KILL POLICY and SIGTERM hung).
      host: () => noop,
      // etcd3's retries (three, at once), each on the next endpoint: an endpoint that is down
      // costs one failed try. The whole call, its tries and a new login included, ends at the
      // call timeout; the timer does not keep a stopping daemon's process alive.
      global: wrap(timeout(callTimeoutMs, TimeoutStrategy.Aggressive).dangerouslyUnref(), retry(handleWhen(isRecoverableError), { maxAttempts: 3 })),
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
  const where = `etcd at ${hosts.map(redactUrlCredentials).join(',')}`;
  // etcd's own words ("etcdserver: permission denied") without gRPC's "7 PERMISSION_DENIED: "
  const said = errorText(err).replace(/^\d+ [A-Z_]+: /, '');
  if (err instanceof EtcdAuthenticationFailedError || err instanceof EtcdInvalidAuthTokenError || err instanceof GRPCUnauthenticatedError) {
    return chError('AUTHENTICATION_FAILED', `${where} refused the credentials: ${said} (check --etcd-user, QUELL_ETCD_PASSWORD and --etcd-cert)`);
  }
  if (err instanceof EtcdPermissionDeniedError) {
    return chError('ACCESS_DENIED', `${where} denied the request: ${said} (the etcd user needs the role the README gives for this daemon on /quell/v1/)`);
  }
  if (err instanceof EtcdTimeoutError) return chError('ALL_CONNECTION_TRIES_FAILED', `${where} is unreachable: ${err.message}`, true);
  // the client's own call timeout (connectEtcd): cockatiel's words name milliseconds
  if ((err as { isTaskCancelledError?: boolean } | null)?.isTaskCancelledError === true) {
    const ms = /after (\d+)ms/.exec(errorText(err))?.[1];
    return etcdUnavailable(hosts, new EtcdTimeoutError(ms === undefined ? ETCD_CALL_TIMEOUT_MS : Number(ms)));
  }
  const why = transportReason(errorText(err));
  // a refused TLS handshake (no or untrusted client certificate, wrong CA) reaches gRPC without its reason
  const tls = hosts.some((h) => h.startsWith('https://')) && /No connection established/.test(why) ? '; the TLS handshake may have failed: check --etcd-ca, --etcd-cert and --etcd-key' : '';
  return chError('ALL_CONNECTION_TRIES_FAILED', `${where} is unreachable: ${why}${tls}`, true);
}

/**
 * A daemon's start before etcd answers: one read of the key every quell role may read (the
 * README's roles grant read on /quell/v1/), tried until it is answered, with the one backoff
 * and one warning line per failed try naming etcd and why. Proves etcd, the credentials and
 * the permission at once. Throws the one-line error when waiting cannot help (credentials
 * refused, permission denied: etcdUnavailable's errors that are not retryable), and
 * StartStopped as soon as `stop` fires (SIGTERM while waiting), even in the middle of a try.
 */
export async function untilEtcdAnswers(etcd: Etcd3, hosts: readonly string[], log: Logger, stop?: AbortSignal): Promise<void> {
  const where = hosts.map(redactUrlCredentials).join(',');
  const backoff = new Backoff();
  const sleeper = new Sleeper();
  let stopped: () => void = () => undefined;
  const stopping = new Promise<never>((_, reject) => {
    stopped = () => {
      sleeper.close();
      reject(new StartStopped());
    };
  });
  // a try still running when the stop came ends later unheard
  stopping.catch(() => undefined);
  if (stop?.aborted) stopped();
  stop?.addEventListener('abort', stopped, { once: true });
  try {
    for (;;) {
      let delayMs: number;
      try {
        await Promise.race([etcdCall(hosts, ETCD_CALL_TIMEOUT_MS, () => etcd.get(ROOT).buffer()), stopping]);
        if (backoff.failures > 0) log.info({ etcd: where, attempts: backoff.failures + 1 }, 'etcd answers');
        return;
      } catch (err) {
        if (!(err instanceof QuellError) || !err.retryable) throw err;
        delayMs = backoff.next();
        log.warn({ etcd: where, attempt: backoff.failures, retry_in_ms: delayMs }, `waiting for etcd: ${err.message}`);
      }
      await Promise.race([sleeper.sleep(delayMs), stopping]);
    }
  } finally {
    stop?.removeEventListener('abort', stopped);
    sleeper.close();
  }
}
