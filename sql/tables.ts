import type { Column, ColumnType } from './types';

function cols(spec: string): Column[] {
  return spec
    .trim()
    .split(',')
    .map((pair) => {
      const [name, type] = pair.trim().split(/\s+/);
      return { name: name as string, type: type as ColumnType };
    });
}

/** Columns every table read across a cluster adds: the agent's advertised address and id. */
export const NODE_COLUMNS: readonly Column[] = cols('host String, port UInt16, node_id String');

/** system.processes (docs/statement-path.md §Tables), ClickHouse names and types. */
export const PROCESSES_COLUMNS: readonly Column[] = cols(`
  is_initial_query UInt8, user String, query_id String, address String, port UInt16,
  initial_user String, initial_query_id String, initial_address String, initial_port UInt16,
  client_hostname String, client_name String, elapsed Float64, is_cancelled UInt8,
  read_rows UInt64, read_bytes UInt64, total_rows_approx UInt64, written_rows UInt64,
  written_bytes UInt64, memory_usage Int64, peak_memory_usage Int64, query String,
  query_kind String, current_database String, thread_id UInt64, normalized_query_hash UInt64,
  normalized_query String`);

/** system.mutations: unfinished mutations (a done or killed mutation leaves the table). */
export const MUTATIONS_COLUMNS: readonly Column[] = cols(`
  database String, table String, mutation_id String, command String, create_time DateTime,
  parts_to_do Int64, parts_done Int64, is_done UInt8, is_killed UInt8,
  latest_failed_part String, latest_fail_time DateTime, latest_fail_reason String`);

/** information_schema.PROCESSLIST (MariaDB names): one row per connection; ID is cluster-wide. */
export const PROCESSLIST_COLUMNS: readonly Column[] = cols(`
  ID UInt64, USER String, HOST String, DB String, COMMAND String, TIME Int64, STATE String,
  INFO String, TIME_MS Float64, STAGE UInt8, MAX_STAGE UInt8, PROGRESS Float64,
  MEMORY_USED Int64, MAX_MEMORY_USED Int64, EXAMINED_ROWS Int64, QUERY_ID UInt64,
  INFO_BINARY String, TID UInt64`);

/**
 * system.kill_queue: durable mutation kills waiting for nodes that were down. `state` is
 * `pending`, or `invalid` for an intent no coordinator signed (agents ignore it; `invalid_reason` says why).
 */
export const KILL_QUEUE_COLUMNS: readonly Column[] = cols(
  'kill_id String, cluster String, condition String, user String, created DateTime, expires DateTime, nodes String, applied UInt64, state String, invalid_reason String',
);

/** What one kill log entry stores (node-agent/kill/kill-log/entry.ts): the columns of system.kill_log but `verified`. */
export const KILL_LOG_ENTRY_COLUMNS: readonly Column[] = cols(`
  event_time DateTime, statement_id String, user String, client String, coordinator String,
  target String, mode String, condition String, query_id String, mutation_id String,
  thread_id UInt64, process_user String, query String, kill_status String, error String,
  policy String, normalized_query_hash UInt64, reason String, escalated UInt8`);

/**
 * system.kill_log (docs/statement-path.md §The kill log): one row per process an agent killed, was asked to
 * kill, or listed for a TEST, read from the node's log files. `verified` is not stored: the reader
 * computes it from the entries' hash chain (1 when the entry links to the one before it).
 */
export const KILL_LOG_COLUMNS: readonly Column[] = [...KILL_LOG_ENTRY_COLUMNS, ...cols('verified UInt8')];

/**
 * system.kill_policies (docs/kill-policies.md): the coordinator's view of the policies in etcd; `limit` 0 means none.
 * The contract's columns first; then `state` (`active`, `suspended`, or `invalid` for a record no
 * coordinator signed: agents do not run it), why it is suspended, and why it is invalid; then
 * its ORDER BY ('' none: oldest first), ESCALATE AFTER's seconds (0: none) and REASON ('' none).
 */
