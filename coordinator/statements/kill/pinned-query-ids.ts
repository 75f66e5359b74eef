import type { Expr } from '../../../sql/ast';

const isQueryId = (e: Expr | undefined): boolean => e?.kind === 'identifier' && e.name === 'query_id';
const text = (e: Expr | undefined): string | undefined => (e?.kind === 'literal' && typeof e.value === 'string' ? e.value : undefined);

/**
 * The query ids a KILL QUERY's WHERE names and nothing else: `query_id = '…'` (either side),
 * `query_id IN ('…', …)`, and ORs of those. Only such a WHERE reaches the statements running on
 * the coordinators' doors (their query_id is all they are killed by); any other WHERE, and any
 * other shape (an AND, a LIKE), is the nodes' alone: undefined.
 */
export function pinnedQueryIds(where: Expr): string[] | undefined {
  if (where.kind !== 'call') return undefined;
  const [a, b] = where.args;
  if (where.name === 'equals' && where.args.length === 2) {
    const id = isQueryId(a) ? text(b) : isQueryId(b) ? text(a) : undefined;
    return id === undefined ? undefined : [id];
  }
  if (where.name === 'in' && where.args.length === 2 && isQueryId(a)) {
    const items = b?.kind === 'tuple' ? b.items : [b];
    const ids = items.map(text);
    return ids.every((id): id is string => id !== undefined) ? ids : undefined;
  }
  if (where.name === 'or' && where.args.length >= 2) {
    const parts = where.args.map(pinnedQueryIds);
    return parts.every((p): p is string[] => p !== undefined) ? parts.flat() : undefined;
  }
  return undefined;
}
