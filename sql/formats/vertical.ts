/**
 * Vertical (ClickHouse 18.16 dbms/src/Formats/VerticalRowOutputStream.cpp):
 *
 *   Row 1:
 *   ──────
 *   name:  value
 *   other: value
 *
 *   Row 2:
 *   …
 *
 * Names are padded to the widest name (in code points) plus ": "; values are raw (serializeText),
 * NULL as ᴺᵁᴸᴸ. The rule under "Row N:" is floor(log10(N + 1)) + 6 characters long (so "Row 9:"
 * gets 7). Rows past output_format_pretty_max_rows (10000) are dropped and the end says
 * "Showed first 10000.". Names and values pass through terminalSafe() (issue 11; not in 18.16).
 */
import type { Column, ColumnType, SqlValue } from '../types';
import { codePointCount } from './escape';
import { terminalSafe } from './terminal-safe';
import { RowOutputFormatter } from './row-output';
import type { FormatOptions, FormatSummary } from './types';
import { DEFAULT_PRETTY_MAX_ROWS } from './types';
import { textCell } from './values';

/** Number of decimal digits of a positive integer: floor(log10(n)) + 1, without floating point. */
function digits(n: number): number {
  return String(Math.trunc(n)).length;
}

export class VerticalFormatter extends RowOutputFormatter {
  private readonly namesAndPaddings: string[];
  private readonly maxRows: number;
  private rowNumber = 0;

  constructor(columns: readonly Column[], options: FormatOptions) {
    super(columns);
    this.maxRows = options.prettyMaxRows ?? DEFAULT_PRETTY_MAX_ROWS;
    const maxNameWidth = columns.reduce((m, c) => Math.max(m, codePointCount(c.name)), 0);
    // ClickHouse resizes the UTF-8 byte string `name + ": "` to max_name_width + 2 bytes: padded
    // with spaces, or cut when a name has multi-byte characters (only non-ASCII names differ).
    const target = maxNameWidth + 2;
    // Made safe after the cut: a control picture is one code point like the byte it replaces.
    this.namesAndPaddings = columns.map((c) => {
      const bytes = Buffer.from(c.name + ': ', 'utf8');
      if (bytes.length >= target) return terminalSafe(bytes.subarray(0, target).toString('utf8'));
      return terminalSafe(bytes.toString('utf8')) + ' '.repeat(target - bytes.length);
    });
  }

  protected override rowStart(): string {
    this.rowNumber++;
    if (this.rowNumber > this.maxRows) return '';
    return 'Row ' + String(this.rowNumber) + ':\n' + '─'.repeat(digits(this.rowNumber + 1) + 5) + '\n';
  }

  protected override rowBetween(): string {
    return this.rowNumber > this.maxRows ? '' : '\n';
  }

  protected fieldDelimiter(): string {
    return '';
  }

  protected field(index: number, value: SqlValue, type: ColumnType): string {
    if (this.rowNumber > this.maxRows) return '';
    return (this.namesAndPaddings[index] ?? '') + terminalSafe(textCell(value, type)) + '\n';
  }

  protected override suffix(_summary: FormatSummary): string {
    return this.rowNumber > this.maxRows ? 'Showed first ' + String(this.maxRows) + '.\n' : '';
  }
}
