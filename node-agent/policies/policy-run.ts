/**
 * A process a policy acted on is left alone for at least this long (ms): its cancel is on its
 * way (or it cannot be cancelled), and a policy that runs every second must not log it every
 * second. One that still runs after that is signalled, and logged, again.
 */
export const POLICY_MEMORY_MS = 60_000;

/** Process keys with the time each was last noted; older than `memoryMs` counts as never. */
class RecentKeys {
  private readonly at = new Map<string, number>();

  constructor(private readonly memoryMs: number) {}

  has(key: string, now: number): boolean {
    const t = this.at.get(key);
    return t !== undefined && now - t < this.memoryMs;
  }

  note(key: string, now: number): void {
    this.at.set(key, now);
  }

  prune(now: number): void {
    for (const [key, t] of this.at) if (now - t >= this.memoryMs) this.at.delete(key);
  }
}

/** What executeKill acts on in a policy's run, and which matches it logs as over the LIMIT. */
export interface PolicyShare<C> {
  readonly act: C[];
  readonly overLimit: C[];
}

/**
 * One kill policy on this node across its runs (node-agent/policies/kill-policies.ts): its name and
 * LIMIT for the kill log and the executor, and what it did recently. executeKill asks it which
 * of the matches the creator may kill this run acts on.
 */
export class PolicyRun {
  private readonly acted: RecentKeys;
  private readonly limited: RecentKeys;

  constructor(
    readonly name: string,
    /** most processes a run acts on (0: no limit) */
    readonly limit: number,
    private readonly now: () => number = Date.now,
    /**
     * how long a process acted on is left alone: POLICY_MEMORY_MS, or longer when a run waits
     * longer for its victims (ESCALATE AFTER), so that no later run cancels a victim again while
     * the run that cancelled it still waits to escalate
     */
    memoryMs = POLICY_MEMORY_MS,
  ) {
    this.acted = new RecentKeys(memoryMs);
    this.limited = new RecentKeys(memoryMs);
  }

  /**
   * The first eligible processes up to LIMIT, in the order given (the policy's ORDER BY, else
   * the oldest first: kill-order.ts), leaving out those acted on recently; the rest are over
   * the LIMIT, and each is logged as such once per POLICY_MEMORY_MS.
   */
  share<C extends { readonly key: string }>(inOrder: readonly C[]): PolicyShare<C> {
    const now = this.now();
    this.acted.prune(now);
    this.limited.prune(now);
    const candidates = inOrder.filter((c) => !this.acted.has(c.key, now));
    const n = this.limit > 0 ? this.limit : candidates.length;
    const act = candidates.slice(0, n);
    for (const c of act) this.acted.note(c.key, now);
    const overLimit = candidates.slice(n).filter((c) => !this.limited.has(c.key, now));
    for (const c of overLimit) this.limited.note(c.key, now);
    return { act, overLimit };
  }
}
