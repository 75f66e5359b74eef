import * as grpc from '@grpc/grpc-js';
import { CHANNEL_OPTIONS } from '../common/grpc/channel-options';

/**
 * How long a channel that failed may wait before its next connection attempt has been made and
 * answered: the longest reconnect backoff, grpc-js's 20 % jitter on it, and a loopback handshake.
 */
const RETRY_ANSWERED_MS = Number(CHANNEL_OPTIONS['grpc.max_reconnect_backoff_ms']) * 1.2 + 500;

/**
 * Waits until a channel has either connected or failed to, starting a connection if it is
 * idle. False when neither happened within `timeoutMs` (an address that swallows packets):
 * the caller then moves on without sending anything. A connection that fails now resolves true
 * at once; the call made next fails before it is sent, with grpc-js's reason.
 *
 * A channel already failed when the statement comes holds old news: grpc-js keeps it in
 * TRANSIENT_FAILURE while it retries in the background, until one attempt connects. So a
 * long-lived client whose coordinator has just restarted would fail its next statement with the
 * outage's last error. Such a channel gets one retry's time to connect (RETRY_ANSWERED_MS, within
 * `timeoutMs`) before its failure counts.
 */
export function connectionSettled(channel: ReturnType<grpc.Client['getChannel']>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  const stale = channel.getConnectivityState(true) === grpc.connectivityState.TRANSIENT_FAILURE;
  const failureCountsAt = stale ? Math.min(deadline, Date.now() + RETRY_ANSWERED_MS) : 0;
  return new Promise((resolve) => {
    const check = (): void => {
      const state = channel.getConnectivityState(true);
      if (state === grpc.connectivityState.READY || state === grpc.connectivityState.SHUTDOWN) {
        resolve(true);
        return;
      }
      if (state === grpc.connectivityState.TRANSIENT_FAILURE) {
        if (Date.now() >= failureCountsAt) resolve(true);
        // a change (connected) or the end of the wait: either way, look again
        else channel.watchConnectivityState(state, failureCountsAt, () => check());
        return;
      }
      channel.watchConnectivityState(state, deadline, (err?: Error) => (err ? resolve(false) : check()));
    };
    check();
  });
}
