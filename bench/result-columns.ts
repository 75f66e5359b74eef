import type { QueryResult } from '../client/coordinator-client';

/** The columns of a KILL result that the bench checks rows by. */
export const NODE_ID_COLUMN = 'node_id';
export const STATUS_COLUMN = 'kill_status';

export function column(r: QueryResult, name: string): number {
  const i = r.columns.findIndex((c) => c.name === name);
  if (i < 0) throw new Error(`result has no column ${name}`);
  return i;
}
