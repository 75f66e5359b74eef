import type { ColumnBinding, Resolver } from '../sql/compile';
import type { SqlValue } from '../sql/types';
import { findAgentTable } from '../sql/tables';
import type { NodeIdentity } from './node-identity';
import type { ConnectionRecord, ConnectionTable } from './connection-table';

const PROCESSLIST_TABLE = findAgentTable('information_schema.PROCESSLIST')!;

/**
 * How each information_schema.PROCESSLIST column is read from a ConnectionRecord on this node,
 * with MariaDB's values: INFO (and INFO_BINARY) and DB are NULL when there is none; TIME and
 * TIME_MS count from the last COMMAND change; TIME_MS has microsecond precision; quell's
 * connections report no stages (STAGE, MAX_STAGE 0); PROGRESS is what a backend server reports.
 */
export function connectionResolver(table: ConnectionTable, node: NodeIdentity): Resolver<ConnectionRecord> {
  const info = (r: ConnectionRecord): SqlValue => (r.info === '' ? null : r.info);
  const getters: Record<string, (r: ConnectionRecord) => SqlValue> = {
    ID: (r) => r.id,
    USER: (r) => r.user,
    HOST: (r) => r.host,
    DB: (r) => (r.db === '' ? null : r.db),
    COMMAND: (r) => r.command,
    TIME: (r) => Math.floor(table.timeMs(r) / 1000),
    STATE: (r) => r.state,
    INFO: info,
    TIME_MS: (r) => Math.round(table.timeMs(r) * 1000) / 1000,
    STAGE: () => 0,
    MAX_STAGE: () => 0,
    PROGRESS: (r) => r.progress,
    MEMORY_USED: (r) => r.memory_used,
    MAX_MEMORY_USED: (r) => r.max_memory_used,
    EXAMINED_ROWS: (r) => r.examined_rows,
    QUERY_ID: (r) => r.query_id,
    INFO_BINARY: info,
    TID: (r) => r.id,
    host: () => node.host,
    port: () => node.port,
    node_id: () => node.nodeId,
  };
  const bindings = new Map<string, ColumnBinding<ConnectionRecord>>();
  for (const c of PROCESSLIST_TABLE.columns) {
    const get = getters[c.name];
    if (!get) throw new Error(`no getter for information_schema.PROCESSLIST column ${c.name}`);
    bindings.set(c.name, { type: c.type, get });
  }
  return (name) => bindings.get(name);
}
