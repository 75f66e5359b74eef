/**
 * TabSeparated family and TSKV (ClickHouse 18.16 dbms/src/Formats/TabSeparatedRowOutputStream.cpp,
 * TabSeparatedRawRowOutputStream.h, TSKVRowOutputStream.cpp).
 */
import type { Column, ColumnType, SqlValue } from '../types';
import { escapeAny, escapeTsv } from './escape';
import { RowOutputFormatter } from './row-output';
import { escapedCell, textCell } from './values';

export class TabSeparatedFormatter extends RowOutputFormatter {
  constructor(
    columns: readonly Column[],
    private readonly withNames: boolean,
    private readonly withTypes: boolean,
    private readonly raw: boolean,
  ) {
    super(columns);
  }

  /** Header lines: names, then types, each escaped, tab-separated, newline-terminated. */
  protected override prefix(): string {
    let out = '';
    if (this.withNames) out += this.columns.map((c) => escapeTsv(c.name)).join('\t') + '\n';
    if (this.withTypes) out += this.columns.map((c) => escapeTsv(c.type)).join('\t') + '\n';
    return out;
  }

  protected fieldDelimiter(): string {
    return '\t';
  }

  protected override rowEnd(): string {
    return '\n';
  }

  protected field(_index: number, value: SqlValue, type: ColumnType): string {
    return this.raw ? textCell(value, type) : escapedCell(value, type);
  }
}

/** TSKV: `name=value` pairs, tab-separated; names escaped with '=' as the special character. */
export class TskvFormatter extends RowOutputFormatter {
  private readonly keys: string[];

  constructor(columns: readonly Column[]) {
    super(columns);
    this.keys = columns.map((c) => escapeAny(c.name, '=') + '=');
  }

  protected fieldDelimiter(): string {
    return '\t';
  }

  protected override rowEnd(): string {
    return '\n';
  }

  protected field(index: number, value: SqlValue, type: ColumnType): string {
    return (this.keys[index] ?? '') + escapedCell(value, type);
  }
}
