import type { OrderKey__Output } from '../../proto/generated/quell/v1/OrderKey';
import { compareRows } from '../../sql/sort';
import type { Column, SqlValue } from '../../sql/types';
import type { ExpressionCache } from '../tables/filter-cache';

/**
 * The order a ranked kill (phase one) or a kill policy's run takes its matches in, compiled on
 * this node over one table's rows: the keys' values, their types (for the wire) and directions.
 */
export interface RowOrder<R> {
  readonly columns: readonly Column[];
  readonly desc: readonly boolean[];
  values(r: R): SqlValue[];
}

/** The request's ORDER BY keys over a table's compiled-expression cache; no keys: only the oldest first. */
export function rowOrder<R>(keys: readonly OrderKey__Output[], expressions: ExpressionCache<R>): RowOrder<R> {
  const compiled = keys.map((k) => expressions.get(k.expr));
  return {
    columns: keys.map((k, i) => ({ name: k.expr, type: compiled[i]!.type })),
    desc: keys.map((k) => k.desc),
    values: (r) => compiled.map((c) => c.evaluate(r)),
  };
}

export interface Ranked<C> {
  readonly c: C;
  readonly values: SqlValue[];
}

/**
 * Candidates in the order's sequence (ClickHouse's: sql/sort.ts), the oldest first where every
 * key ties, as a policy's LIMIT always took them.
 */
export function inOrder<R, C extends { readonly row: R }>(candidates: readonly C[], order: RowOrder<R> | undefined, startOf: (r: R) => number): Ranked<C>[] {
  const keys = (order?.desc ?? []).map((desc, index) => ({ index, desc }));
  return candidates
    .map((c) => ({ c, values: order ? order.values(c.row) : [], start: startOf(c.row) }))
    .sort((a, b) => compareRows(a.values, b.values, keys) || a.start - b.start)
    .map(({ c, values }) => ({ c, values }));
}
