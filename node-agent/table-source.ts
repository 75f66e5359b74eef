import type { EvalContext, Resolver } from '../sql/compile';
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
