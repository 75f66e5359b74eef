import { Etcd3, isRecoverableError } from 'etcd3';
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

/** An etcd client whose calls give up instead of hanging when etcd is gone. */
export function connectEtcd(hosts: string[], callTimeoutMs = 3_000): Etcd3 {
  return new Etcd3({
    hosts,
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

/** The one-line error for "etcd could not be used", naming the endpoints but nothing secret. */
export function etcdUnavailable(hosts: readonly string[], err: unknown): QuellError {
  const why = transportReason(errorText(err));
  return chError('ALL_CONNECTION_TRIES_FAILED', `etcd at ${hosts.join(',')} is unreachable: ${why}`, true);
}
