import { chError } from '../../errors/quell-error';
import { INTEGER_TYPES, type ColumnType, type SqlValue } from '../types';

/** The type lattice: how literals are typed, which types meet, and the errors for mismatches. */

export const NOTHING: ColumnType = 'Nullable(Nothing)';

export type Kind = 'str' | 'num' | 'dt' | 'null';

export function kindOf(t: ColumnType): Kind {
  if (t === 'String') return 'str';
  if (t === 'DateTime') return 'dt';
  if (t === NOTHING) return 'null';
  return 'num';
}

export const isInt = (t: ColumnType): boolean => INTEGER_TYPES.has(t);
const isUnsigned = (t: ColumnType): boolean => t.startsWith('UInt');
const UNSIGNED_RANK: readonly ColumnType[] = ['UInt8', 'UInt16', 'UInt32', 'UInt64'];

export function literalType(v: SqlValue, isFloat: boolean | undefined): ColumnType {
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
export function commonType(a: ColumnType, b: ColumnType): ColumnType | undefined {
  if (a === b) return a;
  if (a === NOTHING) return b;
  if (b === NOTHING) return a;
  if (kindOf(a) !== 'num' || kindOf(b) !== 'num') return undefined;
  if (a === 'Float64' || b === 'Float64') return 'Float64';
  if (isUnsigned(a) && isUnsigned(b)) return UNSIGNED_RANK[Math.max(UNSIGNED_RANK.indexOf(a), UNSIGNED_RANK.indexOf(b))];
  return 'Int64';
}

export function arithmeticType(fn: string, a: ColumnType, b: ColumnType): ColumnType | undefined {
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

export function illegalType(t: ColumnType, index: number, argc: number, fn: string): Error {
  const which = argc === 1 ? '' : `${['first', 'second', 'third'][index] ?? `${index + 1}th`} `;
  return chError('ILLEGAL_TYPE_OF_ARGUMENT', `Illegal type ${t} of ${which}argument of function ${fn}`);
}

export function illegalTypes(types: readonly ColumnType[], fn: string): Error {
  return chError('ILLEGAL_TYPE_OF_ARGUMENT', `Illegal types of arguments (${types.join(', ')}) of function ${fn}`);
}

/** Argument i must be of one of kinds[i] (the last entry covers the rest); NULL always passes. */
export function requireKind(args: readonly { readonly type: ColumnType }[], fn: string, ...kinds: readonly Kind[][]): void {
  args.forEach((a, i) => {
    const allowed = kinds[i] ?? kinds[kinds.length - 1] ?? [];
    const k = kindOf(a.type);
    if (k !== 'null' && !allowed.includes(k)) throw illegalType(a.type, i, args.length, fn);
  });
}
