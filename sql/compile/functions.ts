import { chError } from '../../errors/quell-error';
import { statementClass } from '../normalize';
import type { ColumnType, SqlValue } from '../types';
import { parseDateTime, parseFloatText, parseIntText, valueToString } from './convert';
import { arithmeticType, commonType, illegalType, illegalTypes, isInt, kindOf, NOTHING, requireKind, type Kind } from './lattice';
import { dyn, isTrue, konst, map1, map2, type EvalContext, type Node } from './node';
import { likeTest, regexTest, type StringTest } from './patterns';
import { asciiLower, asciiUpper, bytePosition, byteSubstring, utf8Length } from './utf8';

/**
 * The function table: every callable function and operator, as ClickHouse spells it, with its
 * arity and a builder that type-checks the compiled arguments and returns the compiled call.
 */

export interface FunctionSpec {
  readonly name: string;
  readonly min: number;
  readonly max: number;
  /** A NULL literal argument makes the result NULL without looking further (ClickHouse's default). */
  readonly nullsDefault: boolean;
  readonly build: <R>(args: Node<R>[], ctx: EvalContext) => Node<R>;
}

const SPECS = new Map<string, FunctionSpec>();

/** The table, keyed by lower-case name (aliases included): lookup ignores case. */
export const FUNCTIONS: ReadonlyMap<string, FunctionSpec> = SPECS;

/** Argument i, which the arity check has already guaranteed. */
function arg<R>(args: readonly Node<R>[], i: number): Node<R> {
  const a = args[i];
  if (a === undefined) throw chError('LOGICAL_ERROR', `missing argument ${i + 1}`);
  return a;
}

function def(name: string, min: number, max: number, build: FunctionSpec['build'], nullsDefault = true, aliases: string[] = []): void {
  const spec: FunctionSpec = { name, min, max, nullsDefault, build };
  for (const n of [name, ...aliases]) SPECS.set(n.toLowerCase(), spec);
}

// Comparisons. JS `<` on two strings compares code units, which orders like UTF-8 bytes except
// for astral characters against U+E000–U+FFFF; close enough for names and query texts.
const COMPARE: Readonly<Record<string, (x: number, y: number) => boolean>> = {
  equals: (x, y) => x === y,
  notEquals: (x, y) => x !== y,
  less: (x, y) => x < y,
  greater: (x, y) => x > y,
  lessOrEquals: (x, y) => x <= y,
  greaterOrEquals: (x, y) => x >= y,
};

/** A string constant compared with a DateTime is read as a DateTime, once, here. */
function asDateTime<R>(n: Node<R>, other: Node<R>, fn: string): Node<R> {
  if (kindOf(n.type) !== 'str' || kindOf(other.type) !== 'dt') return n;
  if (!n.isConst) throw illegalTypes([other.type, n.type], fn);
  const v = parseDateTime(n.value as string);
  if (v === undefined) throw chError('BAD_ARGUMENTS', `Cannot parse string '${String(n.value)}' as DateTime`);
  return konst('DateTime', v);
}

for (const [name, cmp] of Object.entries(COMPARE)) {
  def(name, 2, 2, (args) => {
    let a = arg(args, 0);
    let b = arg(args, 1);
    a = asDateTime(a, b, name);
    b = asDateTime(b, a, name);
    const ka = kindOf(a.type);
    const kb = kindOf(b.type);
    const numeric = (k: Kind): boolean => k === 'num' || k === 'dt';
    if (!(ka === kb || (numeric(ka) && numeric(kb)))) throw illegalTypes([a.type, b.type], name);
    return dyn('UInt8', map2(a, b, (x, y) => (cmp(x as number, y as number) ? 1 : 0)));
  });
}

function logical(name: 'and' | 'or'): void {
  def(
    name,
    2,
    Infinity,
    (args) => {
      requireKind(args, name, ['num']);
      const fs = args.map((a) => a.evaluate);
      // Three-valued: and() is 0 if any is false, else NULL if any is NULL; or() mirrors it.
      const decisive = name === 'and' ? 0 : 1;
      const other = 1 - decisive;
      return dyn('UInt8', (row) => {
        let sawNull = false;
        for (const f of fs) {
          const v = f(row);
          if (v === null) sawNull = true;
          else if (isTrue(v) === (decisive === 1)) return decisive;
        }
        return sawNull ? null : other;
      });
    },
    false,
  );
}
logical('and');
logical('or');

def('not', 1, 1, (args) => {
  requireKind(args, 'not', ['num']);
  return dyn('UInt8', map1(arg(args, 0), (x) => (isTrue(x) ? 0 : 1)));
});

