/** What a cancel names: a query by id, a mutation by table and id, or a connection (or its running statement) by thread id. */
export type CancelTarget =
  | { readonly kind: 'query'; readonly query_id: string; readonly by?: Killer; readonly terminate?: Escalation }
  | { readonly kind: 'mutation'; readonly database: string; readonly table: string; readonly mutation_id: string }
  | { readonly kind: 'connection'; readonly thread_id: number; readonly query_only: boolean; readonly query_id: number };

/** A query's second stop, the hard one: it still ran this long (ms) after its cancel (escalate_after). */
export interface Escalation {
  readonly afterMs: number;
}

/** Who asked for a cancel and why, for the victim's Cancel message. */
export interface Killer {
  readonly reason: string;
  readonly user: string;
  readonly statement_id: string;
  /** the kill policy whose run it is; '' for a statement */
  readonly policy: string;
}

/** Who runs a live row: the workload session that registered it, which delivers cancels. */
export interface Owner {
  readonly sessionId: number;
  cancel(target: CancelTarget, soft: boolean): void;
}

/** A row while its workload runs it: the owner is its cancel handle. */
export interface LiveEntry<R> {
  /** unique within its table on this node */
  readonly key: string;
  readonly owner: Owner;
  readonly row: R;
}

export class DuplicateEntryError extends Error {}

/**
 * Rows that live while their workload runs them: queries, mutations, connections. Removing
 * one wakes everything waiting for it (SYNC kills), so waiters never poll.
 */
export class LiveTable<R> {
  private readonly byKey = new Map<string, LiveEntry<R>>();
  private readonly waiters = new Map<string, Array<() => void>>();

  get size(): number {
    return this.byKey.size;
  }

  values(): IterableIterator<LiveEntry<R>> {
    return this.byKey.values();
  }

  get(key: string): LiveEntry<R> | undefined {
    return this.byKey.get(key);
  }

  /** The entry under `key` if `owner` runs it (progress and ends come only from the owner). */
  protected ownedBy(key: string, owner: Owner): LiveEntry<R> | undefined {
    const entry = this.byKey.get(key);
    return entry?.owner === owner ? entry : undefined;
  }

  protected add(key: string, owner: Owner, row: R, duplicateMessage: string): LiveEntry<R> {
    if (this.byKey.has(key)) throw new DuplicateEntryError(duplicateMessage);
    const entry: LiveEntry<R> = { key, owner, row };
    this.byKey.set(key, entry);
    return entry;
  }

  /** Removes the entry (only its owner may) and wakes its waiters. */
  remove(key: string, owner: Owner): LiveEntry<R> | undefined {
    const entry = this.ownedBy(key, owner);
    if (!entry) return undefined;
    this.byKey.delete(key);
    const waiting = this.waiters.get(key);
    if (waiting) {
      this.waiters.delete(key);
      for (const wake of waiting) wake();
    }
    return entry;
  }

  /** Removes every entry of an owner whose stream is gone. */
  endAllOf(owner: Owner): number {
    let n = 0;
    for (const entry of [...this.byKey.values()]) if (entry.owner === owner && this.remove(entry.key, owner)) n++;
    return n;
  }

  /** Resolves when the entry is gone (at once if it already is). */
  whenEnded(key: string): Promise<void> {
    if (!this.byKey.has(key)) return Promise.resolve();
    return new Promise((resolve) => {
      const list = this.waiters.get(key);
      if (list) list.push(resolve);
      else this.waiters.set(key, [resolve]);
    });
  }
}
