/**
 * A process a policy acted on is left alone for this long (ms) after the run that acted on it
 * ended (PolicyRun.turn): its cancel is on its way (or it cannot be cancelled), and a policy that
 * runs every second must not log it every second. One that still runs after that is signalled,
 * and logged, again.
 */
export const POLICY_MEMORY_MS = 60_000;

/** Process keys with the time each was last noted; older than POLICY_MEMORY_MS counts as never. */
class RecentKeys {
  private readonly at = new Map<string, number>();

  has(key: string, now: number): boolean {
    const t = this.at.get(key);
    return t !== undefined && now - t < POLICY_MEMORY_MS;
  }

  note(key: string, now: number): void {
    this.at.set(key, now);
  }

  prune(now: number): void {
    for (const [key, t] of this.at) if (now - t >= POLICY_MEMORY_MS) this.at.delete(key);
  }
}

/** What executeKill acts on in a policy's run, and which matches it logs as over the LIMIT. */
export interface PolicyShare<C> {
  readonly act: C[];
  readonly overLimit: C[];
}

/** What executeKill asks of the policy whose run it is: its name and LIMIT for the log, and what it acts on. */
export interface PolicyChooser {
  readonly name: string;
  readonly limit: number;
  share<C extends { readonly key: string }>(inOrder: readonly C[]): PolicyShare<C>;
}

/** One run of a policy (PolicyRun.turn): end() once the run is over. */
export interface PolicyTurn extends PolicyChooser {
  end(): void;
}

/**
 * One kill policy on this node across its runs (node-agent/policies/kill-policies.ts): its name and
 * LIMIT for the kill log and the executor, and what it did recently. executeKill asks it which
 * of the matches the creator may kill this run acts on.
 */
export class PolicyRun {
  private readonly acted = new RecentKeys();
  private readonly limited = new RecentKeys();
  /** processes a run acted on that is still going (waiting for them to end): left alone until it ends */
  private readonly held = new Set<string>();

  constructor(
    readonly name: string,
    /** most processes a run acts on (0: no limit) */
    readonly limit: number,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * One run's view of the policy: what it acts on is held, so no run that starts while this one
   * waits for its victims (ESCALATE AFTER) acts on them again, until end(); the memory counts
   * from then.
   */
  turn(): PolicyTurn {
    const mine: string[] = [];
    return {
      name: this.name,
      limit: this.limit,
      share: (inOrder) => {
        const shared = this.share(inOrder);
        for (const c of shared.act) {
          this.held.add(c.key);
          mine.push(c.key);
        }
        return shared;
      },
      end: () => {
        const now = this.now();
        for (const key of mine.splice(0)) {
          this.held.delete(key);
          this.acted.note(key, now);
        }
      },
    };
  }

  /**
   * The first eligible processes up to LIMIT, in the order given (the policy's ORDER BY, else
   * the oldest first: kill-order.ts), leaving out those acted on recently; the rest are over
   * the LIMIT, and each is logged as such once per POLICY_MEMORY_MS.
   */
  private share<C extends { readonly key: string }>(inOrder: readonly C[]): PolicyShare<C> {
    const now = this.now();
    this.acted.prune(now);
    this.limited.prune(now);
    const candidates = inOrder.filter((c) => !this.acted.has(c.key, now) && !this.held.has(c.key));
    const n = this.limit > 0 ? this.limit : candidates.length;
    const act = candidates.slice(0, n);
    for (const c of act) this.acted.note(c.key, now);
    const overLimit = candidates.slice(n).filter((c) => !this.limited.has(c.key, now));
    for (const c of overLimit) this.limited.note(c.key, now);
    return { act, overLimit };
  }
}
