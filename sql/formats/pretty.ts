/**
 * Pretty, PrettyCompact, PrettyCompactMonoBlock and PrettySpace as ClickHouse 18.16 prints them
 * without colour (dbms/src/Formats/PrettyBlockOutputStream.cpp, PrettyCompactBlockOutputStream.cpp,
 * PrettySpaceBlockOutputStream.cpp):
 *
 * - every block is its own table; a result without rows prints nothing;
 * - a column is as wide as its widest value or name, counted in code points
 *   (UTF8::countCodePoints), each capped at output_format_pretty_max_column_pad_width (250);
 * - values are printed raw (serializeText: no escaping since 1.1.54388), NULL as ᴺᵁᴸᴸ;
 * - numbers and DateTime are right-aligned, and so is their column name; the rest left-aligned;
 * - after output_format_pretty_max_rows (10000) rows nothing more is drawn, and the end says
 *   "  Showed first 10000." (PrettySpace: "\nShowed first 10000."), also when exactly that many.
 *
 * Values and names pass through terminalSafe(), which ClickHouse 18.16 does not do: control
 * characters other than tab and line feed print as visible pictures (issue 11).
 *
 * PrettySpace ignores the terminal-width clamp ClickHouse applies when its stdout is a wide TTY.
 */
import type { Column } from '../types';
import { codePointCount } from './escape';
import { terminalSafe } from './terminal-safe';
import type { FormatOptions, Formatter, Row } from './types';
import { DEFAULT_PRETTY_MAX_COLUMN_PAD_WIDTH, DEFAULT_PRETTY_MAX_ROWS } from './types';
import { alignsRight, textCell } from './values';

export type PrettyStyle = 'Pretty' | 'PrettyCompact' | 'PrettySpace';

interface Widths {
  /** Rendered text of every cell, column-major. */
  readonly cells: string[][];
  /** Width of every cell, column-major. */
  readonly widths: number[][];
  readonly maxWidths: number[];
  readonly nameWidths: number[];
}

function repeat(s: string, n: number): string {
  return n > 0 ? s.repeat(n) : '';
}

export class PrettyFormatter implements Formatter {
  private totalRows = 0;
  private readonly maxRows: number;
  private readonly padWidth: number;
  /** PrettyCompactMonoBlock: the rows squashed so far (SquashingBlockOutputStream). */
  private accumulated: Row[] | undefined;
  /** column names as printed */
  private readonly names: readonly string[];

  constructor(
    private readonly columns: readonly Column[],
    private readonly style: PrettyStyle,
    private readonly mono: boolean,
    options: FormatOptions,
  ) {
    this.maxRows = options.prettyMaxRows ?? DEFAULT_PRETTY_MAX_ROWS;
    this.padWidth = options.prettyMaxColumnPadWidth ?? DEFAULT_PRETTY_MAX_COLUMN_PAD_WIDTH;
    this.names = columns.map((c) => terminalSafe(c.name));
  }

  begin(): string {
    return '';
  }

  block(rows: readonly Row[]): string {
    if (rows.length === 0) return '';
    if (!this.mono) return this.write(rows);
    return this.squash(rows);
  }

  end(): string {
    let out = '';
    if (this.mono && this.accumulated !== undefined && this.accumulated.length > 0) {
      out += this.write(this.accumulated);
    }
    this.accumulated = undefined;
    if (this.totalRows >= this.maxRows) {
      out += (this.style === 'PrettySpace' ? '\nShowed first ' : '  Showed first ') + String(this.maxRows) + '.\n';
    }
    return out;
  }

  /**
   * SquashingTransform::add with min_block_size_rows = output_format_pretty_max_rows and no byte
   * limit: blocks are glued together until there are at least that many rows.
   */
  private squash(rows: readonly Row[]): string {
    const enough = (n: number): boolean => this.maxRows === 0 || n >= this.maxRows;
    const acc = this.accumulated;
    if (enough(rows.length)) {
      if (acc === undefined || acc.length === 0) return this.write(rows);
      this.accumulated = rows.slice();
      return this.write(acc);
    }
    if (acc !== undefined && acc.length > 0 && enough(acc.length)) {
      this.accumulated = rows.slice();
      return this.write(acc);
    }
    const merged = (acc ?? []).concat(rows);
    if (enough(merged.length)) {
      this.accumulated = undefined;
      return this.write(merged);
    }
    this.accumulated = merged;
    return '';
  }

