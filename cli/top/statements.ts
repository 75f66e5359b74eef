import { quoteString } from '../../sql/render';
import type { Dialect } from '../../errors/quell-error';
import type { SqlValue } from '../../sql/types';

/** One line of `quell top`: a running query on one node. */
export interface TopProcess {
  readonly nodeId: string;
  readonly user: string;
  readonly queryId: string;
  /** seconds */
  readonly elapsed: number;
  /** bytes */
  readonly memory: number;
  readonly query: string;
  /** the connection that runs it (MariaDB thread id); 0 if none */
  readonly threadId: number;
}

/** A live coordinator, as system.coordinators lists it: one short line of `quell top`. */
export interface TopCoordinator {
  readonly id: string;
  readonly address: string;
  readonly active: boolean;
  readonly running: number;
}

/** The coordinators line's read (each refresh, beside the processes). */
export const COORDINATORS_QUERY = 'SELECT id, address, active, statements_running FROM system.coordinators ORDER BY id';

/** The rows of COORDINATORS_QUERY. */
export function toCoordinators(rows: readonly SqlValue[][]): TopCoordinator[] {
  return rows.map((r) => ({ id: String(r[0] ?? ''), address: String(r[1] ?? ''), active: Number(r[2] ?? 0) === 1, running: Number(r[3] ?? 0) }));
}

/** A node whose processes are missing from the view, and why (its node row's status and message). */
export interface SilentNode {
  readonly nodeId: string;
  readonly reason: string;
}

export type SortKey = 'elapsed' | 'memory';

const SORT_COLUMNS: Record<SortKey, string> = { elapsed: 'elapsed', memory: 'memory_usage' };

/** The most processes one refresh fetches: the top of the chosen sort, as a screen can show no more. */
export const MAX_ROWS = 500;

/**
 * How long one node may take to answer a refresh before it is shown as not answering: short,
 * so a stopped agent costs each refresh this much rather than the statement default of 10 s.
 */
export const NODE_TIMEOUT_SECONDS = 2;

/** How long a kill waits for the query to stop before reporting it `waiting`. */
export const KILL_WAIT_SECONDS = 5;

/** The clause naming the cluster, or the coordinator's default cluster when none was given. */
function processesTable(cluster: string | undefined): string {
  return cluster === undefined ? 'system.processes' : `clusterAllReplicas(${quoteString(cluster)}, system.processes)`;
}

/** One refresh: every node's processes, filtered by the typed WHERE, the top of the sort. */
export function processesQuery(cluster: string | undefined, where: string, sort: SortKey): string {
  // the WHERE is parenthesised so that what was typed cannot end the clause (a FORMAT, a SETTINGS)
  const filter = where.trim() === '' ? '' : ` WHERE (${where})`;
  return (
    `SELECT node_id, user, query_id, elapsed, memory_usage, query, thread_id FROM ${processesTable(cluster)}${filter}` +
    ` ORDER BY ${SORT_COLUMNS[sort]} DESC LIMIT ${MAX_ROWS} SETTINGS distributed_ddl_task_timeout = ${NODE_TIMEOUT_SECONDS}`
  );
}

/** The rows of processesQuery, in its column order. */
export function toProcesses(rows: readonly SqlValue[][]): TopProcess[] {
  return rows.map((r) => ({
    nodeId: String(r[0] ?? ''),
    user: String(r[1] ?? ''),
    queryId: String(r[2] ?? ''),
    elapsed: Number(r[3] ?? 0),
    memory: Number(r[4] ?? 0),
    query: String(r[5] ?? ''),
    threadId: Number(r[6] ?? 0),
  }));
}

// coordinator/statements/select/select.ts reports each node it got no rows from as one warning:
// `no rows from n3 (node_inactive)` or `no rows from n3 (node_unreachable: connect failed …)`
const NO_ROWS = /^no rows from (\S+) \((node_[a-z_]+)(?:: ([\s\S]*))?\)$/;

/** The nodes a read's warnings say did not answer; other warnings are kept as they are. */
export function silentNodes(warnings: readonly string[]): { silent: SilentNode[]; other: string[] } {
  const silent: SilentNode[] = [];
  const other: string[] = [];
  for (const w of warnings) {
    const m = NO_ROWS.exec(w);
    if (m) silent.push({ nodeId: m[1] as string, reason: m[3] ? `${m[2]}: ${m[3]}` : (m[2] as string) });
    else other.push(w);
  }
  silent.sort((a, b) => a.nodeId.localeCompare(b.nodeId));
  return { silent, other };
}

/** What `k` or `K` would kill, and the statement that does it. */
export interface KillAction {
  readonly target: 'query' | 'connection';
  readonly process: TopProcess;
  readonly statement: string;
  readonly dialect: Dialect;
}

/** KILL QUERY for exactly this query on exactly its node (query ids are unique per node only). */
export function killQueryAction(p: TopProcess, cluster: string | undefined): KillAction {
  const on = cluster === undefined ? '' : ` ON CLUSTER ${quoteString(cluster)}`;
  const statement =
    `KILL QUERY${on} WHERE query_id = ${quoteString(p.queryId)} AND node_id = ${quoteString(p.nodeId)}` +
    ` SYNC SETTINGS sync_kill_timeout = ${KILL_WAIT_SECONDS}, distributed_ddl_task_timeout = ${NODE_TIMEOUT_SECONDS}`;
  return { target: 'query', process: p, statement, dialect: 'clickhouse' };
}

/**
 * MariaDB's KILL CONNECTION by thread id: the id is cluster-wide and routes to the node that
 * made it. Undefined for a query that runs on no connection (thread id 0).
 */
export function killConnectionAction(p: TopProcess): KillAction | undefined {
  if (!(p.threadId > 0)) return undefined;
  return { target: 'connection', process: p, statement: `KILL CONNECTION ${p.threadId}`, dialect: 'mariadb' };
}
