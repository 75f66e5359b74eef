import { errorText } from '../../errors/error-text';
import { chError, type QuellError } from '../../errors/quell-error';

/**
 * A database server an agent fronts (`quell agent --backend URL`). Its process tables are read
 * fresh for every statement — no cached view ever decides a kill — and its kills are the
 * server's own kill commands.
 */

/** A statement running on the server, in system.processes terms. */
export interface BackendQuery {
  /** what the backend needs to kill it again (MariaDB: query id; PostgreSQL: pid:query_start_µs, one statement; ClickHouse: query_id) */
  readonly key: string;
  readonly query_id: string;
  readonly user: string;
  readonly query: string;
  /** seconds */
  readonly elapsed: number;
  readonly address: string;
  readonly port: number;
  readonly current_database: string;
  readonly client_hostname: string;
  readonly client_name: string;
  readonly initial_query_id: string;
  readonly initial_user: string;
  readonly query_kind: string;
  readonly is_cancelled: number;
  readonly read_rows: number;
  readonly read_bytes: number;
  readonly total_rows_approx: number;
  readonly written_rows: number;
  readonly written_bytes: number;
  readonly memory_usage: number;
  readonly peak_memory_usage: number;
  /** the server's connection id running it (MariaDB thread id, PostgreSQL pid); 0 if none */
  readonly server_thread_id: number;
}

/** A client connection, in information_schema.PROCESSLIST terms (MariaDB's columns). */
export interface BackendConnection {
  /** MariaDB thread id / PostgreSQL pid: below 2^24, so it fits the cluster-wide id layout */
  readonly server_thread_id: number;
  readonly user: string;
  readonly host: string;
  readonly db: string | null;
  /** MariaDB's words: Query, Sleep, Killed, … */
  readonly command: string;
  /** milliseconds in the current command (TIME is derived from it) */
  readonly time_ms: number;
  readonly state: string;
  /** the running statement, null when idle */
  readonly info: string | null;
  readonly memory_used: number;
  readonly max_memory_used: number;
  readonly examined_rows: number;
  /** the server's id of the running statement (MariaDB QUERY_ID); 0 when unknown */
  readonly server_query_id: number;
  readonly progress: number;
}

/** The system.processes counters a server without them (MariaDB, PostgreSQL) reports as zero. */
export const NO_QUERY_COUNTERS = {
  is_cancelled: 0,
  read_rows: 0,
  read_bytes: 0,
  total_rows_approx: 0,
  written_rows: 0,
  written_bytes: 0,
  memory_usage: 0,
  peak_memory_usage: 0,
} as const;

/** An unfinished mutation (system.mutations). */
export interface BackendMutation {
  readonly database: string;
  readonly table: string;
  readonly mutation_id: string;
  readonly command: string;
  /** unix seconds */
  readonly create_time: number;
  readonly parts_to_do: number;
  readonly latest_failed_part: string;
  /** unix seconds, 0 if none */
  readonly latest_fail_time: number;
  readonly latest_fail_reason: string;
}

export type MutationKillResult = { readonly status: 'waiting' | 'finished' } | { readonly status: 'cant_cancel'; readonly reason: string };

export interface Backend {
  readonly kind: 'mariadb' | 'postgres' | 'clickhouse';
  /** kind://user@host:port — never the password; used in logs, rows and errors */
  readonly description: string;
  /** running statements, the backend's own session excluded */
  queries(): Promise<BackendQuery[]>;
  /** client connections, the backend's own session excluded ([] where the server has none to show) */
  connections(): Promise<BackendConnection[]>;
  /** unfinished mutations ([] where the server has none) */
  mutations(): Promise<BackendMutation[]>;
  /** stops the statement (MariaDB KILL [HARD|SOFT] QUERY ID, pg_cancel_backend, ClickHouse KILL QUERY) */
  killQuery(q: BackendQuery, soft: boolean): Promise<void>;
  /** MariaDB KILL [HARD|SOFT] [QUERY] <thread>; PostgreSQL pg_cancel_backend / pg_terminate_backend */
  killConnection(serverThreadId: number, soft: boolean, queryOnly: boolean): Promise<void>;
  killMutation(m: BackendMutation): Promise<MutationKillResult>;
  close(): Promise<void>;
}

/** A backend call that failed: the node's row becomes node_error with this message. */
export function backendError(description: string, err: unknown, secret?: string): QuellError {
  return chError('ALL_CONNECTION_TRIES_FAILED', `${description}: ${errorText(err, secret)}`, true);
}

/** A URL with its password replaced, for anything a person may read. */
export function redactUrl(url: URL): string {
  const user = url.username ? `${decodeURIComponent(url.username)}@` : '';
  return `${url.protocol}//${user}${url.host}`;
}
