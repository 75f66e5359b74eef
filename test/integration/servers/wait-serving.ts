import type { Child } from '../../../common/daemon/child-processes';

/**
 * Waits until a freshly started server answers `probe`: fails at once if the process exits,
 * and after `timeoutMs` with the last probe error and the server's own log.
 */
export async function waitServing(what: string, child: Child, probe: () => Promise<void>, log: () => string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.proc.exitCode !== null || child.proc.signalCode !== null) throw new Error(`${what} exited during start-up: ${log()}`);
    try {
      await probe();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`${what} did not start serving: ${String(err)}\n${log()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
