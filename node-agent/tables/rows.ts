import { performance } from 'node:perf_hooks';
import { statementClass } from '../../sql/normalize';

/**
 * One row type per table this node serves, whoever produces it: the live tables (workloads
 * register, report and end what they run) and the backends (a database server's listing, read
 * fresh per statement). A row holds what its columns are read from (the *-columns.ts files);
 * who owns it and how it is stopped travel beside it, never in it.
 */

/** The counters a running query reports as it goes (QueryProgress on the wire). */
export interface QueryCounters {
  read_rows: number;
  read_bytes: number;
  total_rows_approx: number;
  written_rows: number;
  written_bytes: number;
  memory_usage: number;
}

/** A row of system.processes: one running query. */
export interface ProcessRow extends QueryCounters {
  readonly query_id: string;
  readonly user: string;
  readonly query: string;
  /** the query's statement class (sql/normalize.ts), computed once when the row is made */
  readonly normalized_query: string;
  readonly normalized_query_hash: number;
  /** '' for an initial query (the column then reads query_id) */
  readonly initial_query_id: string;
  /** '' for an initial query (the column then reads user) */
  readonly initial_user: string;
  readonly address: string;
  readonly port: number;
  readonly client_hostname: string;
  readonly client_name: string;
  readonly current_database: string;
  readonly query_kind: string;
  /** the cluster-wide id of the connection running it (common/thread-id.ts); 0 if none */
  readonly thread_id: number;
  /** not a column: registered as one no kill may stop (its kill row reads cant_cancel) */
  readonly uncancellable: boolean;
  /** performance.now() when it started: elapsed counts from here */
  readonly startedAt: number;
  is_cancelled: number;
  peak_memory_usage: number;
}

/** What is known of a query when it starts: everything but its start time, its counters and what its text implies. */
export type ProcessStart = Omit<ProcessRow, keyof QueryCounters | 'startedAt' | 'is_cancelled' | 'peak_memory_usage' | 'normalized_query' | 'normalized_query_hash'>;

/** A process row with every counter at zero (a query just registered, or a server that counts nothing). */
export function processRow(s: ProcessStart, startedAt: number): ProcessRow {
  const cls = statementClass(s.query);
  // Fields are listed, not spread: a spread row is a slow, large dictionary-like object, and
  // every WHERE reads these rows 100,000 at a time.
  return {
    query_id: s.query_id,
    user: s.user,
    query: s.query,
    normalized_query: cls.normalized,
    normalized_query_hash: cls.hash,
    initial_query_id: s.initial_query_id,
    initial_user: s.initial_user,
    address: s.address,
    port: s.port,
    client_hostname: s.client_hostname,
    client_name: s.client_name,
    current_database: s.current_database,
    query_kind: s.query_kind,
    thread_id: s.thread_id,
    uncancellable: s.uncancellable,
    startedAt,
    is_cancelled: 0,
    read_rows: 0,
    read_bytes: 0,
    total_rows_approx: 0,
    written_rows: 0,
    written_bytes: 0,
    memory_usage: 0,
    peak_memory_usage: 0,
  };
}

export function elapsedSeconds(r: ProcessRow, now = performance.now()): number {
  return (now - r.startedAt) / 1000;
}

/** A row of system.mutations: one unfinished mutation. */
export interface MutationRow {
  readonly database: string;
  readonly table: string;
  readonly mutation_id: string;
  readonly command: string;
  /** unix seconds */
  readonly create_time: number;
  parts_to_do: number;
  parts_done: number;
  is_killed: number;
  latest_failed_part: string;
  /** unix seconds, 0 if none */
  latest_fail_time: number;
  latest_fail_reason: string;
}

/** A mutation's name on this node: unique per database, table and mutation id. */
export function mutationKey(m: Pick<MutationRow, 'database' | 'table' | 'mutation_id'>): string {
  return `${m.database}\u0000${m.table}\u0000${m.mutation_id}`;
}

/** A row of information_schema.PROCESSLIST: one client connection, in MariaDB's terms. */
export interface ConnectionRow {
  /** the cluster-wide thread id (ID, TID) */
  readonly id: number;
  readonly user: string;
  readonly host: string;
  /** '' when no database is selected (DB reads NULL) */
  readonly db: string;
  /** MariaDB's word: Query, Sleep, Killed, or a server's own (Binlog Dump, idle in transaction, …) */
  command: string;
  /** performance.now() when COMMAND last changed or a statement started: TIME and TIME_MS count from here */
  commandSince: number;
  state: string;
  /** the running statement's text; '' when idle (INFO reads NULL) */
  info: string;
  /** the running statement's QUERY_ID, or the last one's while idle (as MariaDB shows it); 0 before the first */
  query_id: number;
  examined_rows: number;
  memory_used: number;
  max_memory_used: number;
  /** PROGRESS: the server's progress report (0 for workload connections, which report none) */
  progress: number;
}

/** Milliseconds since COMMAND last changed (or the running statement started). */
export function commandMs(r: ConnectionRow, now = performance.now()): number {
  return now - r.commandSince;
}
