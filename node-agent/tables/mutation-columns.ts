import type { Resolver } from '../../sql/compile';
import type { NodeIdentity } from '../presence/node-identity';
import type { MutationRow } from './rows';
import { columnResolver } from './table-source';

/** How each system.mutations column is read from a MutationRow on this node. */
export function mutationResolver(node: NodeIdentity): Resolver<MutationRow> {
  return columnResolver<MutationRow>('system.mutations', {
    database: (r) => r.database,
    table: (r) => r.table,
    mutation_id: (r) => r.mutation_id,
    command: (r) => r.command,
    create_time: (r) => r.create_time,
    parts_to_do: (r) => r.parts_to_do,
    parts_done: (r) => r.parts_done,
    is_done: () => 0,
    is_killed: (r) => r.is_killed,
    latest_failed_part: (r) => r.latest_failed_part,
    latest_fail_time: (r) => r.latest_fail_time,
    latest_fail_reason: (r) => r.latest_fail_reason,
    host: () => node.host,
    port: () => node.port,
    node_id: () => node.nodeId,
  });
}
