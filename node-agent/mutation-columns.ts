import type { ColumnBinding, Resolver } from '../sql/compile';
import type { SqlValue } from '../sql/types';
import { findAgentTable } from '../sql/tables';
import type { NodeIdentity } from './node-identity';
import type { MutationRecord } from './mutation-table';

const MUTATIONS_TABLE = findAgentTable('system.mutations')!;

/** How each system.mutations column is read from a MutationRecord on this node. */
export function mutationResolver(node: NodeIdentity): Resolver<MutationRecord> {
  const getters: Record<string, (r: MutationRecord) => SqlValue> = {
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
  };
  const bindings = new Map<string, ColumnBinding<MutationRecord>>();
  for (const c of MUTATIONS_TABLE.columns) {
    const get = getters[c.name];
    if (!get) throw new Error(`no getter for system.mutations column ${c.name}`);
    bindings.set(c.name, { type: c.type, get });
  }
  return (name) => bindings.get(name);
}
