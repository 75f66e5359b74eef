/** CSV and CSVWithNames (ClickHouse 18.16 dbms/src/Formats/CSVRowOutputStream.cpp), delimiter ','. */
import type { Column, ColumnType, SqlValue } from '../types';
import { quoteCsv } from './escape';
import { RowOutputFormatter } from './row-output';
import { csvCell } from './values';

export class CsvFormatter extends RowOutputFormatter {
  constructor(
    columns: readonly Column[],
    private readonly withNames: boolean,
  ) {
    super(columns);
  }

  protected override prefix(): string {
    if (!this.withNames) return '';
    return this.columns.map((c) => quoteCsv(c.name)).join(',') + '\n';
  }

  protected fieldDelimiter(): string {
    return ',';
  }

  protected override rowEnd(): string {
    return '\n';
  }

  protected field(_index: number, value: SqlValue, type: ColumnType): string {
    return csvCell(value, type);
  }
}
