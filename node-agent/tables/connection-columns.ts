import type { Resolver } from '../../sql/compile';
import type { SqlValue } from '../../sql/types';
import type { NodeIdentity } from '../presence/node-identity';
import { commandMs, type ConnectionRow } from './rows';
import { columnResolver } from './table-source';

/**
 * How each information_schema.PROCESSLIST column is read from a ConnectionRow on this node,
 * with MariaDB's values: INFO (and INFO_BINARY) and DB are NULL when there is none; TIME and
 * TIME_MS count from the last COMMAND change; TIME_MS has microsecond precision; quell's
 * connections report no stages (STAGE, MAX_STAGE 0); PROGRESS is what a backend server reports.
 */
export function connectionResolver(node: NodeIdentity): Resolver<ConnectionRow> {
  const info = (r: ConnectionRow): SqlValue => (r.info === '' ? null : r.info);
  return columnResolver<ConnectionRow>('information_schema.PROCESSLIST', {
    ID: (r) => r.id,
    USER: (r) => r.user,
    HOST: (r) => r.host,
    DB: (r) => (r.db === '' ? null : r.db),
    COMMAND: (r) => r.command,
    TIME: (r) => Math.floor(commandMs(r) / 1000),
    STATE: (r) => r.state,
    INFO: info,
    TIME_MS: (r) => Math.round(commandMs(r) * 1000) / 1000,
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
  });
}
