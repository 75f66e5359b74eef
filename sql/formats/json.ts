/**
 * JSON, JSONCompact and JSONEachRow (ClickHouse 18.16 dbms/src/Formats/JSONRowOutputStream.cpp,
 * JSONCompactRowOutputStream.cpp, JSONEachRowRowOutputStream.cpp), with ClickHouse's default
 * settings: 64-bit integers quoted, non-finite floats as null, '/' escaped, statistics written.
 * Layout (tabs, blank lines) as in tests/queries/0_stateless/00378_json_quote_64bit_integers.reference.
 */
import type { Column, ColumnType, SqlValue } from '../types';
import { jsonString } from './escape';
import { RowOutputFormatter } from './row-output';
import type { FormatSummary } from './types';
import { formatFloat, formatInt, jsonCell } from './values';

function jsonPrefix(columns: readonly Column[]): string {
  let out = '{\n\t"meta":\n\t[\n';
  columns.forEach((c, i) => {
    out += '\t\t{\n';
    out += '\t\t\t"name": ' + jsonString(c.name) + ',\n';
    out += '\t\t\t"type": ' + jsonString(c.type) + '\n';
    out += '\t\t}' + (i + 1 < columns.length ? ',' : '') + '\n';
  });
  out += '\t],\n\n\t"data":\n\t[\n';
  return out;
}

function jsonSuffix(rowCount: number, summary: FormatSummary): string {
  let out = '\n\t]';
  out += ',\n\n\t"rows": ' + formatInt(rowCount);
  if (summary.rowsBeforeLimitAtLeast !== undefined) {
    out += ',\n\n\t"rows_before_limit_at_least": ' + formatInt(summary.rowsBeforeLimitAtLeast);
  }
  out += ',\n\n\t"statistics":\n\t{\n';
  out += '\t\t"elapsed": ' + formatFloat(summary.elapsedSeconds) + ',\n';
  out += '\t\t"rows_read": ' + formatInt(summary.rowsRead ?? summary.rows) + ',\n';
  out += '\t\t"bytes_read": ' + formatInt(summary.bytesRead ?? 0) + '\n';
  out += '\t}';
  out += '\n}\n';
  return out;
}

/** JSON and JSONCompact: one document with meta, data, rows and statistics around the rows. */
abstract class JsonDocumentFormatter extends RowOutputFormatter {
  protected override prefix(): string {
    return jsonPrefix(this.columns);
  }
  protected override suffix(summary: FormatSummary): string {
    return jsonSuffix(this.rowCount, summary);
  }
  protected override rowBetween(): string {
    return ',\n';
  }
}

export class JsonFormatter extends JsonDocumentFormatter {
  private readonly names: string[];

  constructor(columns: readonly Column[]) {
    super(columns);
    this.names = columns.map((c) => jsonString(c.name));
  }

  protected override rowStart(): string {
    return '\t\t{\n';
  }
  protected override rowEnd(): string {
    return '\n\t\t}';
  }
  protected fieldDelimiter(): string {
    return ',\n';
  }
  protected field(index: number, value: SqlValue, type: ColumnType): string {
    return '\t\t\t' + (this.names[index] ?? '') + ': ' + jsonCell(value, type);
  }
}

export class JsonCompactFormatter extends JsonDocumentFormatter {
  protected override rowStart(): string {
    return '\t\t[';
  }
  protected override rowEnd(): string {
    return ']';
  }
  protected fieldDelimiter(): string {
    return ', ';
  }
  protected field(_index: number, value: SqlValue, type: ColumnType): string {
    return jsonCell(value, type);
  }
}

export class JsonEachRowFormatter extends RowOutputFormatter {
  private readonly names: string[];

  constructor(columns: readonly Column[]) {
    super(columns);
    this.names = columns.map((c) => jsonString(c.name));
  }

  protected override rowStart(): string {
    return '{';
  }
  protected override rowEnd(): string {
    return '}\n';
  }
  protected fieldDelimiter(): string {
    return ',';
  }
  protected field(index: number, value: SqlValue, type: ColumnType): string {
    return (this.names[index] ?? '') + ':' + jsonCell(value, type);
  }
}
