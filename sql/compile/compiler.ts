import { chError } from '../../errors/quell-error';
import type { Expr } from '../ast';
import { INTEGER_TYPES } from '../types';
import { parseDateTime } from './convert';
import { checkArity, FUNCTIONS } from './functions';
import { kindOf, literalType, NOTHING } from './lattice';
import { dyn, isTrue, konst, map1, type Compiled, type EvalContext, type Node, type Resolver } from './node';

/**
 * Expression analysis and evaluation. All checking (names, arity, types, constant patterns)
 * happens in compileExpr: the coordinator compiles before fan-out so bad input fails once,
 * there. The result is a tree of closures; literal-only subtrees are folded to constants.
 */

class Compiler<R> {
  constructor(
    private readonly resolve: Resolver<R>,
    private readonly ctx: EvalContext,
  ) {}

  compile(e: Expr): Node<R> {
    switch (e.kind) {
      case 'literal':
        return konst(literalType(e.value, e.isFloat), e.value);
      case 'identifier': {
        const b = this.resolve(e.name);
        if (!b) throw chError('UNKNOWN_IDENTIFIER', `Unknown identifier: ${e.name}`);
        return dyn(b.type, b.get);
      }
      case 'tuple':
        throw chError('ILLEGAL_TYPE_OF_ARGUMENT', 'A tuple is supported only as the right side of IN');
      case 'call':
        return this.call(e.name, e.args);
    }
  }

  private call(name: string, argExprs: readonly Expr[]): Node<R> {
    const lower = name.toLowerCase();
    if (lower === 'in' || lower === 'notin') {
      checkArity(name, argExprs.length, 2, 2);
      return this.inSet(argExprs[0] as Expr, argExprs[1] as Expr, lower === 'notin');
    }
    const spec = FUNCTIONS.get(lower);
    if (!spec) throw chError('UNKNOWN_FUNCTION', `Unknown function ${name}`);
    checkArity(name, argExprs.length, spec.min, spec.max);
    const args = argExprs.map((a) => this.compile(a));
    if (spec.nullsDefault && args.some((a) => a.type === NOTHING)) return konst(NOTHING, null);
    const node = spec.build(args, this.ctx);
    if (node.isConst || args.length === 0 || !args.every((a) => a.isConst)) return node;
    // Every argument is constant: evaluate once now (the row is never looked at).
    return konst(node.type, node.evaluate(undefined as unknown as R));
  }

  /** `x IN (…)`: the set must be constant; it is built once into a Set. */
  private inSet(left: Expr, right: Expr, negate: boolean): Node<R> {
    const fn = negate ? 'notIn' : 'in';
    const x = this.compile(left);
    const items = right.kind === 'tuple' ? right.items.map((i) => this.compile(i)) : [this.compile(right)];
    if (!items.every((i) => i.isConst)) {
      throw chError('ILLEGAL_TYPE_OF_ARGUMENT', `Second argument of function ${fn} must be a constant set (a literal or a tuple of literals)`);
    }
    if (x.type === NOTHING) return konst(NOTHING, null);
    const kx = kindOf(x.type);
    const set = new Set<string | number>();
    for (const item of items) {
      if (item.value === null) continue; // NULL never matches (transform_null_in = 0)
      let v: string | number | undefined = item.value;
      const k = kindOf(item.type);
      if (kx === 'dt' && k === 'str') v = parseDateTime(v as string);
      else if (!(k === kx || (k === 'num' && kx === 'dt'))) v = undefined;
      if (v === undefined) {
        throw chError('ILLEGAL_TYPE_OF_ARGUMENT', `Type ${item.type} of an element of the set of function ${fn} does not match ${x.type}`);
      }
      set.add(v);
    }
    const yes = negate ? 0 : 1;
    const no = negate ? 1 : 0;
    const node = dyn<R>('UInt8', map1(x, (v) => (set.has(v as string | number) ? yes : no)));
    return x.isConst ? konst('UInt8', node.evaluate(undefined as unknown as R)) : node;
  }
}

export function compileExpr<R>(expr: Expr, resolve: Resolver<R>, ctx: EvalContext): Compiled<R> {
  const n = new Compiler(resolve, ctx).compile(expr);
  return { type: n.type, evaluate: n.evaluate };
}

/** A WHERE clause: integer (or NULL) typed, as ClickHouse requires; NULL and 0 reject the row. */
export function compileFilter<R>(expr: Expr, resolve: Resolver<R>, ctx: EvalContext): (row: R) => boolean {
  const n = new Compiler(resolve, ctx).compile(expr);
  if (!INTEGER_TYPES.has(n.type) && n.type !== 'Nullable(Nothing)') {
    throw chError('ILLEGAL_TYPE_OF_ARGUMENT', `Illegal type ${n.type} of column for filter. Must be UInt8 or Nullable(UInt8).`);
  }
  if (n.isConst) {
    const keep = isTrue(n.value);
    return () => keep;
  }
  const ev = n.evaluate;
  return (row) => isTrue(ev(row));
}