export const KILL_POLICIES_COLUMNS: readonly Column[] = cols(
  'cluster String, name String, condition String, action String, every_s UInt32, limit UInt64, dry_run UInt8, creator String, created DateTime, state String, suspended_reason String, invalid_reason String, order_by String, escalate_after UInt32, reason String',
);

/**
 * system.coordinators: the live coordinators as this one's etcd view has them
 * (/quell/v1/coordinators/, coordinator/cluster/registration.ts); `server_id` prefixes their door sessions' ids.
 */
export const COORDINATORS_COLUMNS: readonly Column[] = cols(
  'id String, address String, mysql_address String, http_address String, version String, started DateTime, active UInt8, statements_running UInt64, server_id UInt16',
);

/**
 * system.sessions: every live coordinator's door sessions (MySQL connections, with their
 * connection id) and the statements running on its HTTP and gRPC doors (connection_id 0);
 * without PROCESS a user sees only its own (docs/front-doors.md).
 */
export const SESSIONS_COLUMNS: readonly Column[] = cols(
  'coordinator_id String, connection_id UInt64, door String, user String, address String, current_database String, command String, elapsed Float64, query_id String, query String',
);

export const CLUSTERS_COLUMNS: readonly Column[] = cols('cluster String, node_id String, host String, port UInt16, is_active UInt8');

export const KILL_QUERY_RESULT: readonly Column[] = cols(
  'kill_status String, query_id String, user String, query String, host String, port UInt16, node_id String, error String',
);

/** The ClickHouse form's KILL CONNECTION: the connection's cluster-wide id, its user and running statement. */
export const KILL_CONNECTION_RESULT: readonly Column[] = cols(
  'kill_status String, thread_id String, user String, query String, host String, port UInt16, node_id String, error String',
);
/** A KILL with escalate_after ends each row with this: kill_status keeps ClickHouse's values. */
export const ESCALATED_COLUMN: Column = { name: 'escalated', type: 'UInt8' };

export const KILL_MUTATION_RESULT: readonly Column[] = cols(
  'kill_status String, database String, table String, mutation_id String, command String, host String, port UInt16, node_id String, error String',
);

/**
 * A table read through an agent carries the node columns. system.processes has a `port` of its
 * own (the client's); across a cluster `port` is the agent's port (docs/statement-path.md §Tables), and the
 * client's port stays readable as `initial_port`.
 */
function withNodeColumns(own: readonly Column[]): Column[] {
  const taken = new Set(NODE_COLUMNS.map((c) => c.name));
  return [...own.filter((c) => !taken.has(c.name)), ...NODE_COLUMNS];
}

/** A table an agent serves, as the coordinator knows it for analysis. */
export interface AgentTable {
  readonly name: string;
  readonly wire: 'TABLE_PROCESSES' | 'TABLE_MUTATIONS' | 'TABLE_CONNECTIONS' | 'TABLE_KILL_LOG';
  /** the table's own columns followed by NODE_COLUMNS */
  readonly columns: readonly Column[];
}

export const AGENT_TABLES: readonly AgentTable[] = [
  { name: 'system.processes', wire: 'TABLE_PROCESSES', columns: withNodeColumns(PROCESSES_COLUMNS) },
  { name: 'system.mutations', wire: 'TABLE_MUTATIONS', columns: withNodeColumns(MUTATIONS_COLUMNS) },
  { name: 'information_schema.PROCESSLIST', wire: 'TABLE_CONNECTIONS', columns: withNodeColumns(PROCESSLIST_COLUMNS) },
  { name: 'system.kill_log', wire: 'TABLE_KILL_LOG', columns: withNodeColumns(KILL_LOG_COLUMNS) },
];

/** Finds an agent table by name: `system.*` as ClickHouse spells it, information_schema in any case (as MariaDB). */
export function findAgentTable(name: string): AgentTable | undefined {
  const lower = name.toLowerCase();
  return AGENT_TABLES.find((t) => t.name === name || (lower.startsWith('information_schema.') && t.name.toLowerCase() === lower));
}


/** One of quell's own agent tables, named in code: a name that is not one is a bug, found at start-up. */
export function agentTable(name: string): AgentTable {
  const table = findAgentTable(name);
  if (!table) throw new Error(`no agent table ${name}`);
  return table;
}
