import { RE2JS } from 're2js';
import type { Expr } from './ast';
import { chError } from '../errors/quell-error';
import { formatDateTime, formatFloat, formatInt } from './formats/values';
import { INTEGER_TYPES, type ColumnType, type SqlValue } from './types';
import { errorText } from '../errors/error-text';

/**
 * Expression analysis and evaluation. All checking (names, arity, types, constant patterns)
 * happens in compileExpr: the coordinator compiles before fan-out so bad input fails once,
 * there. The result is a tree of closures; literal-only subtrees are folded to constants.
 */

export interface ColumnBinding<R> {
  readonly type: ColumnType;
  readonly get: (row: R) => SqlValue;
}
export type Resolver<R> = (name: string) => ColumnBinding<R> | undefined;
export interface EvalContext {
  readonly hostName: string;
  /** unix seconds */
  readonly now: () => number;
}
export interface Compiled<R> {
  readonly type: ColumnType;
  evaluate(row: R): SqlValue;
}

type Ev<R> = (row: R) => SqlValue;

/** A compiled subexpression; `value` is meaningful only when `isConst`. */
interface Node<R> {
  readonly type: ColumnType;
  readonly evaluate: Ev<R>;
  readonly isConst: boolean;
  readonly value: SqlValue;
}

const NOTHING: ColumnType = 'Nullable(Nothing)';

function konst<R>(type: ColumnType, value: SqlValue): Node<R> {
  return { type, evaluate: () => value, isConst: true, value };
}

function dyn<R>(type: ColumnType, evaluate: Ev<R>): Node<R> {
  return { type, evaluate, isConst: false, value: null };
}

// ---- types ---------------------------------------------------------------------------------

type Kind = 'str' | 'num' | 'dt' | 'null';

function kindOf(t: ColumnType): Kind {
  if (t === 'String') return 'str';
  if (t === 'DateTime') return 'dt';
  if (t === NOTHING) return 'null';
  return 'num';
}

const isInt = (t: ColumnType): boolean => INTEGER_TYPES.has(t);
const isUnsigned = (t: ColumnType): boolean => t.startsWith('UInt');
const UNSIGNED_RANK: readonly ColumnType[] = ['UInt8', 'UInt16', 'UInt32', 'UInt64'];

function literalType(v: SqlValue, isFloat: boolean | undefined): ColumnType {
  if (v === null) return NOTHING;
  if (typeof v === 'string') return 'String';
  if (isFloat || !Number.isInteger(v)) return 'Float64';
  if (v < 0) return 'Int64';
  if (v <= 0xff) return 'UInt8';
  if (v <= 0xffff) return 'UInt16';
  if (v <= 0xffffffff) return 'UInt32';
  return 'UInt64';
}

/** The type both branches of `if` convert to, or undefined when ClickHouse has none. */
function commonType(a: ColumnType, b: ColumnType): ColumnType | undefined {
  if (a === b) return a;
  if (a === NOTHING) return b;
  if (b === NOTHING) return a;
  if (kindOf(a) !== 'num' || kindOf(b) !== 'num') return undefined;
  if (a === 'Float64' || b === 'Float64') return 'Float64';
  if (isUnsigned(a) && isUnsigned(b)) return UNSIGNED_RANK[Math.max(UNSIGNED_RANK.indexOf(a), UNSIGNED_RANK.indexOf(b))];
  return 'Int64';
}

function illegalType(t: ColumnType, index: number, argc: number, fn: string): Error {
  const which = argc === 1 ? '' : `${['first', 'second', 'third'][index] ?? `${index + 1}th`} `;
  return chError('ILLEGAL_TYPE_OF_ARGUMENT', `Illegal type ${t} of ${which}argument of function ${fn}`);
}

function illegalTypes(types: readonly ColumnType[], fn: string): Error {
  return chError('ILLEGAL_TYPE_OF_ARGUMENT', `Illegal types of arguments (${types.join(', ')}) of function ${fn}`);
}

function requireKind<R>(args: readonly Node<R>[], fn: string, ...kinds: readonly Kind[][]): void {
  args.forEach((a, i) => {
    const allowed = kinds[i] ?? kinds[kinds.length - 1] ?? [];
    const k = kindOf(a.type);
    if (k !== 'null' && !allowed.includes(k)) throw illegalType(a.type, i, args.length, fn);
  });
}

// ---- byte-semantics string helpers (ClickHouse strings are bytes) --------------------------

const NON_ASCII = /[^\x00-\x7f]/;

/** UTF-8 byte length of s[0, end). */
function utf8Length(s: string, end = s.length): number {
  let n = end;
  for (let i = 0; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) n += 1;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < end && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 2; // a surrogate pair is 4 bytes for 2 UTF-16 units
      i++;
    } else n += 2;
  }
  return n;
}