def(
  'isNull',
  1,
  1,
  (args) => {
    const e = (arg(args, 0)).evaluate;
    return dyn('UInt8', (row) => (e(row) === null ? 1 : 0));
  },
  false,
);
def(
  'isNotNull',
  1,
  1,
  (args) => {
    const e = (arg(args, 0)).evaluate;
    return dyn('UInt8', (row) => (e(row) === null ? 0 : 1));
  },
  false,
);

const ARITHMETIC: Readonly<Record<string, (x: number, y: number) => number | null>> = {
  plus: (x, y) => x + y,
  minus: (x, y) => x - y,
  multiply: (x, y) => x * y,
  divide: (x, y) => x / y,
  modulo: (x, y) => x % y,
};

for (const [name, op] of Object.entries(ARITHMETIC)) {
  def(name, 2, 2, (args) => {
    const a = arg(args, 0);
    const b = arg(args, 1);
    const type = arithmeticType(name, a.type, b.type);
    if (type === undefined) throw chError('ILLEGAL_TYPE_OF_ARGUMENT', `Illegal types ${a.type} and ${b.type} of arguments of function ${name}`);
    // Integer modulo by zero is an error in ClickHouse; a row must not fail a whole scan, so NULL.
    const f = name === 'modulo' && type !== 'Float64' ? (x: number, y: number) => (y === 0 ? null : x % y) : op;
    return dyn(type, map2(a, b, (x, y) => f(x as number, y as number)));
  });
}

def('negate', 1, 1, (args) => {
  const a = arg(args, 0);
  requireKind(args, 'negate', ['num']);
  return dyn(a.type === 'Float64' ? 'Float64' : 'Int64', map1(a, (x) => -(x as number)));
});

function stringFn(name: string, type: ColumnType, f: (s: string) => SqlValue, aliases: string[] = []): void {
  def(
    name,
    1,
    1,
    (args) => {
      requireKind(args, name, ['str']);
      return dyn(type, map1(arg(args, 0), (x) => f(x as string)));
    },
    true,
    aliases,
  );
}
stringFn('lower', 'String', asciiLower, ['lcase']);
stringFn('upper', 'String', asciiUpper, ['ucase']);
stringFn('length', 'UInt64', (s) => utf8Length(s));
stringFn('empty', 'UInt8', (s) => (s.length === 0 ? 1 : 0));
stringFn('notEmpty', 'UInt8', (s) => (s.length === 0 ? 0 : 1));
// statement classes (sql/normalize.ts): a constant argument is folded once; a column's texts go through the class cache
stringFn('normalizeQuery', 'String', (s) => statementClass(s).normalized);
stringFn('normalizedQueryHash', 'UInt64', (s) => statementClass(s).hash);

function stringPairFn(name: string, type: ColumnType, f: (s: string, t: string) => SqlValue): void {
  def(name, 2, 2, (args) => {
    requireKind(args, name, ['str'], ['str']);
    return dyn(type, map2(arg(args, 0), arg(args, 1), (x, y) => f(x as string, y as string)));
  });
}
stringPairFn('startsWith', 'UInt8', (s, p) => (s.startsWith(p) ? 1 : 0));
stringPairFn('endsWith', 'UInt8', (s, p) => (s.endsWith(p) ? 1 : 0));
stringPairFn('position', 'UInt64', bytePosition);

const PATTERN_CACHE_SIZE = 64;

/** A pattern test for a constant pattern once, or per distinct row value through a small cache. */
function patternEvaluator<R>(subject: Node<R>, pattern: Node<R>, make: (p: string) => StringTest, negate: boolean): Node<R> {
  const yes = negate ? 0 : 1;
  const no = negate ? 1 : 0;
  const es = subject.evaluate;
  if (pattern.isConst) {
    if (pattern.value === null) return konst(NOTHING, null);
    const test = make(pattern.value as string);
    return dyn('UInt8', (row) => {
      const s = es(row);
      return s === null ? null : test(s as string) ? yes : no;
    });
  }
  const ep = pattern.evaluate;
  const cache = new Map<string, StringTest>();
  return dyn('UInt8', (row) => {
    const s = es(row);
    const p = ep(row);
    if (s === null || p === null) return null;
    let test = cache.get(p as string);
    if (test === undefined) {
      if (cache.size >= PATTERN_CACHE_SIZE) cache.clear();
      test = make(p as string);
      cache.set(p as string, test);
    }
    return test(s as string) ? yes : no;
  });
}

