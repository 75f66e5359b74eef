/** ClickHouse type names that quell's tables and expressions use. */
export type ColumnType =
  | 'String'
  | 'UInt8'
  | 'UInt16'
  | 'UInt32'
  | 'UInt64'
  | 'Int64'
  | 'Float64'
  | 'DateTime'
  | 'Nullable(Nothing)';

/**
 * A value inside the evaluator and the formats. Integers and floats are JS numbers (every
 * quantity quell tracks stays below 2^53); DateTime is unix seconds; NULL is null.
 */
export type SqlValue = string | number | null;

export interface Column {
  readonly name: string;
  readonly type: ColumnType;
}

export const INTEGER_TYPES: ReadonlySet<ColumnType> = new Set([
  'UInt8',
  'UInt16',
  'UInt32',
  'UInt64',
  'Int64',
]);

export function isNumericType(t: ColumnType): boolean {
  return INTEGER_TYPES.has(t) || t === 'Float64';
}

/** 64-bit integers are quoted in JSON formats (ClickHouse's output_format_json_quote_64bit_integers). */
export function isQuotedInJson(t: ColumnType): boolean {
  return t === 'UInt64' || t === 'Int64';
}
