import type { Column, SqlValue } from '../sql/types';
import { isNumericType } from '../sql/types';
import { codePointCount } from '../sql/formats/escape';
import { terminalSafe } from '../sql/formats/terminal-safe';

/** A cell as the mariadb client shows it: NULL in words, decimals with three places; control characters visible. */
function cell(v: SqlValue, c: Column): string {
  if (v === null) return 'NULL';
  if (typeof v === 'number' && c.type === 'Float64') return v.toFixed(3);
  return terminalSafe(String(v));
}

/** The mariadb client's boxed table (`+----+` borders, numbers right-aligned). */
export function mariadbTable(columns: readonly Column[], rows: readonly (readonly SqlValue[])[]): string {
  const names = columns.map((c) => terminalSafe(c.name));
  const text = rows.map((r) => columns.map((c, i) => cell(r[i] ?? null, c)));
  const widths = names.map((name, i) => Math.max(codePointCount(name), ...text.map((r) => codePointCount(r[i] ?? ''))));
  const pad = (s: string, i: number, right: boolean): string => {
    const fill = ' '.repeat((widths[i] ?? 0) - codePointCount(s));
    return right ? fill + s : s + fill;
  };
  const line = `+${widths.map((w) => '-'.repeat(w + 2)).join('+')}+\n`;
  const row = (cells: string[], header: boolean): string =>
    `| ${cells.map((s, i) => pad(s, i, !header && isNumericType(columns[i]?.type ?? 'String'))).join(' | ')} |\n`;
  return line + row(names, true) + line + text.map((r) => row(r, false)).join('') + line;
}

/** The summary line the mariadb client prints after a statement. */
export function mariadbSummary(columns: number, rows: number, affected: number, seconds: number): string {
  const took = `(${seconds.toFixed(3)} sec)`;
  if (columns === 0) return `Query OK, ${affected} ${affected === 1 ? 'row' : 'rows'} affected ${took}\n`;
  if (rows === 0) return `Empty set ${took}\n`;
  return `${rows} ${rows === 1 ? 'row' : 'rows'} in set ${took}\n`;
}