  private calculateWidths(rows: readonly Row[]): Widths {
    const cells: string[][] = [];
    const widths: number[][] = [];
    const maxWidths: number[] = [];
    const nameWidths: number[] = [];
    this.columns.forEach((col, i) => {
      const colCells: string[] = [];
      const colWidths: number[] = [];
      let max = 0;
      for (const row of rows) {
        const text = terminalSafe(textCell(row[i] ?? null, col.type));
        const w = Math.min(this.padWidth, codePointCount(text));
        colCells.push(text);
        colWidths.push(w);
        if (w > max) max = w;
      }
      const nameWidth = Math.min(this.padWidth, codePointCount(this.names[i] ?? ''));
      if (nameWidth > max) max = nameWidth;
      cells.push(colCells);
      widths.push(colWidths);
      maxWidths.push(max);
      nameWidths.push(nameWidth);
    });
    return { cells, widths, maxWidths, nameWidths };
  }

  /** PrettyBlockOutputStream::writeValueWithPadding. */
  private cell(w: Widths, col: number, row: number): string {
    const text = w.cells[col]?.[row] ?? '';
    const pad = repeat(' ', (w.maxWidths[col] ?? 0) - (w.widths[col]?.[row] ?? 0));
    const column = this.columns[col];
    return column !== undefined && alignsRight(column.type) ? pad + text : text + pad;
  }

  private name(w: Widths, col: number, fill: string): string {
    const column = this.columns[col];
    const name = this.names[col];
    if (column === undefined || name === undefined) return '';
    const pad = repeat(fill, (w.maxWidths[col] ?? 0) - (w.nameWidths[col] ?? 0));
    return alignsRight(column.type) ? pad + name : name + pad;
  }

  private write(rows: readonly Row[]): string {
    if (this.totalRows >= this.maxRows) {
      this.totalRows += rows.length;
      return '';
    }
    const w = this.calculateWidths(rows);
    const shown = Math.max(0, Math.min(rows.length, this.maxRows - this.totalRows));
    let out: string;
    switch (this.style) {
      case 'Pretty':
        out = this.writePretty(w, shown);
        break;
      case 'PrettyCompact':
        out = this.writeCompact(w, shown);
        break;
      case 'PrettySpace':
        out = this.writeSpace(w, shown);
        break;
    }
    this.totalRows += rows.length;
    return out;
  }

  private separator(w: Widths, left: string, middle: string, fill: string, right: string): string {
    return left + w.maxWidths.map((m) => repeat(fill, m + 2)).join(middle) + right + '\n';
  }

  private valuesLine(w: Widths, row: number): string {
    return '│ ' + this.columns.map((_c, j) => this.cell(w, j, row)).join(' │ ') + ' │\n';
  }

  private writePretty(w: Widths, shown: number): string {
    let out = this.separator(w, '┏', '┳', '━', '┓');
    out += '┃ ' + this.columns.map((_c, i) => this.name(w, i, ' ')).join(' ┃ ') + ' ┃\n';
    out += this.separator(w, '┡', '╇', '━', '┩');
    const between = this.separator(w, '├', '┼', '─', '┤');
    for (let i = 0; i < shown; i++) {
      if (i !== 0) out += between;
      out += this.valuesLine(w, i);
    }
    out += this.separator(w, '└', '┴', '─', '┘');
    return out;
  }

  private writeCompact(w: Widths, shown: number): string {
    let out = '┌─' + this.columns.map((_c, i) => this.name(w, i, '─')).join('─┬─') + '─┐\n';
    for (let i = 0; i < shown; i++) out += this.valuesLine(w, i);
    out += this.separator(w, '└', '┴', '─', '┘');
    return out;
  }

  private writeSpace(w: Widths, shown: number): string {
    let out = this.columns.map((_c, i) => this.name(w, i, ' ')).join('   ') + '\n\n';
    for (let i = 0; i < shown; i++) {
      out += this.columns.map((_c, j) => this.cell(w, j, i)).join('   ') + '\n';
    }
    return out;
  }
}
