import type { Resolver } from '../../sql/compile';
import type { NodeIdentity } from '../presence/node-identity';
import { elapsedSeconds, type ProcessRow } from './rows';
import { columnResolver } from './table-source';

/** How each system.processes column is read from a ProcessRow on this node. */
export function processResolver(node: NodeIdentity): Resolver<ProcessRow> {
  return columnResolver<ProcessRow>('system.processes', {
    is_initial_query: (r) => (r.initial_query_id === '' || r.initial_query_id === r.query_id ? 1 : 0),
    user: (r) => r.user,
    query_id: (r) => r.query_id,
    address: (r) => r.address,
    initial_user: (r) => r.initial_user || r.user,
    initial_query_id: (r) => r.initial_query_id || r.query_id,
    initial_address: (r) => r.address,
    initial_port: (r) => r.port,
    client_hostname: (r) => r.client_hostname,
    client_name: (r) => r.client_name,
    elapsed: (r) => elapsedSeconds(r),
    is_cancelled: (r) => r.is_cancelled,
    read_rows: (r) => r.read_rows,
    read_bytes: (r) => r.read_bytes,
    total_rows_approx: (r) => r.total_rows_approx,
    written_rows: (r) => r.written_rows,
    written_bytes: (r) => r.written_bytes,
    memory_usage: (r) => r.memory_usage,
    peak_memory_usage: (r) => r.peak_memory_usage,
    query: (r) => r.query,
    query_kind: (r) => r.query_kind,
    current_database: (r) => r.current_database,
    thread_id: (r) => r.thread_id,
    normalized_query_hash: (r) => r.normalized_query_hash,
    normalized_query: (r) => r.normalized_query,
    // across a cluster `port` is the agent's (sql/tables.ts explains why)
    port: () => node.port,
    host: () => node.host,
    node_id: () => node.nodeId,
  });
}