/** ClickHouse lower/upper touch only ASCII letters. */
function asciiLower(s: string): string {
  if (!NON_ASCII.test(s)) return s.toLowerCase();
  return s.replace(/[A-Z]+/g, (m) => m.toLowerCase());
}

function asciiUpper(s: string): string {
  if (!NON_ASCII.test(s)) return s.toUpperCase();
  return s.replace(/[a-z]+/g, (m) => m.toUpperCase());
}

/** substring(s, offset, length) over bytes, 1-based, negative offset/length count from the end. */
function byteSubstring(s: string, offset: number, length: number | undefined): string {
  const ascii = !NON_ASCII.test(s);
  const bytes = ascii ? undefined : Buffer.from(s, 'utf8');
  const len = bytes ? bytes.length : s.length;
  if (offset === 0) return '';
  const start = offset > 0 ? offset - 1 : len + offset;
  const end = length === undefined ? len : length >= 0 ? start + length : len + length;
  const from = Math.max(start, 0);
  const to = Math.min(end, len);
  if (to <= from) return '';
  return bytes ? bytes.toString('utf8', from, to) : s.slice(from, to);
}

/** 1-based byte position of needle in haystack, 0 when absent. */
function bytePosition(haystack: string, needle: string): number {
  const i = haystack.indexOf(needle);
  if (i <= 0) return i + 1;
  return NON_ASCII.test(haystack) ? utf8Length(haystack, i) + 1 : i + 1;
}

// ---- value conversion ----------------------------------------------------------------------

/** 'YYYY-MM-DD[ hh:mm:ss]' (local time) or unix seconds; undefined if it is neither. */
export function parseDateTime(s: string): number | undefined {
  if (/^\d{1,10}$/.test(s)) return Number(s);
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2}):(\d{2}))?$/.exec(s);
  if (!m) return undefined;
  const [y, mo, d, h, mi, se] = m.slice(1).map((x) => Number(x ?? 0)) as [number, number, number, number, number, number];
  const date = new Date(y, mo - 1, d, h, mi, se);
  if (date.getFullYear() !== y || date.getMonth() !== mo - 1 || date.getDate() !== d || h > 23 || mi > 59 || se > 59) {
    return undefined;
  }
  return Math.floor(date.getTime() / 1000);
}

/** toString() of a value: the same text the formats print for it. */
export function valueToString(v: string | number, type: ColumnType): string {
  if (typeof v === 'string') return v;
  if (type === 'DateTime') return formatDateTime(v);
  if (type === 'Float64') return formatFloat(v);
  return formatInt(v);
}

const INT_TEXT = /^[+-]?\d+$/;
const FLOAT_TEXT = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$|^[+-]?(?:inf|nan)$/i;

function parseFloatText(s: string): number | undefined {
  if (!FLOAT_TEXT.test(s)) return undefined;
  const l = s.toLowerCase();
  if (l.endsWith('inf')) return l.startsWith('-') ? -Infinity : Infinity;
  if (l.endsWith('nan')) return NaN;
  return Number(s);
}

// ---- LIKE and regular expressions (RE2: linear time whatever the pattern) ------------------

type StringTest = (s: string) => boolean;

function compileRe2(pattern: string, flags: number, shown: string): RE2JS {
  try {
    return RE2JS.compile(pattern, flags);
  } catch (e) {
    throw chError('BAD_ARGUMENTS', `Cannot compile regular expression '${shown}': ${errorText(e)}`);
  }
}

const REGEX_META = /[\\.+*?()|[\]{}^$]/;

/** match(): RE2 syntax, search semantics, `.` matches newlines (as ClickHouse sets dot_nl). */
export function regexTest(pattern: string): StringTest {
  if (!REGEX_META.test(pattern)) return (s) => s.includes(pattern);
  const re = compileRe2(pattern, RE2JS.DOTALL, pattern);
  return (s) => re.test(s);
}

/** A run of a LIKE pattern between two `%`: literal text and counts of `_` (one character each). */
type Piece = (string | number)[];

/**
 * LIKE: `%` any bytes, `_` one character, `\%` `\_` `\\` literal; a backslash before anything
 * else is itself literal. Most patterns are matched with startsWith/indexOf, much faster than
 * any regex engine and still linear; only `_` between two `%` (or ILIKE with non-ASCII text)
 * needs RE2.
 */
