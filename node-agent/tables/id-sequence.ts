import { COUNTER_BITS, makeId } from '../../common/thread-id';
import type { ServerIdHold } from '../../common/etcd/server-id';

const COUNTER_LIMIT = 2 ** COUNTER_BITS;

/**
 * One sequence of cluster-wide ids (thread ids, or query ids): makeId(server id, incarnation,
 * counter). The counter starts again at 1 whenever the held server id or incarnation changes,
 * which keeps ids unique because the pair is new. A busy agent can use up the 2^24 counter
 * values of an incarnation; then the counter wraps and skips the ids still in use, as MariaDB's
 * own thread ids do when they wrap.
 */
export class IdSequence {
  private counter = 0;
  private hold: ServerIdHold | undefined;

  constructor(private readonly held: () => ServerIdHold | undefined) {}

  /** The next id not in use; throws before a server id is held, and when every id is in use. */
  next(inUse: (id: number) => boolean = () => false): number {
    const hold = this.held();
    if (!hold) throw new Error('no server id yet');
    if (hold !== this.hold) {
      this.hold = hold;
      this.counter = 0;
    }
    for (let tries = 1; tries < COUNTER_LIMIT; tries++) {
      this.counter = this.counter + 1 < COUNTER_LIMIT ? this.counter + 1 : 1;
      const id = makeId(hold.serverId, hold.incarnation, this.counter);
      if (!inUse(id)) return id;
    }
    throw new RangeError(`all ${COUNTER_LIMIT - 1} ids of server id ${hold.serverId} are in use`);
  }
}
