import type { Expr, Tail } from '../../sql/ast';
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

export function checkFilter(where: Expr, columns: readonly Column[]): void {
  compileFilter(where, arrayResolver(columns), ANALYSIS_CONTEXT);
}

export function analyzeExpr(expr: Expr, columns: readonly Column[]): Compiled<readonly unknown[]> {
  return compileExpr(expr, arrayResolver(columns), ANALYSIS_CONTEXT);
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
