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
  let out = '';
  let from = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    let rep: string | undefined;
    switch (c) {
      case 0x08:
        rep = '\\b';
        break;
      case 0x0c:
        rep = '\\f';
        break;
      case 0x0a:
        rep = '\\n';
        break;
      case 0x0d:
        rep = '\\r';
        break;
      case 0x09:
        rep = '\\t';
        break;
      case 0x00:
        rep = '\\0';
        break;
      case 0x5c:
        rep = '\\\\';
        break;
      default:
        if (s[i] === quote) rep = '\\' + quote;
    }
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
  let out = '"';
  let from = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    let rep: string | undefined;
    switch (c) {
      case 0x08:
        rep = '\\b';
        break;
      case 0x0c:
        rep = '\\f';
        break;
      case 0x0a:
        rep = '\\n';
        break;
      case 0x0d:
        rep = '\\r';
        break;
      case 0x09:
        rep = '\\t';
        break;
      case 0x5c:
        rep = '\\\\';
        break;
      case 0x2f:
        rep = '\\/';
        break;
      case 0x22:
        rep = '\\"';
        break;
      case 0x2028:
        rep = '\\u2028';
        break;
      case 0x2029:
        rep = '\\u2029';
        break;
      default:
        if (c <= 0x1f) rep = '\\u00' + HEX_UPPER.charAt(c >> 4) + HEX_UPPER.charAt(c & 0xf);
    }
    if (rep !== undefined) {
      out += s.slice(from, i) + rep;
      from = i + 1;
    }
  }
  return out + s.slice(from) + '"';
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
