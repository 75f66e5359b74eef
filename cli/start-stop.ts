import { flushLogs } from '../common/startup/log-flush';
import { StartStopped } from '../common/daemon/lifecycle';

/** How long a daemon stopped while starting may stay up (as untilSignal allows after a stop). */
const EXIT_AFTER_STOP_MS = 500;

/**
 * SIGINT/SIGTERM while a daemon starts (it may wait for etcd for as long as etcd is away):
 * `signal` fires, and the daemon's create() ends with StartStopped. A second signal exits at
 * once. `release()` hands the signals over to untilSignal once the daemon serves.
 */
export function stopWhileStarting(): { readonly signal: AbortSignal; release(): void } {
  const abort = new AbortController();
  const onSignal = (sig: NodeJS.Signals): void => {
    if (abort.signal.aborted) process.exit(sig === 'SIGINT' ? 130 : 143);
    abort.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return {
    signal: abort.signal,
    release() {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}

/**
 * A daemon's start as its command runs it: `undefined` (exit status 0) when a signal stopped it
 * before it was ready (a signal after its wait for etcd stops it once it is built), the daemon
 * otherwise; any other failure is thrown (its one line).
 */
export async function startUnlessStopped<D extends { stop(): Promise<void> }>(start: (stop: AbortSignal) => Promise<D>): Promise<D | undefined> {
  const starting = stopWhileStarting();
  try {
    const daemon = await start(starting.signal);
    if (!starting.signal.aborted) return daemon;
    await daemon.stop();
  } catch (err) {
    if (!(err instanceof StartStopped)) throw err;
  } finally {
    starting.release();
  }
  // what the daemon let go of may keep a timer (etcd3's reconnect) alive a little longer
  setTimeout(() => {
    flushLogs();
    process.exit();
  }, EXIT_AFTER_STOP_MS).unref();
  return undefined;
}