export function likeTest(pattern: string, caseInsensitive: boolean): StringTest {
  let cur: Piece = [];
  const pieces: Piece[] = [cur];
  const add = (item: string | number): void => {
    const last = cur[cur.length - 1];
    if (typeof item === 'string' && typeof last === 'string') cur[cur.length - 1] = last + item;
    else if (typeof item === 'number' && typeof last === 'number') cur[cur.length - 1] = last + item;
    else cur.push(item);
  };
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i] as string;
    if (ch === '\\' && i + 1 < pattern.length) {
      const next = pattern[i + 1] as string;
      add(next === '%' || next === '_' || next === '\\' ? next : '\\' + next);
      i++;
    } else if (ch === '%') {
      cur = [];
      pieces.push(cur);
    } else if (ch === '_') add(1);
    else add(ch);
  }

  const hasWildcard = (p: Piece): boolean => p.some((it) => typeof it === 'number');
  const asciiPattern = pieces.every((p) => p.every((it) => typeof it === 'number' || !NON_ASCII.test(it)));
  if (!pieces.slice(1, -1).some(hasWildcard) && (!caseInsensitive || asciiPattern)) {
    const ps = caseInsensitive ? pieces.map((p) => p.map((it) => (typeof it === 'string' ? it.toLowerCase() : it))) : pieces;
    const test = ps.some(hasWildcard) ? anchoredTest(ps) : piecesTest(ps.map((p) => p.join('')));
    return caseInsensitive ? (s) => test(asciiLower(s)) : test;
  }
  const regex = pieces.map((p) => p.map((it) => (typeof it === 'string' ? RE2JS.quote(it) : '.'.repeat(it))).join('')).join('.*');
  const re = compileRe2(regex, RE2JS.DOTALL | (caseInsensitive ? RE2JS.CASE_INSENSITIVE : 0), pattern);
  return (s) => re.testExact(s);
}

/** Whole-string match of literal pieces separated by `%`; leftmost placement is optimal. */
function piecesTest(pieces: readonly string[]): StringTest {
  const first = pieces[0] ?? '';
  if (pieces.length === 1) return (s) => s === first;
  const last = pieces[pieces.length - 1] ?? '';
  const middle = pieces.slice(1, -1).filter((p) => p !== '');
  const minLen = first.length + last.length;
  if (middle.length === 0) return (s) => s.length >= minLen && s.startsWith(first) && s.endsWith(last);
  if (middle.length === 1 && minLen === 0) {
    const m = middle[0] ?? '';
    return (s) => s.includes(m);
  }
  return (s) => s.length >= minLen && s.startsWith(first) && s.endsWith(last) && middlesFit(s, middle, first.length, s.length - last.length);
}

/** The middle pieces appear in order within s[from, to), each placed leftmost. */
function middlesFit(s: string, middle: readonly string[], from: number, to: number): boolean {
  let at = from;
  for (const m of middle) {
    const k = s.indexOf(m, at);
    if (k < 0 || k + m.length > to) return false;
    at = k + m.length;
  }
  return at <= to;
}

/** Like piecesTest, where the first and last pieces (anchored at the ends) may contain `_`. */
function anchoredTest(pieces: readonly Piece[]): StringTest {
  const first = pieces[0] ?? [];
  if (pieces.length === 1) return (s) => matchForward(s, first) === s.length;
  const last = pieces[pieces.length - 1] ?? [];
  const middle = pieces
    .slice(1, -1)
    .map((p) => p.join(''))
    .filter((p) => p !== '');
  return (s) => {
    const from = matchForward(s, first);
    if (from < 0) return false;
    const to = matchBackward(s, last);
    return to >= from && middlesFit(s, middle, from, to);
  };
}

const isHigh = (c: number): boolean => c >= 0xd800 && c <= 0xdbff;
const isLow = (c: number): boolean => c >= 0xdc00 && c <= 0xdfff;

/** Offset after matching the piece at the start of s, or -1. `_` steps over one code point. */
function matchForward(s: string, piece: Piece): number {
  let p = 0;
  for (const it of piece) {
    if (typeof it === 'string') {
      if (!s.startsWith(it, p)) return -1;
      p += it.length;
      continue;
    }
    for (let k = 0; k < it; k++) {
      if (p >= s.length) return -1;
      p += isHigh(s.charCodeAt(p)) && isLow(s.charCodeAt(p + 1)) ? 2 : 1;
    }
  }
  return p;
}

/** Offset where the piece starts when it matches at the end of s, or -1. */
function matchBackward(s: string, piece: Piece): number {
  let end = s.length;
  for (let i = piece.length - 1; i >= 0; i--) {
    const it = piece[i] ?? '';
    if (typeof it === 'string') {
      const start = end - it.length;
      if (start < 0 || !s.startsWith(it, start)) return -1;
      end = start;
      continue;
    }
    for (let k = 0; k < it; k++) {
      if (end <= 0) return -1;
      end -= isLow(s.charCodeAt(end - 1)) && isHigh(s.charCodeAt(end - 2)) ? 2 : 1;
    }
  }
  return end;
}

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

// ---- evaluator helpers ---------------------------------------------------------------------

