import * as grpc from '@grpc/grpc-js';

/**
 * Waits until a channel has either connected or failed to, starting a connection if it is
 * idle. False when neither happened within `timeoutMs` (an address that swallows packets):
 * the caller then moves on without sending anything. A failed connection resolves true at
 * once; the call made next fails before it is sent, with grpc-js's reason.
 */
export function connectionSettled(channel: ReturnType<grpc.Client['getChannel']>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve) => {
    const check = (): void => {
      const state = channel.getConnectivityState(true);
      if (state === grpc.connectivityState.READY || state === grpc.connectivityState.TRANSIENT_FAILURE || state === grpc.connectivityState.SHUTDOWN) {
        resolve(true);
        return;
      }
      channel.watchConnectivityState(state, deadline, (err?: Error) => (err ? resolve(false) : check()));
    };
    check();
  });
}
