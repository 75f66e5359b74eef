import type { ColumnBinding, Resolver } from '../../sql/compile';
import type { SqlValue } from '../../sql/types';
import { agentTable, KILL_LOG_ENTRY_COLUMNS } from '../../sql/tables';
import type { NodeIdentity } from '../presence/node-identity';
import type { KillLogRow } from '../kill/kill-log';

const KILL_LOG_TABLE = agentTable('system.kill_log');

/** How each system.kill_log column is read: an entry's fields are named after its columns; `verified` is the reader's. */
export function killLogResolver(node: NodeIdentity): Resolver<KillLogRow> {
  const getters: Record<string, (r: KillLogRow) => SqlValue> = {
    host: () => node.host,
    port: () => node.port,
    node_id: () => node.nodeId,
    verified: (r) => r.verified,
  };
  for (const c of KILL_LOG_ENTRY_COLUMNS) getters[c.name] = (r) => (r as unknown as Record<string, SqlValue>)[c.name] ?? null;
  const bindings = new Map<string, ColumnBinding<KillLogRow>>();
  for (const c of KILL_LOG_TABLE.columns) {
    const get = getters[c.name];
    if (!get) throw new Error(`no getter for system.kill_log column ${c.name}`);
    bindings.set(c.name, { type: c.type, get });
  }
  return (name) => bindings.get(name);
}