function map1<R>(a: Node<R>, f: (x: SqlValue) => SqlValue): Ev<R> {
  const ea = a.evaluate;
  return (row) => {
    const x = ea(row);
    return x === null ? null : f(x);
  };
}

function map2<R>(a: Node<R>, b: Node<R>, f: (x: SqlValue, y: SqlValue) => SqlValue): Ev<R> {
  const ea = a.evaluate;
  const eb = b.evaluate;
  if (b.isConst) {
    const y = b.value;
    if (y === null) return () => null;
    return (row) => {
      const x = ea(row);
      return x === null ? null : f(x, y);
    };
  }
  if (a.isConst) {
    const x = a.value;
    if (x === null) return () => null;
    return (row) => {
      const y = eb(row);
      return y === null ? null : f(x, y);
    };
  }
  return (row) => {
    const x = ea(row);
    if (x === null) return null;
    const y = eb(row);
    return y === null ? null : f(x, y);
  };
}

/** ClickHouse's truth: a non-zero number. NULL is false; strings never reach a filter. */
export function isTrue(v: SqlValue): boolean {
  return typeof v === 'number' && v !== 0;
}

// ---- functions -----------------------------------------------------------------------------

interface Spec {
  readonly name: string;
  readonly min: number;
  readonly max: number;
  /** A NULL literal argument makes the result NULL without looking further (ClickHouse's default). */
  readonly nullsDefault: boolean;
  readonly build: <R>(args: Node<R>[], ctx: EvalContext) => Node<R>;
}

const SPECS = new Map<string, Spec>();

/** Argument i, which the arity check has already guaranteed. */
function arg<R>(args: readonly Node<R>[], i: number): Node<R> {
  const a = args[i];
  if (a === undefined) throw chError('LOGICAL_ERROR', `missing argument ${i + 1}`);
  return a;
}

function def(name: string, min: number, max: number, build: Spec['build'], nullsDefault = true, aliases: string[] = []): void {
  const spec: Spec = { name, min, max, nullsDefault, build };
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

function arithmeticType(fn: string, a: ColumnType, b: ColumnType): ColumnType | undefined {
  const ka = kindOf(a);
  const kb = kindOf(b);
  if (ka === 'num' && kb === 'num') {
    if (fn === 'divide' || a === 'Float64' || b === 'Float64') return 'Float64';
    // ClickHouse: the difference of two unsigned numbers is signed.
    if (fn === 'minus') return 'Int64';
    return isUnsigned(a) && isUnsigned(b) ? 'UInt64' : 'Int64';
  }
  if (fn === 'plus' && ((ka === 'dt' && isInt(b)) || (isInt(a) && kb === 'dt'))) return 'DateTime';
  if (fn === 'minus' && ka === 'dt' && isInt(b)) return 'DateTime';
  if (fn === 'minus' && ka === 'dt' && kb === 'dt') return 'Int64';
  return undefined;
}

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

function stringPairFn(name: string, type: ColumnType, f: (s: string, t: string) => SqlValue): void {
  def(name, 2, 2, (args) => {
    requireKind(args, name, ['str'], ['str']);
    return dyn(type, map2(arg(args, 0), arg(args, 1), (x, y) => f(x as string, y as string)));
  });
}
stringPairFn('startsWith', 'UInt8', (s, p) => (s.startsWith(p) ? 1 : 0));
stringPairFn('endsWith', 'UInt8', (s, p) => (s.endsWith(p) ? 1 : 0));
stringPairFn('position', 'UInt64', bytePosition);

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
conversion('toInt64', 'Int64', (s) => (INT_TEXT.test(s) ? Number(s) : undefined), (n) => (Number.isFinite(n) ? Math.trunc(n) : 0));
conversion('toFloat64', 'Float64', parseFloatText, (n) => n);

// read when evaluated, not folded: agents cache compiled filters, and a folded now() would freeze
def('now', 0, 0, (_args, ctx) => dyn('DateTime', () => Math.floor(ctx.now())));
def('hostName', 0, 0, (_args, ctx) => konst('String', ctx.hostName));

/** Callable functions (operators included), as ClickHouse spells them; lookup ignores case. */
export const FUNCTION_NAMES: readonly string[] = [...new Set([...SPECS.values()].map((s) => s.name)), 'in', 'notIn'];

// ---- compiler ------------------------------------------------------------------------------

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
    const spec = SPECS.get(lower);
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

function checkArity(name: string, n: number, min: number, max: number): void {
  if (n >= min && n <= max) return;
  const should = min === max ? `${min}` : max === Infinity ? `at least ${min}` : `${min} or ${max}`;
  throw chError('NUMBER_OF_ARGUMENTS_DOESNT_MATCH', `Number of arguments for function ${name} doesn't match: passed ${n}, should be ${should}`);
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
