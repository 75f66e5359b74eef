import type { Expr, SelectStatement } from '../../../sql/ast';
import type { Column } from '../../../sql/types';

/**
 * A select item's alias where another clause names it (WHERE, GROUP BY, HAVING, ORDER BY), as
 * ClickHouse reads it: a table column of the same name wins over the alias.
 */
export function substituteAliases(e: Expr, aliases: ReadonlyMap<string, Expr>, tableColumns: ReadonlySet<string>): Expr {
  switch (e.kind) {
    case 'identifier':
      return !tableColumns.has(e.name) && aliases.has(e.name) ? (aliases.get(e.name) as Expr) : e;
    case 'call':
      return { ...e, args: e.args.map((a) => substituteAliases(a, aliases, tableColumns)) };
    case 'tuple':
      return { ...e, items: e.items.map((a) => substituteAliases(a, aliases, tableColumns)) };
    default:
      return e;
  }
}

/** How a statement's aliases read in its other clauses. */
export function aliasSubstitution(stmt: SelectStatement, columns: readonly Column[]): (e: Expr) => Expr {
  const names = new Set(columns.map((c) => c.name));
  const aliases = new Map<string, Expr>();
  for (const item of stmt.items) if (item.expr && item.alias) aliases.set(item.alias, item.expr);
  return (e) => substituteAliases(e, aliases, names);
}
