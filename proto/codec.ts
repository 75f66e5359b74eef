import type { Column, ColumnType, SqlValue } from '../sql/types';
import { INTEGER_TYPES } from '../sql/types';
import type { Value, Value__Output } from './generated/quell/v1/Value';
import type { Row, Row__Output } from './generated/quell/v1/Row';
import type { Column__Output } from './generated/quell/v1/Column';

const NULL_VALUE: Value = { null: true };

/** SqlValue → wire value; integers (and DateTime seconds) travel as decimal text. */
export function encodeValue(v: SqlValue, type: ColumnType): Value {
  if (v === null) return NULL_VALUE;
  if (typeof v === 'string') return { str: v };
  if (INTEGER_TYPES.has(type) || type === 'DateTime') return { int: Number.isInteger(v) ? String(v) : String(Math.trunc(v)) };
  return { float: v };
}

export function decodeValue(v: Value__Output): SqlValue {
  switch (v.kind) {
    case 'str':
      return v.str ?? '';
    case 'int':
      return Number(v.int ?? '0');
    case 'float':
      return v.float ?? 0;
    default:
      return null;
  }
}

export function encodeRow(values: readonly SqlValue[], columns: readonly Column[]): Row {
  const out: Value[] = new Array<Value>(values.length);
  for (let i = 0; i < values.length; i++) out[i] = encodeValue(values[i] ?? null, columns[i]?.type ?? 'String');
  return { values: out };
}

export function decodeRow(row: Row__Output): SqlValue[] {
  return row.values.map(decodeValue);
}

export function decodeColumns(columns: readonly Column__Output[]): Column[] {
  return columns.map((c) => ({ name: c.name, type: c.type as ColumnType }));
}
