import { idOwner, makeSessionId, SESSION_COUNTER_LIMIT } from '../../common/thread-id';
import type { ServerIdHold } from '../../common/etcd/server-id';

/** What `KILL` does to a session: end its running statement, or end the whole connection. */
export type SessionKill = 'query' | 'connection';

/** A session as SHOW PROCESSLIST lists it (MariaDB's columns). */
export interface SessionProcess {
  readonly id: number;
  readonly user: string;
  readonly host: string;
  readonly db: string | undefined;
  /** `Query` while a statement runs, else `Sleep` */
  readonly command: 'Query' | 'Sleep';
  /** milliseconds in that command */
  readonly timeMs: number;
  /** the running statement, or undefined */
  readonly info: string | undefined;
}

/** A front-door session that has a connection id (a MySQL connection). */
export interface SessionHandle {
  readonly id: number;
  /** the user the session logged in as */
  readonly user: string;
  /** Ends the running statement, if any (an idle session is left alone), and with 'connection' the session too; its error names the killer's reason ('' none). */
  kill(scope: SessionKill, reason: string): void;
  /** What SHOW PROCESSLIST shows of it. */
  process(): SessionProcess;
}

/** The hold of a registry outside a running coordinator (tests that serve a door alone). */
const STANDALONE: ServerIdHold = { serverId: 1, incarnation: 0 };

/**
 * The coordinator's own sessions by connection id, for `KILL [CONNECTION|QUERY] id` and SHOW
 * PROCESSLIST.
 *
 * Ids carry the coordinator's server id (common/thread-id.ts makeSessionId: the coordinator bit,
 * the server id, the incarnation's low bits, a 16-bit counter), so they are unique across
 * coordinators and never meet an agent's ids: KILL on any coordinator can tell from the id alone
 * whose session it is. The counter starts again at 1 when the server id or incarnation changes,
 * and wraps past ids still in use.
 */
export class SessionRegistry {
  private counter = 0;
  private hold: ServerIdHold | undefined;
  private readonly byId = new Map<number, SessionHandle>();

  /** `held`: the coordinator's server id now (common/etcd/server-id.ts). */
  constructor(private readonly held: () => ServerIdHold | undefined = () => STANDALONE) {}

  /** The server id this registry's ids carry now (0 before one is held). */
  get serverId(): number {
    return this.held()?.serverId ?? 0;
  }

  /** Whether an id is a coordinator session's id with this coordinator's server id. */
  isOurs(id: number): boolean {
    const owner = idOwner(id);
    return owner?.kind === 'coordinator' && owner.serverId === this.serverId;
  }

  /** A connection id no live session holds; throws before a server id is held, and when every id is in use. */
  allocate(): number {
    const hold = this.held();
    if (!hold) throw new Error('no server id yet');
    if (hold !== this.hold) {
      this.hold = hold;
      this.counter = 0;
    }
    for (let tries = 0; tries < SESSION_COUNTER_LIMIT; tries++) {
      this.counter = this.counter >= SESSION_COUNTER_LIMIT ? 1 : this.counter + 1;
      const id = makeSessionId(hold.serverId, hold.incarnation, this.counter);
      if (!this.byId.has(id)) return id;
    }
    throw new RangeError(`all ${SESSION_COUNTER_LIMIT} session ids of server id ${hold.serverId} are in use`);
  }

  add(session: SessionHandle): void {
    this.byId.set(session.id, session);
  }

  remove(id: number): void {
    this.byId.delete(id);
  }

  get(id: number): SessionHandle | undefined {
    return this.byId.get(id);
  }

  /** Every session logged in now, by id. */
  list(): SessionHandle[] {
    return [...this.byId.values()].sort((a, b) => a.id - b.id);
  }

  get size(): number {
    return this.byId.size;
  }
}
