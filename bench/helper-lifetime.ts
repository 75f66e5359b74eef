/**
 * A bench helper process (agent-host, floor-server) stops on SIGTERM/SIGINT, and by itself once
 * its parent is gone: an orphaned helper (the bench crashed) must not run forever.
 */
export function stopWithParent(stop: () => void): void {
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) stop();
  }, 500).unref();
}
