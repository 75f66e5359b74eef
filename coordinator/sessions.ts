import { serverIdOf } from '../common/thread-id';

/** What `KILL` does to a session: end its running statement, or end the whole connection. */
export type SessionKill = 'query' | 'connection';

/** A front-door session that has a connection id (a MySQL connection). */
export interface SessionHandle {
  readonly id: number;
  /** the user the session logged in as */
  readonly user: string;
  /** Ends the running statement, if any (an idle session is left alone), and with 'connection' the session too. */
  kill(scope: SessionKill): void;
}

/**
 * The largest session id: the MySQL handshake carries the connection id in 32 bits, and the
 * `mariadb` client's Ctrl-C sends `KILL QUERY <that id>` (TiDB had to keep its ids in 32 bits
 * for the same reason).
 */
export const MAX_SESSION_ID = 2 ** 32 - 1;

/**
 * The coordinator's own sessions by connection id, for `KILL [CONNECTION|QUERY] id`.
 *
 * Ids come from a counter, 1 up to 2^32 - 1, and wrap around past ids still in use. Thread ids
 * that agents make are at least 2^40 (common/thread-id: a server id of 1 or more in the top
 * bits), so the ranges never meet: an id whose server id is 0 belongs to this coordinator, and
 * one that no session of it holds is an unknown thread id, as it was before sessions existed.
 * Sessions are per coordinator: a KILL sent to another coordinator does not reach them, which is
 * how the `mariadb` client uses it (the Ctrl-C connection goes to the same host and port).
 */
export class SessionRegistry {
  private next = 1;
  private readonly byId = new Map<number, SessionHandle>();

  /** Whether an id is in the coordinator's range (not one an agent made). */
  static inRange(id: number): boolean {
    return Number.isSafeInteger(id) && id >= 1 && id <= MAX_SESSION_ID && serverIdOf(id) === 0;
  }

  /** A connection id no live session holds. */
  allocate(): number {
    for (;;) {
      const id = this.next;
      this.next = id >= MAX_SESSION_ID ? 1 : id + 1;
      if (!this.byId.has(id)) return id;
    }
  }

  add(session: SessionHandle): void {
    this.byId.set(session.id, session);
  }

  remove(id: number): void {
    this.byId.delete(id);
  }

  get(id: number): SessionHandle | undefined {
    return SessionRegistry.inRange(id) ? this.byId.get(id) : undefined;
  }

  get size(): number {
    return this.byId.size;
  }
}