function patternFn(name: string, make: (p: string) => StringTest, negate: boolean): void {
  def(name, 2, 2, (args) => {
    requireKind(args, name, ['str'], ['str']);
    return patternEvaluator(arg(args, 0), arg(args, 1), make, negate);
  });
}
patternFn('like', (p) => likeTest(p, false), false);
patternFn('notLike', (p) => likeTest(p, false), true);
patternFn('ilike', (p) => likeTest(p, true), false);
patternFn('notILike', (p) => likeTest(p, true), true);
patternFn('match', regexTest, false);

def('concat', 1, Infinity, (args) => {
  const parts = args.map((a) => ({ e: a.evaluate, type: a.type }));
  return dyn('String', (row) => {
    let out = '';
    for (const p of parts) {
      const v = p.e(row);
      if (v === null) return null;
      out += valueToString(v, p.type);
    }
    return out;
  });
});

def(
  'substring',
  2,
  3,
  (args) => {
    requireKind(args, 'substring', ['str'], ['num']);
    args.slice(1).forEach((a, i) => {
      if (!isInt(a.type) && a.type !== NOTHING) throw illegalType(a.type, i + 1, args.length, 'substring');
    });
    const s = arg(args, 0);
    const off = arg(args, 1);
    const len = args[2];
    if (len === undefined) return dyn('String', map2(s, off, (x, o) => byteSubstring(x as string, o as number, undefined)));
    const es = s.evaluate;
    const eo = off.evaluate;
    const el = len.evaluate;
    return dyn('String', (row) => {
      const x = es(row);
      const o = eo(row);
      const l = el(row);
      return x === null || o === null || l === null ? null : byteSubstring(x as string, o as number, l as number);
    });
  },
  true,
  ['substr', 'mid'],
);

def(
  'if',
  3,
  3,
  (args) => {
    const c = arg(args, 0);
    const a = arg(args, 1);
    const b = arg(args, 2);
    if (kindOf(c.type) !== 'num' && c.type !== NOTHING) {
      throw chError('ILLEGAL_TYPE_OF_ARGUMENT', `Illegal type ${c.type} of first argument (condition) of function if. Must be UInt8.`);
    }
    const type = commonType(a.type, b.type);
    if (type === undefined) throw chError('ILLEGAL_TYPE_OF_ARGUMENT', `There is no supertype for types ${a.type}, ${b.type} of function if`);
    if (c.isConst) return isTrue(c.value) ? { ...a, type } : { ...b, type };
    const ec = c.evaluate;
    const ea = a.evaluate;
    const eb = b.evaluate;
    return dyn(type, (row) => (isTrue(ec(row)) ? ea(row) : eb(row)));
  },
  false,
);

def('toString', 1, 1, (args) => {
  const a = arg(args, 0);
  return dyn('String', map1(a, (x) => valueToString(x as string | number, a.type)));
});

function conversion(name: string, type: ColumnType, fromString: (s: string) => number | undefined, fromNumber: (n: number) => number): void {
  def(name, 1, 1, (args) => {
    const a = arg(args, 0);
    requireKind(args, name, ['str', 'num', 'dt']);
    if (kindOf(a.type) !== 'str') return dyn(type, map1(a, (x) => fromNumber(x as number)));
    if (a.isConst && fromString(a.value as string) === undefined) {
      throw chError('BAD_ARGUMENTS', `Cannot parse string '${String(a.value)}' as ${type}`);
    }
    // Unparsable row values give 0 (toInt64OrZero): one odd row must not fail a cluster-wide scan.
    return dyn(type, map1(a, (x) => fromString(x as string) ?? 0));
  });
}
conversion('toInt64', 'Int64', parseIntText, (n) => (Number.isFinite(n) ? Math.trunc(n) : 0));
conversion('toFloat64', 'Float64', parseFloatText, (n) => n);

// read when evaluated, not folded: agents cache compiled filters, and a folded now() would freeze
def('now', 0, 0, (_args, ctx) => dyn('DateTime', () => Math.floor(ctx.now())));
def('hostName', 0, 0, (_args, ctx) => konst('String', ctx.hostName));

/** Callable functions (operators included), as ClickHouse spells them; lookup ignores case. */
export const FUNCTION_NAMES: readonly string[] = [...new Set([...SPECS.values()].map((s) => s.name)), 'in', 'notIn'];

/** Fails a call whose argument count the function does not take. */
export function checkArity(name: string, n: number, min: number, max: number): void {
  if (n >= min && n <= max) return;
  const should = min === max ? `${min}` : max === Infinity ? `at least ${min}` : `${min} or ${max}`;
  throw chError('NUMBER_OF_ARGUMENTS_DOESNT_MATCH', `Number of arguments for function ${name} doesn't match: passed ${n}, should be ${should}`);
}
