/**
 * Rendering one cell to text, the way ClickHouse 18.16's IDataType::serializeText* family does
 * (DataTypeString, DataTypeNumberBase, DataTypeDateTime, DataTypeNullable).
 *
 * - serializeText (Pretty*, Vertical, TabSeparatedRaw): raw, no escaping.
 * - serializeTextEscaped (TabSeparated*, TSKV): TSV escaping.
 * - serializeTextQuoted (Values): strings and DateTime in '…'.
 * - serializeTextCSV (CSV*): strings and DateTime in "…", numbers bare.
 * - serializeTextJSON (JSON*): strings and DateTime as JSON strings, 64-bit integers quoted,
 *   non-finite floats as null.
 */
import type { ColumnType, SqlValue } from '../types';
import { INTEGER_TYPES, isQuotedInJson } from '../types';
import { escapeTsv, jsonString, quoteCsv, quoteSql } from './escape';

/**
 * How a NULL looks in the presentational formats (Pretty*, Vertical, TabSeparatedRaw):
 * DataTypeNullable::serializeText prints U+1D3A U+1D41 U+1D38 U+1D38 since ClickHouse 1.1.54388
 * (June 2018, "Removed escaping in Vertical and Pretty* formats"), so 18.16 prints this, not "NULL".
 */
export const PRETTY_NULL = '\u1D3A\u1D41\u1D38\u1D38';

/** NULL in TabSeparated, CSV and TSKV (DataTypeNullable::serializeTextEscaped / serializeTextCSV). */
export const ESCAPED_NULL = '\\N';

/**
 * writeFloatText(double): double-conversion's ToShortest with NO_FLAGS, "inf", "nan", 'e',
 * decimal_in_shortest_low = -6, decimal_in_shortest_high = 21 (dbms/src/IO/DoubleConverter.h).
 *
 * Both double-conversion and ECMAScript's Number::toString pick the shortest round-tripping
 * digits (closest to the exact value on ties) and switch to exponent form at the same
 * thresholds (decimal exponent < -6 or >= 21), so String(x) has the same digits. Differences
 * handled here: no '+' in a positive exponent (1e21, not 1e+21); -0 keeps its sign ("-0",
 * since UNIQUE_ZERO is not set); infinities are "inf" / "-inf"; NaN is "nan" (no sign).
 */
export function formatFloat(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (x === Infinity) return 'inf';
  if (x === -Infinity) return '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0' : '0';
  return String(x).replace('e+', 'e');
}

/** writeIntText for a JS number that holds an integer column value (exact beyond 2^53 too). */
export function formatInt(x: number): string {
  if (!Number.isFinite(x)) return formatFloat(x);
  const t = Math.trunc(x);
  if (Number.isSafeInteger(t)) return String(t === 0 ? 0 : t);
  return BigInt(t).toString();
}

function pad2(n: number): string {
  return n < 10 ? '0' + n : String(n);
}

/**
 * writeDateTimeText(time_t): 'YYYY-MM-DD hh:mm:ss' in the process's local time zone (the
 * client's / server's default zone in ClickHouse); 0 is written as '0000-00-00 00:00:00'.
 */
export function formatDateTime(unixSeconds: number): string {
  const t = Math.floor(unixSeconds);
  if (t === 0 || !Number.isFinite(t)) return '0000-00-00 00:00:00';
  const d = new Date(t * 1000);
  const y = d.getFullYear();
  const year = y < 0 ? String(y) : String(y).padStart(4, '0');
  return (
    year +
    '-' +
    pad2(d.getMonth() + 1) +
    '-' +
    pad2(d.getDate()) +
    ' ' +
    pad2(d.getHours()) +
    ':' +
    pad2(d.getMinutes()) +
    ':' +
    pad2(d.getSeconds())
  );
}

/** How a value of a column is quoted by the text formats. */
type Kind = 'string' | 'integer' | 'float' | 'datetime';

function kindOf(value: string | number, type: ColumnType): Kind {
  // A string that reached a numeric column is printed as the string it is.
  if (typeof value === 'string') return 'string';
  if (INTEGER_TYPES.has(type)) return 'integer';
  if (type === 'Float64') return 'float';
  if (type === 'DateTime') return 'datetime';
  // A number in a String (or Nullable(Nothing)) column: print its numeric text as a string.
  return 'string';
}

function plainText(value: string | number, kind: Kind): string {
  if (typeof value === 'string') return value;
  switch (kind) {
    case 'integer':
      return formatInt(value);
    case 'datetime':
      return formatDateTime(value);
    default:
      return Number.isInteger(value) ? formatInt(value) : formatFloat(value);
  }
}

/** Pretty formats align numbers (and Date/DateTime, which derive from DataTypeNumberBase) right. */
export function alignsRight(type: ColumnType): boolean {
  return INTEGER_TYPES.has(type) || type === 'Float64' || type === 'DateTime';
}

/** serializeText: raw text (Pretty*, Vertical, TabSeparatedRaw). */
export function textCell(value: SqlValue, type: ColumnType): string {
  if (value === null) return PRETTY_NULL;
  const kind = kindOf(value, type);
  if (kind === 'float') return formatFloat(value as number);
  return plainText(value, kind);
}

/** serializeTextEscaped: TabSeparated, TSKV. */
export function escapedCell(value: SqlValue, type: ColumnType): string {
  if (value === null) return ESCAPED_NULL;
  const kind = kindOf(value, type);
  if (kind === 'string') return escapeTsv(plainText(value, kind));
  return textCell(value, type);
}

/** serializeTextQuoted: Values. */
export function quotedCell(value: SqlValue, type: ColumnType): string {
  if (value === null) return 'NULL';
  const kind = kindOf(value, type);
  if (kind === 'string') return quoteSql(plainText(value, kind));
  if (kind === 'datetime') return "'" + textCell(value, type) + "'";
  return textCell(value, type);
}

/** serializeTextCSV: CSV, CSVWithNames. */
export function csvCell(value: SqlValue, type: ColumnType): string {
  if (value === null) return ESCAPED_NULL;
  const kind = kindOf(value, type);
  if (kind === 'string') return quoteCsv(plainText(value, kind));
  if (kind === 'datetime') return '"' + textCell(value, type) + '"';
  return textCell(value, type);
}

/**
 * serializeTextJSON with ClickHouse's defaults: output_format_json_quote_64bit_integers = 1
 * (UInt64/Int64 in quotes), output_format_json_quote_denormals = 0 (inf/nan as null).
 */
export function jsonCell(value: SqlValue, type: ColumnType): string {
  if (value === null) return 'null';
  const kind = kindOf(value, type);
  switch (kind) {
    case 'string':
      return jsonString(plainText(value, kind));
    case 'datetime':
      return '"' + textCell(value, type) + '"';
    case 'integer': {
      const n = value as number;
      if (!Number.isFinite(n)) return 'null';
      const s = formatInt(n);
      return isQuotedInJson(type) ? '"' + s + '"' : s;
    }
    case 'float': {
      const n = value as number;
      return Number.isFinite(n) ? formatFloat(n) : 'null';
    }
  }
}
