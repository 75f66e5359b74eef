/** What a cancel names: a query by id, a mutation by table and id, or a connection (or its running statement) by thread id. */
export type CancelTarget =
  | { readonly kind: 'query'; readonly query_id: string }
  | { readonly kind: 'mutation'; readonly database: string; readonly table: string; readonly mutation_id: string }
  | { readonly kind: 'connection'; readonly thread_id: number; readonly query_only: boolean; readonly query_id: number };

/** Who runs a record: the workload session that registered it, which delivers cancels. */
export interface Owner {
  readonly sessionId: number;
  cancel(target: CancelTarget, soft: boolean): void;
}

export interface LiveRecord {
  /** unique within its table on this node */
  readonly key: string;
  readonly owner: Owner;
}

export class DuplicateRecordError extends Error {}

/**
 * Records that live while their workload runs them: queries, mutations, connections. Removing
 * one wakes everything waiting for it (SYNC kills), so waiters never poll.
 */
export class LiveTable<R extends LiveRecord> {
  private readonly byKey = new Map<string, R>();
  private readonly waiters = new Map<string, Array<() => void>>();

  get size(): number {
    return this.byKey.size;
  }

  values(): IterableIterator<R> {
    return this.byKey.values();
  }

  get(key: string): R | undefined {
    return this.byKey.get(key);
  }

  protected add(rec: R, duplicateMessage: string): R {
    if (this.byKey.has(rec.key)) throw new DuplicateRecordError(duplicateMessage);
    this.byKey.set(rec.key, rec);
    return rec;
  }

  /** Removes the record (only its owner may) and wakes its waiters. */
  remove(key: string, owner: Owner): R | undefined {
    const rec = this.byKey.get(key);
    if (!rec || rec.owner !== owner) return undefined;
    this.byKey.delete(key);
    const waiting = this.waiters.get(key);
    if (waiting) {
      this.waiters.delete(key);
      for (const wake of waiting) wake();
    }
    return rec;
  }

  /** Removes every record of an owner whose stream is gone. */
  endAllOf(owner: Owner): number {
    let n = 0;
    for (const rec of [...this.byKey.values()]) if (rec.owner === owner && this.remove(rec.key, owner)) n++;
    return n;
  }

  /** Resolves when the record is gone (at once if it already is). */
  whenEnded(key: string): Promise<void> {
    if (!this.byKey.has(key)) return Promise.resolve();
    return new Promise((resolve) => {
      const list = this.waiters.get(key);
      if (list) list.push(resolve);
      else this.waiters.set(key, [resolve]);
    });
  }
}
