import type { Column, SqlValue } from '../types';

export type Row = readonly SqlValue[];

export interface FormatSummary {
  /** Rows in the result (JSON's "rows" counts the rows the formatter saw, like ClickHouse). */
  readonly rows: number;
  readonly elapsedSeconds: number;
  /** JSON's "rows_before_limit_at_least"; printed only when given (a LIMIT was applied). */
  readonly rowsBeforeLimitAtLeast?: number;
  /** JSON statistics "rows_read"; defaults to `rows`. */
  readonly rowsRead?: number;
  /** JSON statistics "bytes_read"; defaults to 0. */
  readonly bytesRead?: number;
}

export interface Formatter {
  /** bytes to print before any rows (e.g. JSON's meta, TSVWithNames' header) */
  begin(): string;
  /** one block of rows as it arrives; rows stream in several blocks (SYNC kills) */
  block(rows: readonly Row[]): string;
  /** bytes after the last row */
  end(summary: FormatSummary): string;
}

/** ClickHouse settings that change the output; defaults are ClickHouse's. */
export interface FormatOptions {
  /** output_format_pretty_max_rows (Pretty*, Vertical): default 10000. */
  readonly prettyMaxRows?: number;
  /** output_format_pretty_max_column_pad_width (Pretty*): default 250. */
  readonly prettyMaxColumnPadWidth?: number;
}

export const DEFAULT_PRETTY_MAX_ROWS = 10000;
export const DEFAULT_PRETTY_MAX_COLUMN_PAD_WIDTH = 250;

export type FormatterFactory = (columns: readonly Column[], options: FormatOptions) => Formatter;
