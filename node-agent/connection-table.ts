import { performance } from 'node:perf_hooks';
import { LiveTable, type Owner } from './live-table';
import type { IdSequence } from './id-sequence';

export interface ConnectionOpening {
  readonly user: string;
  readonly host: string;
  /** '' when no database is selected (DB reads NULL) */
  readonly db: string;
}

/** What the workload reports a connection is doing (ConnectionState): a full snapshot each time. */
export interface ConnectionStateUpdate {
  /** the running statement's text; '' when idle */
  readonly info: string;
  readonly state: string;
  readonly in_transaction: boolean;
  readonly critical: boolean;
  readonly examined_rows: number;
  readonly memory_used: number;
}

/** MariaDB's COMMAND words for the states quell's connections have. */
export type ConnectionCommand = 'Query' | 'Sleep' | 'Killed';

export interface ConnectionRecord extends ConnectionOpening {
  readonly key: string;
  readonly owner: Owner;
  /** the cluster-wide thread id (ID, TID) */
  readonly id: number;
  info: string;
  state: string;
  in_transaction: boolean;
  critical: boolean;
  examined_rows: number;
  memory_used: number;
  max_memory_used: number;
  /** the running statement's QUERY_ID, or the last one's while idle (as MariaDB shows it); 0 before the first */
  query_id: number;
  command: ConnectionCommand;
  /** PROGRESS: the server's progress report (0 for workload connections, which report none) */
  progress: number;
  /** performance.now() when COMMAND last changed or a statement started: TIME and TIME_MS count from here */
  commandSince: number;
}

/**
 * The node's client connections (information_schema.PROCESSLIST), keyed by thread id in
 * decimal. The agent names them: thread ids and query ids are cluster-wide (IdSequence), so a
 * KILL by id finds its node from the id alone.
 */
export class ConnectionTable extends LiveTable<ConnectionRecord> {
  /** QUERY_IDs shown now, so that a wrapped query id sequence skips them */
  private readonly queryIdsShown = new Set<number>();

  constructor(
    private readonly threadIds: IdSequence,
    private readonly queryIds: IdSequence,
  ) {
    super();
  }

  /** Opens a connection with a new thread id; throws RangeError when no id is free. */
  open(o: ConnectionOpening, owner: Owner): ConnectionRecord {
    const id = this.threadIds.next((candidate) => this.get(String(candidate)) !== undefined);
    // listed fields, not a spread: see ProcessTable.register
    const rec: ConnectionRecord = {
      key: String(id),
      owner,
      id,
      user: o.user,
      host: o.host,
      db: o.db,
      info: '',
      state: '',
      in_transaction: false,
      critical: false,
      examined_rows: 0,
      memory_used: 0,
      max_memory_used: 0,
      query_id: 0,
      command: 'Sleep',
      progress: 0,
      commandSince: performance.now(),
    };
    return this.add(rec, `Thread ${id} is already open`);
  }

  /**
   * Applies a state report: non-empty info that differs from the last is a new statement with
   * a new QUERY_ID, which is returned (undefined when no statement started).
   */
  update(threadId: string, owner: Owner, s: ConnectionStateUpdate): number | undefined {
    const rec = this.get(threadId);
    if (!rec || rec.owner !== owner) return undefined;
    const now = performance.now();
    const starts = s.info !== '' && s.info !== rec.info;
    if (starts) {
      const queryId = this.queryIds.next((candidate) => this.queryIdsShown.has(candidate));
      this.queryIdsShown.delete(rec.query_id);
      rec.query_id = queryId;
      this.queryIdsShown.add(queryId);
      rec.commandSince = now;
    }
    rec.info = s.info;
    rec.state = s.state;
    rec.in_transaction = s.in_transaction;
    rec.critical = s.critical;
    rec.examined_rows = s.examined_rows;
    rec.memory_used = s.memory_used;
    if (s.memory_used > rec.max_memory_used) rec.max_memory_used = s.memory_used;
    // a killed connection reads Killed until it is gone, whatever it reports meanwhile
    const command: ConnectionCommand = rec.command === 'Killed' ? 'Killed' : s.info ? 'Query' : 'Sleep';
    if (command !== rec.command) {
      rec.command = command;
      rec.commandSince = now;
    }
    return starts ? rec.query_id : undefined;
  }

  close(threadId: string, owner: Owner): boolean {
    return this.remove(threadId, owner) !== undefined;
  }

  /** Every way out (close, dropped stream) comes here: the connection's QUERY_ID is free again. */
  override remove(key: string, owner: Owner): ConnectionRecord | undefined {
    const rec = super.remove(key, owner);
    if (rec) this.queryIdsShown.delete(rec.query_id);
    return rec;
  }

  /**
   * Sends a MariaDB KILL to the owning workload. A KILL QUERY that finds no statement running is
   * dropped (false): it does not hit the connection's next statement (FACTS: kill_query-6728).
   */
  kill(rec: ConnectionRecord, queryOnly: boolean, soft: boolean): boolean {
    const running = rec.info !== '';
    if (queryOnly && !running) return false;
    if (!queryOnly && rec.command !== 'Killed') {
      rec.command = 'Killed';
      rec.commandSince = performance.now();
    }
    rec.owner.cancel({ kind: 'connection', thread_id: rec.id, query_only: queryOnly, query_id: running ? rec.query_id : 0 }, soft);
    return true;
  }

  /** Milliseconds since COMMAND last changed (or the running statement started). */
  timeMs(rec: ConnectionRecord, now = performance.now()): number {
    return now - rec.commandSince;
  }
}
