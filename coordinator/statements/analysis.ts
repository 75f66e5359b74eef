import type { Expr, OrderItem, Tail } from '../../sql/ast';
import { renderExpr } from '../../sql/render';
import { type Compiled, compileExpr, compileFilter, evalContext, type EvalContext, type Resolver } from '../../sql/compile';
import { canonicalFormatName } from '../../sql/formats';
import { chError } from '../../errors/quell-error';
import type { Column } from '../../sql/types';
import type { StatementContext } from '../context';

/**
 * Checks done on the coordinator before anything is sent to a node, so that bad input fails
 * once, with one error, and never half-runs a kill.
 */

const ANALYSIS_CONTEXT: EvalContext = evalContext('');

/** A resolver over a column list; rows are arrays in that order. */
export function arrayResolver(columns: readonly Column[]): Resolver<readonly unknown[]> {
  const byName = new Map(columns.map((c, i) => [c.name, { type: c.type, get: (r: readonly unknown[]) => (r[i] ?? null) as never }]));
  return (name) => byName.get(name);
}

/** The column lists in use are a handful of constants (the tables'): their resolvers are made once. */
const resolvers = new WeakMap<readonly Column[], Resolver<readonly unknown[]>>();
function resolverOf(columns: readonly Column[]): Resolver<readonly unknown[]> {
  let r = resolvers.get(columns);
  if (!r) resolvers.set(columns, (r = arrayResolver(columns)));
  return r;
}

/** Per column list, the canonical WHERE texts that compiled: an operator repeats one statement during an incident. */
const checkedFilters = new WeakMap<readonly Column[], Set<string>>();
const MAX_CHECKED_FILTERS = 256;

/**
 * Throws unless `where` compiles as a filter over `columns`. `text`, where the caller has it (a
 * KILL's or a policy's canonical WHERE, renderExpr, which the agents compile), lets a text that
 * compiled once pass without compiling again; without it the filter is compiled.
 */
export function checkFilter(where: Expr, columns: readonly Column[], text?: string): void {
  if (text === undefined) {
    compileFilter(where, resolverOf(columns), ANALYSIS_CONTEXT);
    return;
  }
  let checked = checkedFilters.get(columns);
  if (checked?.has(text)) return;
  compileFilter(where, resolverOf(columns), ANALYSIS_CONTEXT);
  if (!checked) checkedFilters.set(columns, (checked = new Set()));
  // a bound, not an LRU: past it the set starts again, and a text is compiled once more
  if (checked.size >= MAX_CHECKED_FILTERS) checked.clear();
  checked.add(text);
}

export function analyzeExpr(expr: Expr, columns: readonly Column[]): Compiled<readonly unknown[]> {
  return compileExpr(expr, resolverOf(columns), ANALYSIS_CONTEXT);
}

/** One ORDER BY key of a ranked kill or a kill policy, checked: its canonical text and type. */
export interface CheckedOrderKey {
  readonly expr: string;
  readonly desc: boolean;
  readonly type: Column['type'];
}

/**
 * A ranked kill's or a policy's ORDER BY over the target's columns: every key compiles (an
 * unknown column is UNKNOWN_IDENTIFIER, a tuple ILLEGAL_TYPE_OF_ARGUMENT) and has values that
 * order processes (a bare NULL orders nothing).
 */
export function checkOrder(orderBy: readonly OrderItem[], columns: readonly Column[]): CheckedOrderKey[] {
  return orderBy.map((o) => {
    const expr = renderExpr(o.expr);
    const { type } = analyzeExpr(o.expr, columns);
    if (type === 'Nullable(Nothing)') throw chError('ILLEGAL_TYPE_OF_ARGUMENT', `Illegal type ${type} of ORDER BY key ${expr}: a kill orders processes by values that differ between them`);
    return { expr, desc: o.desc, type };
  });
}

/** The statement's FORMAT, canonical, or UNKNOWN_FORMAT before anything runs. */
export function checkFormat(stmt: Tail): string | undefined {
  if (!stmt.format) return undefined;
  const name = canonicalFormatName(stmt.format.name);
  if (!name) throw chError('UNKNOWN_FORMAT', `Unknown format ${stmt.format.name}`);
  return name;
}

export function resolveCluster(ctx: StatementContext, named: string | undefined): string {
  const cluster = named ?? ctx.defaultCluster;
  if (!ctx.membership.hasCluster(cluster)) throw chError('CLUSTER_DOESNT_EXIST', `Requested cluster '${cluster}' not found`);
  return cluster;
}
