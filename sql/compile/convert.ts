import { formatDateTime, formatFloat, formatInt } from '../formats/values';
import type { ColumnType } from '../types';

/** Value conversion between text and typed values, as toString, toInt64 and DateTime use it. */

/** 'YYYY-MM-DD[ hh:mm:ss]' (local time) or unix seconds; undefined if it is neither. */
export function parseDateTime(s: string): number | undefined {
  if (/^\d{1,10}$/.test(s)) return Number(s);
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2}):(\d{2}))?$/.exec(s);
  if (!m) return undefined;
  const [y, mo, d, h, mi, se] = m.slice(1).map((x) => Number(x ?? 0)) as [number, number, number, number, number, number];
  const date = new Date(y, mo - 1, d, h, mi, se);
  if (date.getFullYear() !== y || date.getMonth() !== mo - 1 || date.getDate() !== d || h > 23 || mi > 59 || se > 59) {
    return undefined;
  }
  return Math.floor(date.getTime() / 1000);
}

/** toString() of a value: the same text the formats print for it. */
export function valueToString(v: string | number, type: ColumnType): string {
  if (typeof v === 'string') return v;
  if (type === 'DateTime') return formatDateTime(v);
  if (type === 'Float64') return formatFloat(v);
  return formatInt(v);
}

const INT_TEXT = /^[+-]?\d+$/;
const FLOAT_TEXT = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$|^[+-]?(?:inf|nan)$/i;

export function parseIntText(s: string): number | undefined {
  return INT_TEXT.test(s) ? Number(s) : undefined;
}

export function parseFloatText(s: string): number | undefined {
  if (!FLOAT_TEXT.test(s)) return undefined;
  const l = s.toLowerCase();
  if (l.endsWith('inf')) return l.startsWith('-') ? -Infinity : Infinity;
  if (l.endsWith('nan')) return NaN;
  return Number(s);
}
