/**
 * The row-at-a-time skeleton of ClickHouse's IRowOutputStream driven by
 * BlockOutputStreamFromRowOutputStream: prefix, then per row
 * [between-rows delimiter] row-start field (field-delimiter field)* row-end, then suffix.
 * The between-rows delimiter also separates the last row of one block from the first of the next.
 */
import type { Column, ColumnType, SqlValue } from '../types';
import type { FormatSummary, Formatter, Row } from './types';

export abstract class RowOutputFormatter implements Formatter {
  protected rowCount = 0;

  constructor(protected readonly columns: readonly Column[]) {}

  begin(): string {
    return this.prefix();
  }

  block(rows: readonly Row[]): string {
    let out = '';
    for (const row of rows) {
      if (this.rowCount > 0) out += this.rowBetween();
      out += this.rowStart();
      for (let j = 0; j < this.columns.length; j++) {
        if (j !== 0) out += this.fieldDelimiter();
        const col = this.columns[j] as Column;
        out += this.field(j, row[j] ?? null, col.type);
      }
      out += this.rowEnd();
      this.rowCount++;
    }
    return out;
  }

  end(summary: FormatSummary): string {
    return this.suffix(summary);
  }

  protected prefix(): string {
    return '';
  }
  protected suffix(_summary: FormatSummary): string {
    return '';
  }
  protected rowStart(): string {
    return '';
  }
  protected rowEnd(): string {
    return '';
  }
  protected rowBetween(): string {
    return '';
  }
  protected abstract fieldDelimiter(): string;
  protected abstract field(index: number, value: SqlValue, type: ColumnType): string;
}
