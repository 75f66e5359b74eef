/**
 * Text for an operator's terminal. A workload chooses its own query text, user and query id;
 * written raw, `\x1b[2J` clears the operator's screen, OSC sequences retitle the window or plant
 * links, `\r` overwrites what a row said, and a bidi override (U+202E) reverses it. The human
 * formats (Pretty*, Vertical, the mariadb table, the CLI's error and warning lines) pass every value and
 * column name through terminalSafe(); the machine formats keep their exact bytes.
 *
 * C0 controls (except tab and line feed, which keep ClickHouse's bytes) and DEL become Unicode
 * Control Pictures (U+2400–U+2421: ␛ ␇ ␍ ␀ ␡), as ClickHouse's own proposal for Pretty and
 * Vertical does (ClickHouse PR #101774): one code point each, so column widths stay right, and
 * unlike a `\x1b` escape they cannot be mistaken for text a workload really wrote. C1 controls,
 * bidi controls and invisible zero-width characters have no picture; they become `<U+XXXX>`.
 * ZWJ and ZWNJ (U+200C, U+200D) stay: scripts and emoji need them and they move no text.
 */

/** Characters with no picture that a terminal acts on or hides: C1, bidi controls, zero-width, separators. */
const NAMED = /[\u0080-\u009f\u061c\u200b\u200e\u200f\u2028-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/;
const UNSAFE = new RegExp(`[\\u0000-\\u0008\\u000b-\\u001f\\u007f]|${NAMED.source}`, 'g');

function picture(ch: string): string {
  const c = ch.charCodeAt(0);
  if (c < 0x20) return String.fromCharCode(0x2400 + c);
  if (c === 0x7f) return '\u2421';
  return `<U+${c.toString(16).toUpperCase().padStart(4, '0')}>`;
}

/** `s` with every character that could drive or deceive a terminal shown visibly instead. */
export function terminalSafe(s: string): string {
  return s.replace(UNSAFE, picture);
}

