/**
 * The one wait of the unit tests (the integration tests have theirs in harness.ts): polls `ok`
 * every `everyMs` until it holds, and fails naming `what` after `timeoutMs`.
 */
export async function until(what: string, ok: () => boolean, timeoutMs = 10_000, everyMs = 10): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
