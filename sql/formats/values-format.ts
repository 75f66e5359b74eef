/**
 * Values (ClickHouse 18.16 dbms/src/Formats/ValuesRowOutputStream.cpp): `(a,'b'),(c,'d')`,
 * no newline anywhere, not even at the end.
 */
import type { ColumnType, SqlValue } from '../types';
import { RowOutputFormatter } from './row-output';
import { quotedCell } from './values';

export class ValuesFormatter extends RowOutputFormatter {
  protected fieldDelimiter(): string {
    return ',';
  }
  protected override rowStart(): string {
    return '(';
  }
  protected override rowEnd(): string {
    return ')';
  }
  protected override rowBetween(): string {
    return ',';
  }
  protected field(_index: number, value: SqlValue, type: ColumnType): string {
    return quotedCell(value, type);
  }
}
