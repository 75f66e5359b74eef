import { performance } from 'node:perf_hooks';
import { LiveTable, type LiveEntry, type Owner } from './live-table';
import type { IdSequence } from './id-sequence';
import type { ConnectionRow } from './rows';

/** What a workload says of a connection it opens. */
export type ConnectionOpening = Pick<ConnectionRow, 'user' | 'host' | 'db'>;

/** What the workload reports a connection is doing (ConnectionState): a full snapshot each time. */
export type ConnectionStateUpdate = Pick<ConnectionRow, 'info' | 'state' | 'examined_rows' | 'memory_used'>;

/** MariaDB's COMMAND words for the states quell's connections have. */
export type ConnectionCommand = 'Query' | 'Sleep' | 'Killed';

/**
 * The node's client connections (information_schema.PROCESSLIST), keyed by thread id in
 * decimal. The agent names them: thread ids and query ids are cluster-wide (IdSequence), so a
 * KILL by id finds its node from the id alone.
 */
export class ConnectionTable extends LiveTable<ConnectionRow> {
  /** QUERY_IDs shown now, so that a wrapped query id sequence skips them */
  private readonly queryIdsShown = new Set<number>();

  constructor(
    private readonly threadIds: IdSequence,
    private readonly queryIds: IdSequence,
  ) {
    super();
  }

  /** Opens a connection with a new thread id; throws RangeError when no id is free. */
  open(o: ConnectionOpening, owner: Owner): LiveEntry<ConnectionRow> {
    const id = this.threadIds.next((candidate) => this.get(String(candidate)) !== undefined);
    // listed fields, not a spread: see rows.ts processRow
    const row: ConnectionRow = {
      id,
      user: o.user,
      host: o.host,
      db: o.db,
      command: 'Sleep' satisfies ConnectionCommand,
      commandSince: performance.now(),
      state: '',
      info: '',
      query_id: 0,
      examined_rows: 0,
      memory_used: 0,
      max_memory_used: 0,
      progress: 0,
    };
    return this.add(String(id), owner, row, `Thread ${id} is already open`);
  }

  /**
   * Applies a state report: non-empty info that differs from the last is a new statement with
   * a new QUERY_ID, which is returned (undefined when no statement started).
   */
  update(threadId: string, owner: Owner, s: ConnectionStateUpdate): number | undefined {
    const row = this.ownedBy(threadId, owner)?.row;
    if (!row) return undefined;
    const now = performance.now();
    const starts = s.info !== '' && s.info !== row.info;
    if (starts) {
      const queryId = this.queryIds.next((candidate) => this.queryIdsShown.has(candidate));
      this.queryIdsShown.delete(row.query_id);
      row.query_id = queryId;
      this.queryIdsShown.add(queryId);
      row.commandSince = now;
    }
    row.info = s.info;
    row.state = s.state;
    row.examined_rows = s.examined_rows;
    row.memory_used = s.memory_used;
    if (s.memory_used > row.max_memory_used) row.max_memory_used = s.memory_used;
    // a killed connection reads Killed until it is gone, whatever it reports meanwhile
    const command: ConnectionCommand = row.command === 'Killed' ? 'Killed' : s.info ? 'Query' : 'Sleep';
    if (command !== row.command) {
      row.command = command;
      row.commandSince = now;
    }
    return starts ? row.query_id : undefined;
  }

  close(threadId: string, owner: Owner): boolean {
    return this.remove(threadId, owner) !== undefined;
  }

  /** Every way out (close, dropped stream) comes here: the connection's QUERY_ID is free again. */
  override remove(key: string, owner: Owner): LiveEntry<ConnectionRow> | undefined {
    const entry = super.remove(key, owner);
    if (entry) this.queryIdsShown.delete(entry.row.query_id);
    return entry;
  }

  /**
   * Sends a MariaDB KILL to the owning workload. A KILL QUERY that finds no statement running is
   * dropped (false): it does not hit the connection's next statement (MariaDB's mysql-test/main/kill_query-6728.test).
   */
  kill(entry: LiveEntry<ConnectionRow>, queryOnly: boolean, soft: boolean): boolean {
    const row = entry.row;
    const running = row.info !== '';
    if (queryOnly && !running) return false;
    if (!queryOnly && row.command !== 'Killed') {
      row.command = 'Killed' satisfies ConnectionCommand;
      row.commandSince = performance.now();
    }
    entry.owner.cancel({ kind: 'connection', thread_id: row.id, query_only: queryOnly, query_id: running ? row.query_id : 0 }, soft);
    return true;
  }
}
