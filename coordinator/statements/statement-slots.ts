import { chError } from '../../errors/quell-error';

/**
 * How many statements run on this coordinator at once. Each holds memory and agent calls until
 * its client has read its result, so past the limit a statement fails at once instead of
 * growing the coordinator (ClickHouse's max_concurrent_queries).
 */
export class StatementSlots {
  private running = 0;

  /** `max`: the coordinator's --max-concurrent-statements (0: no limit). */
  constructor(private readonly max: number) {}

  /**
   * Takes a slot for a statement, or fails TOO_MANY_SIMULTANEOUS_QUERIES. `ownLimit`: the
   * statement's max_concurrent_statements setting (0 or undefined: the coordinator's alone).
   * Returns the release, which is safe to call more than once.
   */
  take(ownLimit?: number): () => void {
    for (const limit of [this.max, ownLimit ?? 0]) {
      if (limit > 0 && this.running >= limit) throw chError('TOO_MANY_SIMULTANEOUS_QUERIES', `Too many simultaneous queries. Maximum: ${limit}`);
    }
    this.running++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.running--;
    };
  }
}
