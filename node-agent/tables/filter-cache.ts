import { parseExpression } from '../../sql/parser';
import { compileExpr, compileFilter, type Compiled, type EvalContext, type Resolver } from '../../sql/compile';

const MAX_ENTRIES = 256;

/**
 * Compiled expressions by their canonical text. Operators repeat the same statement during
 * an incident; compiling once keeps the per-statement cost at the scan itself.
 */
class CompileCache<V> {
  private readonly entries = new Map<string, V>();

  constructor(private readonly compile: (text: string) => V) {}

  get(text: string): V {
    const hit = this.entries.get(text);
    if (hit !== undefined) {
      // refresh recency: a Map iterates in insertion order, so the oldest entry is first
      this.entries.delete(text);
      this.entries.set(text, hit);
      return hit;
    }
    const value = this.compile(text);
    this.entries.set(text, value);
    if (this.entries.size > MAX_ENTRIES) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
    return value;
  }
}

/** WHERE filters; the empty text matches every row. */
export class FilterCache<R> extends CompileCache<(row: R) => boolean> {
  constructor(resolve: Resolver<R>, ctx: EvalContext) {
    super((where) => (where === '' ? () => true : compileFilter(parseExpression(where), resolve, ctx)));
  }
}

/** Projections of table reads. */
export class ExpressionCache<R> extends CompileCache<Compiled<R>> {
  constructor(resolve: Resolver<R>, ctx: EvalContext) {
    super((text) => compileExpr(parseExpression(text), resolve, ctx));
  }
}
