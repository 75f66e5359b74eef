import type { QueryResult } from '../../client/coordinator-client';
import type { KillAction } from './statements';

/**
 * A kill's result as lines for the dialog: each KILL QUERY row (its status, node, query id,
 * user and error — node rows included, for the nodes that could not be asked), or MariaDB's
 * affected-row count for KILL CONNECTION.
 */
export function killResultLines(action: KillAction, r: Pick<QueryResult, 'columns' | 'rows' | 'affectedRows'>): string[] {
  if (action.target === 'connection') return [`Query OK, ${r.affectedRows} row${r.affectedRows === 1 ? '' : 's'} affected`];
  if (r.rows.length === 0) return ['no process matched: it had already ended'];
  const at = (name: string): number => r.columns.findIndex((c) => c.name === name);
  const pick = ['kill_status', 'node_id', 'query_id', 'user', 'error'].map(at);
  return r.rows.map((row) =>
    pick
      .filter((i) => i >= 0)
      .map((i) => String(row[i] ?? ''))
      .filter((cell) => cell !== '')
      .join('  '),
  );
}
