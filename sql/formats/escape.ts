/**
 * String escaping exactly as ClickHouse 18.16 writes it (dbms/src/IO/WriteHelpers.h).
 *
 * All functions work on JS strings; "bytes" in the ClickHouse sources are UTF-8 bytes, and every
 * character these functions look at is ASCII, so working on UTF-16 code units gives the same
 * UTF-8 output once the result is encoded.
 */

/**
 * writeAnyEscapedString<quote>: escapes \b \f \n \r \t \0 and backslash as C escapes, and the
 * quote character with a backslash. Everything else (including other control characters and
 * non-ASCII) is written as is.
 */
export function escapeAny(s: string, quote: string): string {
  const q = quote.charCodeAt(0);
  return replaceChars(s, (c) => C_ESCAPES[c] ?? (c === q ? '\\' + quote : undefined));
}

/** The C escapes both writeAnyEscapedString and writeJSONString use. */
const C_ESCAPES: Readonly<Record<number, string>> = {
  0x08: '\\b',
  0x0c: '\\f',
  0x0a: '\\n',
  0x0d: '\\r',
  0x09: '\\t',
  0x00: '\\0',
  0x5c: '\\\\',
};

/** Rewrites the characters `escape` has a replacement for, copying runs in between. */
function replaceChars(s: string, escape: (code: number) => string | undefined): string {
  let out = '';
  let from = 0;
  for (let i = 0; i < s.length; i++) {
    const rep = escape(s.charCodeAt(i));
    if (rep !== undefined) {
      out += s.slice(from, i) + rep;
      from = i + 1;
    }
  }
  return from === 0 ? s : out + s.slice(from);
}

/** writeEscapedString: TabSeparated escaping (the quote character is the single quote). */
export function escapeTsv(s: string): string {
  return escapeAny(s, "'");
}

/** writeQuotedString: '…' with TabSeparated escaping inside (Values format, SQL literals). */
export function quoteSql(s: string): string {
  return "'" + escapeAny(s, "'") + "'";
}

/** writeCSVString<'"'>: always in double quotes; a double quote inside is doubled. Nothing else changes. */
export function quoteCsv(s: string): string {
  return '"' + s.replace(/"/g, '""') + '"';
}

const HEX_UPPER = '0123456789ABCDEF';

/**
 * writeJSONString with ClickHouse's defaults (output_format_json_escape_forward_slashes = 1):
 * double quotes; \b \f \n \r \t \\ \" and \/ escapes; other bytes 0x00–0x1F as \u00XX with
 * upper-case hex; U+2028 and U+2029 as \u2028 / \u2029; everything else (DEL, non-ASCII) as is.
 */
export function jsonString(s: string): string {
  return '"' + replaceChars(s, jsonEscape) + '"';
}

const JSON_ESCAPES: Readonly<Record<number, string>> = {
  ...C_ESCAPES,
  0x00: '\\u0000',
  0x2f: '\\/',
  0x22: '\\"',
  0x2028: '\\u2028',
  0x2029: '\\u2029',
};

function jsonEscape(c: number): string | undefined {
  const rep = JSON_ESCAPES[c];
  if (rep !== undefined) return rep;
  return c <= 0x1f ? '\\u00' + HEX_UPPER.charAt(c >> 4) + HEX_UPPER.charAt(c & 0xf) : undefined;
}

/**
 * UTF8::countCodePoints: the number of code points (ClickHouse's "visible width" in Pretty and
 * Vertical formats, a rough approximation it does not refine).
 */
export function codePointCount(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    // A surrogate pair is one code point (one 4-byte UTF-8 sequence).
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
    n++;
  }
  return n;
}
