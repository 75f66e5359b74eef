import { errorText } from '../../errors/error-text';
import { chError, type QuellError } from '../../errors/quell-error';
import type { ConnectionRow, MutationRow, ProcessRow } from '../tables/rows';

/**
 * A database server an agent fronts (`quell agent --backend URL`). Its process tables are read
 * fresh for every statement — no cached view ever decides a kill — and its kills are the
 * server's own kill commands.
 */

/** Turns a server's own connection or statement id into the cluster-wide one (common/thread-id.ts). */
export type ToClusterId = (serverLocal: number) => number;

/** Without a mapping, rows show the server's own ids (tests of one backend alone). */
export const SERVER_IDS: ToClusterId = (id) => id;

/**
 * A row the server listed, with the key that names it and nothing else while it lasts, and
 * the handle that stops it (bound to what the server needs: its own ids, never the row's
 * cluster-wide ones).
 */
export interface Listed<R, Kill> {
  readonly key: string;
  readonly row: R;
  readonly kill: Kill;
}

/**
 * A statement the server runs. Key: MariaDB and ClickHouse its query id; PostgreSQL
 * pid:query_start_µs (one statement, not the session's next). Kill: MariaDB KILL [HARD|SOFT]
 * QUERY ID, pg_cancel_backend, ClickHouse KILL QUERY. Terminate, the escalation of a cancel it
 * outlived: MariaDB KILL CONNECTION of its thread, pg_terminate_backend; ClickHouse has none.
 * `note` (kill-note.ts) ends every kill statement, so the reason is in the server's own logs.
 */
export type ServerQuery = Listed<ProcessRow, (soft: boolean, note?: string) => Promise<void>> & {
  readonly terminate?: (note?: string) => Promise<void>;
};

/** A client connection, keyed by its cluster-wide id. Kill: MariaDB KILL [HARD|SOFT] [QUERY] <thread>; pg_cancel_backend / pg_terminate_backend. */
export type ServerConnection = Listed<ConnectionRow, (soft: boolean, queryOnly: boolean, note?: string) => Promise<void>>;

/** An unfinished mutation, keyed by rows.ts mutationKey. Kill: ClickHouse KILL MUTATION. */
export type ServerMutation = Listed<MutationRow, (note?: string) => Promise<MutationKillResult>>;

export type MutationKillResult = { readonly status: 'waiting' | 'finished' } | { readonly status: 'cant_cancel'; readonly reason: string };

/** The servers' own names, as rows and errors say them. */
export const SERVER_NAMES = { mariadb: 'MariaDB', postgres: 'PostgreSQL', clickhouse: 'ClickHouse' } as const;

export interface Backend {
  readonly kind: keyof typeof SERVER_NAMES;
  /** kind://user@host:port — never the password; used in logs, rows and errors */
  readonly description: string;
  /** running statements, the backend's own session excluded */
  queries(ids?: ToClusterId): Promise<ServerQuery[]>;
  /** client connections, the backend's own session excluded ([] where the server has none to show) */
  connections(ids?: ToClusterId): Promise<ServerConnection[]>;
  /** unfinished mutations ([] where the server has none) */
  mutations(): Promise<ServerMutation[]>;
  /** one trivial statement (`SELECT 1`): resolves while the server answers, rejects with backendError otherwise */
  ping(): Promise<void>;
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
