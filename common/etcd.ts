import { Etcd3 } from 'etcd3';
import { chError, type QuellError } from '../errors/quell-error';
import { transportReason } from './rpc-status';
import { errorText } from '../errors/error-text';
import { streamBackoff } from './backoff';

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
    // the one backoff policy: etcd3's pending reconnect timer outlives close(), so it must be short
    faultHandling: { watchBackoff: streamBackoff() },
  });
}

/** The one-line error for "etcd could not be used", naming the endpoints but nothing secret. */
export function etcdUnavailable(hosts: readonly string[], err: unknown): QuellError {
  const why = transportReason(errorText(err));
  return chError('ALL_CONNECTION_TRIES_FAILED', `etcd at ${hosts.join(',')} is unreachable: ${why}`, true);
}
