/** Byte-semantics string helpers: ClickHouse strings are bytes, JS strings are UTF-16. */

export const NON_ASCII = /[^\x00-\x7f]/;

export const isHigh = (c: number): boolean => c >= 0xd800 && c <= 0xdbff;
export const isLow = (c: number): boolean => c >= 0xdc00 && c <= 0xdfff;

/** UTF-8 byte length of s[0, end). */
export function utf8Length(s: string, end = s.length): number {
  let n = end;
  for (let i = 0; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) n += 1;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < end && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 2; // a surrogate pair is 4 bytes for 2 UTF-16 units
      i++;
    } else n += 2;
  }
  return n;
}

/** ClickHouse lower/upper touch only ASCII letters. */
export function asciiLower(s: string): string {
  if (!NON_ASCII.test(s)) return s.toLowerCase();
  return s.replace(/[A-Z]+/g, (m) => m.toLowerCase());
}

export function asciiUpper(s: string): string {
  if (!NON_ASCII.test(s)) return s.toUpperCase();
  return s.replace(/[a-z]+/g, (m) => m.toUpperCase());
}

/** substring(s, offset, length) over bytes, 1-based, negative offset/length count from the end. */
export function byteSubstring(s: string, offset: number, length: number | undefined): string {
  const ascii = !NON_ASCII.test(s);
  const bytes = ascii ? undefined : Buffer.from(s, 'utf8');
  const len = bytes ? bytes.length : s.length;
  if (offset === 0) return '';
  const start = offset > 0 ? offset - 1 : len + offset;
  const end = length === undefined ? len : length >= 0 ? start + length : len + length;
  const from = Math.max(start, 0);
  const to = Math.min(end, len);
  if (to <= from) return '';
  return bytes ? bytes.toString('utf8', from, to) : s.slice(from, to);
}

/** 1-based byte position of needle in haystack, 0 when absent. */
export function bytePosition(haystack: string, needle: string): number {
  const i = haystack.indexOf(needle);
  if (i <= 0) return i + 1;
  return NON_ASCII.test(haystack) ? utf8Length(haystack, i) + 1 : i + 1;
}
