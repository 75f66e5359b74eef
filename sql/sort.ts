import type { SqlValue } from './types';

/**
 * ClickHouse order: NULLs last in both directions; numbers numerically, strings bytewise. UTF-16
 * code-unit order is UTF-8 byte order except between astral characters and U+E000–U+FFFF,
 * which process tables do not sort on; it saves two buffers per comparison.
 */
export function compareValues(a: SqlValue, b: SqlValue): number {
  if (a === b) return 0;
  if (a === null) return 1;
  if (b === null) return -1;
  if (typeof a === 'number' && typeof b === 'number') return a < b ? -1 : a > b ? 1 : 0;
  const sa = String(a);
  const sb = String(b);
  return sa < sb ? -1 : sa > sb ? 1 : 0;
}

export function compareRows(a: readonly SqlValue[], b: readonly SqlValue[], keys: readonly { index: number; desc: boolean }[]): number {
  for (const k of keys) {
    const x = a[k.index] ?? null;
    const y = b[k.index] ?? null;
    if (x === null || y === null) {
      const c = compareValues(x, y);
      if (c !== 0) return c;
      continue;
    }
    const c = compareValues(x, y);
    if (c !== 0) return k.desc ? -c : c;
  }
  return 0;
}
