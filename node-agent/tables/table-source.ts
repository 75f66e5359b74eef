import type { ColumnBinding, EvalContext, Resolver } from '../../sql/compile';
import { findAgentTable } from '../../sql/tables';
import type { SqlValue } from '../../sql/types';
import { ExpressionCache, FilterCache } from './filter-cache';

/** A table's columns on this node with its compiled-expression caches. */
export interface TableSource<R> {
  readonly resolve: Resolver<R>;
  readonly filters: FilterCache<R>;
  readonly expressions: ExpressionCache<R>;
}

export function tableSource<R>(resolve: Resolver<R>, ctx: EvalContext): TableSource<R> {
  return { resolve, filters: new FilterCache(resolve, ctx), expressions: new ExpressionCache(resolve, ctx) };
}

/** Binds every column of an agent table (sql/tables.ts) to its getter; a column without one is a bug, found at start. */
export function columnResolver<R>(tableName: string, getters: Record<string, (r: R) => SqlValue>): Resolver<R> {
  const table = findAgentTable(tableName);
  if (!table) throw new Error(`no agent table ${tableName}`);
  const bindings = new Map<string, ColumnBinding<R>>();
  for (const c of table.columns) {
    const get = getters[c.name];
    if (!get) throw new Error(`no getter for ${tableName} column ${c.name}`);
    bindings.set(c.name, { type: c.type, get });
  }
  return (name) => bindings.get(name);
}
